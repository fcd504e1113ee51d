"""Bybit v5 dialect of the sandbox, over real HTTP: stock ccxt, pybit and raw signed requests. What every dialect
does is DialectContract's (tests/sandbox/contract.py); this file holds what only Bybit does."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import ccxt
import httpx
import pytest
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from cexlink.sandbox.app import make_context
from cexlink.sandbox.bybit import sign
from cexlink.sandbox.clients import ccxt_client
from cexlink.sandbox.records import ApiKey
from cexlink.sandbox.server import SandboxServer
from tests.sandbox.contract import DialectContract, load_vectors
from tests.support.sandbox import GENEROUS, limits

VECTORS = load_vectors("bybit")["vectors"]


def signed(base: str, key: dict[str, Any], method: str, path: str, query: str = "", body: bytes = b"",
           ts: int | None = None, recv: str = "5000", source_ip: str | None = None,
           drop: tuple[str, ...] = ()) -> httpx.Response:
    """A request signed exactly as Bybit documents, with the raw query/body it signs."""
    stamp = str(ts if ts is not None else int(time.time() * 1000))
    payload = query.encode() if method == "GET" else body
    headers = {"X-BAPI-API-KEY": key["api_key"], "X-BAPI-TIMESTAMP": stamp, "X-BAPI-RECV-WINDOW": recv,
               "X-BAPI-SIGN": sign(key["secret"], stamp, key["api_key"], recv, payload),
               "Content-Type": "application/json"}
    for name in drop:
        headers.pop(name)
    transport = httpx.HTTPTransport(local_address=source_ip) if source_ip else None
    with httpx.Client(transport=transport, timeout=10) as client:
        url = f"{base}{path}" + (f"?{query}" if query else "")
        return client.request(method, url, headers=headers, content=body or None)


@pytest.fixture
def bybit_key(new_key: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return new_key("bybit")


@pytest.fixture
def ex(sandbox: SandboxServer, bybit_key: dict[str, Any]) -> Any:
    return ccxt_client("bybit", sandbox.url, bybit_key)


def balance(ex: Any, asset: str) -> dict[str, float]:
    return ex.fetch_balance()[asset]


# ---- 1. stock ccxt: the whole spot flow ----

def test_ccxt_load_markets_only_spot(ex: Any) -> None:
    markets = ex.load_markets()
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ETH/BTC"}
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["amount"]["min"] == 0.00001 and btc["limits"]["cost"]["min"] == 5
    assert "USDT" in ex.currencies
    assert abs(ex.fetch_time() - time.time() * 1000) < 5000


def test_ccxt_order_lifecycle_bybit_views(ex: Any, admin: httpx.Client) -> None:
    """Bybit's own parts of the happy path (the rest is DialectContract's): the unified account's balance shape,
    numeric order ids, the single-order and the canceled-and-closed views."""
    admin.post("/prices", json={"symbol": "BTCUSDT", "price": "67000"})
    start = balance(ex, "USDT")
    assert start == {"free": 100000.0, "used": 0.0, "total": 100000.0, "debt": 0.0}
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 50000, {"clientOrderId": "my-bybit-1"})
    assert order["id"].isdigit() and order["clientOrderId"] == "my-bybit-1"
    assert ex.fetch_open_order(order["id"], "BTC/USDT")["clientOrderId"] == "my-bybit-1"
    assert ex.cancel_order(order["id"], "BTC/USDT")["id"] == order["id"]
    assert ex.fetch_canceled_and_closed_orders("BTC/USDT")[0]["id"] == order["id"]
    assert balance(ex, "USDT") == start


def test_ccxt_market_orders_fill_and_trades(ex: Any, admin: httpx.Client) -> None:
    admin.post("/prices", json={"symbol": "ETHUSDT", "price": "3500"})
    admin.post("/walk", json={"volatility": "0"})
    try:
        buy = ex.create_order("ETH/USDT", "market", "buy", 0.5)  # marketUnit=baseCoin
        filled = ex.fetch_order(buy["id"], "ETH/USDT", {"acknowledged": True})
        assert filled["status"] == "closed" and filled["filled"] == 0.5 and filled["cost"] == 1750
        assert filled["fee"] == {"cost": 0.0005, "currency": "ETH"}
        # amount + price: ccxt sends the cost and Bybit sizes the market buy in quote (marketUnit default).
        by_cost = ex.create_order("ETH/USDT", "market", "buy", 1, 3500)
        closed = ex.fetch_closed_order(by_cost["id"], "ETH/USDT")
        assert closed["info"]["qty"] == "3500" and closed["filled"] == 1 and closed["cost"] == 3500
        sell = ex.create_order("ETH/USDT", "market", "sell", 1)
        assert ex.fetch_closed_order(sell["id"], "ETH/USDT")["average"] == 3500

        trades = ex.fetch_my_trades("ETH/USDT")
        assert sorted(t["order"] for t in trades) == sorted([buy["id"], by_cost["id"], sell["id"]])
        sold = next(t for t in trades if t["order"] == sell["id"])
        assert sold["side"] == "sell" and sold["amount"] == 1 and sold["price"] == 3500
        assert sold["fee"]["currency"] == "USDT" and sold["fee"]["cost"] == 3.5 and sold["takerOrMaker"] == "taker"
        eth = balance(ex, "ETH")
        assert eth["total"] == pytest.approx(20 + 0.5 * 0.999 + 1 * 0.999 - 1)
        assert balance(ex, "USDT")["total"] == pytest.approx(100000 - 1750 - 3500 + 3500 * 0.999)
    finally:
        admin.post("/walk", json={"volatility": "0.0005"})


def test_resting_limit_order_fills_when_price_crosses(ex: Any, admin: httpx.Client) -> None:
    admin.post("/prices", json={"symbol": "SOLUSDT", "price": "150"})
    order = ex.create_order("SOL/USDT", "limit", "buy", 2, 140)
    try:
        admin.post("/prices", json={"symbol": "SOLUSDT", "price": "139"})
        done = ex.fetch_order(order["id"], "SOL/USDT", {"acknowledged": True})
    finally:
        admin.post("/prices", json={"symbol": "SOLUSDT", "price": "150"})  # prices are shared by all dialects
    assert done["status"] == "closed" and done["average"] == 140 and done["filled"] == 2
    assert ex.fetch_my_trades("SOL/USDT")[0]["takerOrMaker"] == "maker"


def test_query_api_reports_key_state(sandbox: SandboxServer, new_key: Callable[..., dict[str, Any]]) -> None:
    key = new_key("bybit", label="bot")
    info = ccxt_client("bybit", sandbox.url, key).private_get_v5_user_query_api()["result"]
    assert info["apiKey"] == key["api_key"] and info["note"] == "bot" and info["secret"] == ""
    assert info["readOnly"] == 0 and info["permissions"]["Spot"] == ["SpotTrade"]
    assert info["permissions"]["Wallet"] == [] and info["ips"] == ["*"] and info["type"] == 1
    assert info["deadlineDay"] in (89, 90) and info["expiredAt"].endswith("Z") and info["uta"] == 1
    assert info["userID"] == int(key["uid"]) and info["isMaster"] is True and info["parentUid"] == "0"

    sub = new_key("bybit", sub_account=True, permissions=["read"], ips=["127.0.0.1"])
    sub_info = ccxt_client("bybit", sandbox.url, sub).private_get_v5_user_query_api()["result"]
    assert sub_info["readOnly"] == 1 and sub_info["ips"] == ["127.0.0.1"] and sub_info["isMaster"] is False
    assert sub_info["parentUid"] != "0" and sub_info["expiredAt"] == "" and sub_info["deadlineDay"] == 0


# ---- 2. every refusal: the ccxt class and the exact code ----

def raises(exc: type[Exception], code: int, fn: Callable[[], Any]) -> str:
    with pytest.raises(exc) as info:
        fn()
    assert f'"retCode":{code},' in str(info.value), str(info.value)
    return str(info.value)


def test_missing_headers(sandbox: SandboxServer, ex: Any, bybit_key: dict[str, Any]) -> None:
    raises(ccxt.AuthenticationError, 10007,
           lambda: ex.fetch(sandbox.url + "/v5/account/info", "GET", {"X-BAPI-API-KEY": bybit_key["api_key"]}))
    r = signed(sandbox.url, bybit_key, "GET", "/v5/account/info", drop=("X-BAPI-SIGN",))
    assert r.status_code == 401 and r.json()["retCode"] == 10007


def test_timestamp_outside_window(sandbox: SandboxServer, ex: Any, bybit_key: dict[str, Any]) -> None:
    ex.options["timeDifference"] = 6000  # our clock 6 s behind: outside the 5000 ms window
    raises(ccxt.InvalidNonce, 10002, ex.fetch_balance)
    now = int(time.time() * 1000)
    assert signed(sandbox.url, bybit_key, "GET", "/v5/account/info", ts=now + 1500).json()["retCode"] == 10002
    assert signed(sandbox.url, bybit_key, "GET", "/v5/account/info", ts=now - 8000, recv="10000").json()[
        "retCode"] == 0


def test_permission_denied_for_read_only_key(sandbox: SandboxServer, new_key: Callable[..., Any]) -> None:
    ro = ccxt_client("bybit", sandbox.url, new_key("bybit", permissions=["read"]))
    assert ro.fetch_balance()["USDT"]["total"] == 100000
    raises(ccxt.PermissionDenied, 10005, lambda: ro.create_order("BTC/USDT", "limit", "buy", 0.01, 50000))


@pytest.mark.parametrize(("flag", "exc", "code", "status"), [
    ("suspended", ccxt.AccountSuspended, 10008, 200),
    ("region_restricted", ccxt.AuthenticationError, 10009, 403),  # ccxt maps "IP has been banned" so
    ("kyc_required", ccxt.PermissionDenied, 10024, 200),
])
def test_account_flags(sandbox: SandboxServer, admin: httpx.Client, new_key: Callable[..., Any], flag: str,
                       exc: type[Exception], code: int, status: int) -> None:
    key = new_key("bybit")
    client = ccxt_client("bybit", sandbox.url, key)
    client.load_markets()
    admin.patch(f"/accounts/bybit/{key['uid']}", json={flag: True})
    raises(exc, code, lambda: client.create_order("BTC/USDT", "limit", "buy", 0.01, 50000))
    body = json.dumps({"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
                       "qty": "0.01", "price": "50000"}).encode()
    assert signed(sandbox.url, key, "POST", "/v5/order/create", body=body).status_code == status


def test_order_refusals(ex: Any, admin: httpx.Client) -> None:
    admin.post("/prices", json={"symbol": "BTCUSDT", "price": "67000"})
    raises(ccxt.InsufficientFunds, 170131, lambda: ex.create_order("BTC/USDT", "limit", "buy", 5, 60000))
    raises(ccxt.OrderNotFound, 170213, lambda: ex.cancel_order("999999999", "BTC/USDT"))
    create = ex.private_post_v5_order_create
    base = {"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "price": "50000"}
    raises(ccxt.InvalidOrder, 170121, lambda: create({**base, "symbol": "DOGEUSDT", "qty": "1"}))
    raises(ccxt.InvalidOrder, 170137, lambda: create({**base, "qty": "0.000001"}))
    raises(ccxt.InvalidOrder, 170136, lambda: create({**base, "qty": "0"}))
    raises(ccxt.InvalidOrder, 170135, lambda: create({**base, "qty": "9001"}))
    raises(ccxt.InvalidOrder, 170140, lambda: create({**base, "qty": "0.00001"}))
    raises(ccxt.InvalidOrder, 170134, lambda: create({**base, "qty": "0.01", "price": "50000.001"}))
    raises(ccxt.InvalidOrder, 170148, lambda: create({**base, "orderType": "Market", "qty": "10.000000001"}))
    raises(ccxt.InvalidOrder, 170218, lambda: create({**base, "qty": "0.01", "price": "70000",
                                                      "timeInForce": "PostOnly"}))
    create({**base, "qty": "0.01", "orderLinkId": "dup-1"})
    raises(ccxt.InvalidOrder, 170141, lambda: create({**base, "qty": "0.01", "orderLinkId": "dup-1"}))
    raises(ccxt.BadSymbol, 10001, lambda: ex.public_get_v5_market_tickers({"category": "spot", "symbol": "X"}))


def test_rate_limit(sandbox: SandboxServer, admin: httpx.Client, bybit_key: dict[str, Any], ex: Any) -> None:
    ok = signed(sandbox.url, bybit_key, "GET", "/v5/account/info")
    assert int(ok.headers["X-Bapi-Limit"]) == GENEROUS and int(ok.headers["X-Bapi-Limit-Status"]) < GENEROUS
    assert int(ok.headers["X-Bapi-Limit-Reset-Timestamp"]) > time.time() * 1000
    with limits(admin, "bybit", weight_per_window=2):
        ex.private_get_v5_account_info()
        ex.private_get_v5_account_info()
        raises(ccxt.RateLimitExceeded, 10006, ex.private_get_v5_account_info)
        r = signed(sandbox.url, bybit_key, "GET", "/v5/account/info")
        assert r.status_code == 200 and r.json()["retCode"] == 10006
        assert r.headers["X-Bapi-Limit-Status"] == "0" and r.headers["X-Bapi-Limit"] == "2"
        assert int(r.headers["X-Bapi-Limit-Reset-Timestamp"]) > time.time() * 1000
        admin.post("/limits", json={"exchange": "bybit", "weight_per_window": 1, "ban_after": 1})
        for _ in range(2):
            signed(sandbox.url, bybit_key, "GET", "/v5/account/info")
        banned = signed(sandbox.url, bybit_key, "GET", "/v5/account/info")
        assert banned.status_code == 403 and banned.json()["retCode"] == 10018
        raises(ccxt.RateLimitExceeded, 10018, ex.private_get_v5_account_info)
    assert ex.private_get_v5_account_info()["retCode"] == 0


def test_unknown_route(sandbox: SandboxServer, ex: Any) -> None:
    raises(ccxt.BadRequest, 10017, lambda: ex.fetch(sandbox.url + "/v5/no/such/path", "GET"))
    r = httpx.post(sandbox.url + "/v5/market/time")
    assert r.status_code == 404 and r.json()["retCode"] == 10017


# ---- 3. pybit ----

def pybit_session(sandbox: SandboxServer, key: dict[str, Any]) -> HTTP:
    session = HTTP(api_key=key["api_key"], api_secret=key["secret"], max_retries=1)
    session.endpoint = sandbox.url
    return session


def test_pybit_balance_place_and_cancel(sandbox: SandboxServer, bybit_key: dict[str, Any]) -> None:
    session = pybit_session(sandbox, bybit_key)
    wallet = session.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    coins = {c["coin"]: c for c in wallet["coin"]}
    assert coins["USDT"]["walletBalance"] == "100000" and coins["BTC"]["walletBalance"] == "2"
    placed = session.place_order(category="spot", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01",
                                 price="40000", orderLinkId="pybit-1")
    assert placed["retCode"] == 0 and placed["result"]["orderLinkId"] == "pybit-1"
    order_id = placed["result"]["orderId"]
    live = session.get_open_orders(category="spot", symbol="BTCUSDT")["result"]["list"]
    assert [o["orderId"] for o in live] == [order_id] and live[0]["orderStatus"] == "New"
    locked = session.get_wallet_balance(accountType="UNIFIED", coin="USDT")["result"]["list"][0]["coin"][0]
    assert locked["locked"] == "400"
    assert session.cancel_order(category="spot", symbol="BTCUSDT", orderId=order_id)["result"]["orderId"] == order_id
    assert session.get_open_orders(category="spot", symbol="BTCUSDT")["result"]["list"] == []
    history = session.get_order_history(category="spot", orderId=order_id)["result"]["list"]
    assert history[0]["orderStatus"] == "Cancelled"


def test_pybit_errors(sandbox: SandboxServer, bybit_key: dict[str, Any]) -> None:
    session = pybit_session(sandbox, bybit_key)
    with pytest.raises(InvalidRequestError) as info:
        session.place_order(category="spot", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="10",
                            price="60000")
    assert info.value.status_code == 170131 and info.value.message == "Insufficient balance."
    with pytest.raises(FailedRequestError) as failed:
        pybit_session(sandbox, {"api_key": "NoSuchKey123456789", "secret": "x"}).get_account_info()
    assert failed.value.status_code == 401


# ---- 4. the vectors on the wire ----

@pytest.fixture(scope="module")
def frozen() -> Iterator[SandboxServer]:
    """A second sandbox whose clock stands at the vectors' timestamp, holding the vectors' key."""
    ctx = make_context(clock=lambda: 1_700_000_000.2)
    server = SandboxServer(ctx=ctx).start()
    ctx.ledger.create_account("bybit", uid="100000001", balances={"USDT": Decimal(100000)})
    ctx.ledger.keys[("bybit", "bybit-key")] = ApiKey("bybit", "bybit-key", "bybit-secret", "100000001",
                                                     {"readOnly": 0, "permissions": {"Spot": ["SpotTrade"]}})
    yield server
    server.stop()


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vectors_accepted_and_tampering_refused(frozen: SandboxServer, vector: dict[str, str]) -> None:
    def send(payload: str) -> httpx.Response:
        headers = {"X-BAPI-API-KEY": vector["api_key"], "X-BAPI-TIMESTAMP": vector["timestamp"],
                   "X-BAPI-RECV-WINDOW": vector["recv_window"], "X-BAPI-SIGN": vector["signature"]}
        if vector["method"] == "GET":
            return httpx.get(f"{frozen.url}{vector['path']}?{payload}", headers=headers)
        return httpx.post(frozen.url + vector["path"], headers=headers, content=payload.encode())

    payload = vector["query"] or vector["body"]
    assert send(payload).json()["retCode"] == 0
    tampered = send(payload.replace("BTCUSDT", "ETHUSDT"))
    assert tampered.status_code == 200 and tampered.json()["retCode"] == 10004
    spaced = send(payload.replace(",", ", "))  # same JSON, other bytes: the signature is over bytes
    assert spaced.json()["retCode"] == (0 if vector["method"] == "GET" else 10004)


# ---- 5. malformed input: Bybit's envelope, never a 500 ----

@pytest.mark.parametrize(("body", "code", "msg"), [
    (b"not json", 10001, "params error: body invalid"),
    (b"[1, 2]", 10001, "params error: body invalid"),
    (b'{"category":"spot","side":"Buy","orderType":"Limit","qty":"1","price":"1"}', 10001,
     "params error: symbol is required"),
    (b'{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"abc","price":"1"}', 10001,
     "params error: qty invalid"),
    (b'{"category":"spot","symbol":"BTCUSDT","side":"Up","orderType":"Limit","qty":"1","price":"1"}', 10001,
     "params error: side invalid"),
    (b'{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"NaN","price":"1"}', 10001,
     "params error: qty invalid"),
    (b'{"symbol":"BTCUSDT"}', 10001, "params error: category is required"),
])
def test_malformed_order_bodies(sandbox: SandboxServer, bybit_key: dict[str, Any], body: bytes, code: int,
                                msg: str) -> None:
    r = signed(sandbox.url, bybit_key, "POST", "/v5/order/create", body=body)
    assert r.status_code == 200
    assert r.json() == {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": r.json()["time"]}


@pytest.mark.parametrize("query", ["category=spot&limit=abc", "category=spot&startTime=x", "category=futures",
                                   "category=spot&orderId=%ZZ", ""])
def test_malformed_queries(sandbox: SandboxServer, bybit_key: dict[str, Any], query: str) -> None:
    path = "/v5/execution/list" if "startTime" in query else "/v5/order/realtime"
    r = signed(sandbox.url, bybit_key, "GET", path, query=query)
    assert r.status_code == 200 and r.json()["retCode"] in (10001, 0) and set(r.json()) >= {"retCode", "retMsg"}


def test_odd_bytes_in_headers_and_body(sandbox: SandboxServer, bybit_key: dict[str, Any]) -> None:
    stamp = str(int(time.time() * 1000))
    headers = {"X-BAPI-API-KEY": bybit_key["api_key"], "X-BAPI-TIMESTAMP": stamp, "X-BAPI-SIGN": "é" * 64}
    r = httpx.get(sandbox.url + "/v5/account/info", headers={k: v.encode("latin-1") for k, v in headers.items()})
    assert r.status_code == 200 and r.json()["retCode"] == 10004
    r = signed(sandbox.url, bybit_key, "POST", "/v5/order/create", body=b'{"category":"\xff\xfe"}')
    assert r.status_code == 200 and r.json()["retCode"] == 10001
    r = signed(sandbox.url, bybit_key, "GET", "/v5/account/info", ts=0, recv="abc")
    assert r.status_code == 200 and r.json()["retCode"] == 10002


# ---- the contract every dialect meets ----


class TestBybitContract(DialectContract):
    EXCHANGE = "bybit"
    CODE_FIELD, MESSAGE_FIELD = "retCode", "retMsg"
    FETCH_ORDER_PARAMS = {"acknowledged": True}  # ccxt's fetch_order sees only the last 500 orders on Bybit
    REFUSALS = {  # Bybit answers most refusals with HTTP 200; an unknown key gets 401
        "wrong_secret": (ccxt.AuthenticationError, 10004, 200, "error sign! origin_string["),
        "unknown_key": (ccxt.AuthenticationError, 10003, 401, "API key is invalid."),
        "ip_not_whitelisted": (ccxt.PermissionDenied, 10010, 200, "Unmatched IP"),
        "expired_key": (ccxt.AuthenticationError, 33004, 200, "Your api key has expired."),
    }
    MAINTENANCE = (ccxt.ExchangeError, 10016, 503, "Server error.")
    RATE_LIMITED = (ccxt.RateLimitExceeded, 10006, 200, "Too many visits")
    RATE_LIMITS = {"weight_per_window": 2}
    TIME_PATH, ORDER_PATH = "/v5/market/time", "/v5/order/create"
    UNKNOWN_PATHS = [("GET", "/v5/spot/nothing", 404, 10017, "Route not found."),
                     ("POST", "/v5/market/time", 404, 10017, "Route not found.")]
    ENCODING = "hex"

    def unknown_key(self) -> dict[str, Any]:
        return {"api_key": "NoSuchKey123456789", "secret": "x"}

    def send(self, url: str, key: dict[str, Any], method: str, path: str, query: str = "",
             body: bytes = b"") -> httpx.Response:
        return signed(url, key, method, path, query, body)

    def prehash(self, vector: dict[str, Any]) -> bytes:
        payload = vector["query"] if vector["method"] == "GET" else vector["body"]
        return (vector["timestamp"] + vector["api_key"] + vector["recv_window"] + payload).encode()

    def sandbox_signature(self, vector: dict[str, Any]) -> str:
        payload = vector["query"] if vector["method"] == "GET" else vector["body"]
        return sign(vector["secret"], vector["timestamp"], vector["api_key"], vector["recv_window"], payload.encode())

    def during_maintenance(self, sandbox: SandboxServer, key: dict[str, Any]) -> None:
        r = signed(sandbox.url, key, "GET", "/v5/account/info")
        assert r.status_code == 503 and r.json()["retMsg"] == "Server error."
