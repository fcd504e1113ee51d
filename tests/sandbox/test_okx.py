"""The OKX v5 dialect over real HTTP: stock ccxt okx, python-okx, raw signed requests. What every dialect does is
DialectContract's (tests/sandbox/contract.py); this file holds what only OKX does."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import ccxt
import httpx
import pytest
from okx import Account as OkxAccount
from okx import Trade as OkxTrade
from starlette.datastructures import Headers

from cexlink.sandbox.clients import ccxt_client
from cexlink.sandbox.dialect import Call
from cexlink.sandbox.okx import prehash, sign
from cexlink.sandbox.server import SandboxServer
from tests.sandbox.contract import DialectContract
from tests.support.sandbox import limits

NewKey = Callable[..., dict[str, Any]]


def iso(ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if ms is None else ms
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def raw(url: str, key: dict[str, Any] | None, method: str, path: str, body: str = "", *, ts: str | None = None,
        drop: str | None = None, tamper: Callable[[str], str] | None = None) -> httpx.Response:
    """A hand-signed OKX request; ``drop`` leaves out one header, ``tamper`` changes the body after signing."""
    headers = {"Content-Type": "application/json"}
    if key:
        ts = ts or iso()
        headers |= {"OK-ACCESS-KEY": key["api_key"], "OK-ACCESS-PASSPHRASE": key["passphrase"],
                    "OK-ACCESS-TIMESTAMP": ts,
                    "OK-ACCESS-SIGN": sign(key["secret"], (ts + method + path).encode() + body.encode())}
    if drop:
        headers.pop(drop)
    sent = tamper(body) if tamper else body
    return httpx.request(method, url + path, headers=headers, content=sent.encode(), timeout=10)


def ccxt_error(resp: httpx.Response) -> type[Exception] | None:
    """The exception stock ccxt okx raises for this very response (its own handle_errors on the bytes)."""
    try:
        ccxt.okx().handle_errors(resp.status_code, resp.reason_phrase, str(resp.url), resp.request.method,
                                 dict(resp.headers), resp.text, resp.json(), None, None)
    except ccxt.BaseError as e:
        return type(e)
    return None


@pytest.fixture
def key(new_key: NewKey) -> dict[str, Any]:
    return new_key("okx", permissions="read,spot", label="bot-1")


@pytest.fixture
def ex(sandbox: Any, key: dict[str, Any]) -> Any:
    exchange = ccxt_client("okx", sandbox.url, key)
    exchange.load_markets()
    return exchange


def raises(exc: type[Exception], code: str, fn: Callable[[], Any], exact: bool = False) -> str:
    with pytest.raises(exc) as info:
        fn()
    if exact:
        assert type(info.value) is exc, type(info.value)
    text = str(info.value)
    assert f'"code":"{code}"' in text or f'"sCode":"{code}"' in text, text
    return text


# ---------------------------------------------------------------- 1. stock ccxt: the happy path


def test_ccxt_markets_balance_and_time(ex: Any) -> None:
    m = ex.markets["BTC/USDT"]
    assert (m["id"], m["spot"], m["active"]) == ("BTC-USDT", True, True)
    assert m["precision"] == {"amount": 0.00001, "price": 0.01} and m["limits"]["amount"]["min"] == 0.00001
    assert set(ex.symbols) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ETH/BTC"}
    bal = ex.fetch_balance()
    assert bal["USDT"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}
    assert bal["BTC"]["total"] == 2.0 and bal["ETH"]["free"] == 20.0
    assert abs(ex.fetch_time() - time.time() * 1000) < 5000
    assert ex.fetch_ticker("BTC/USDT")["last"] > 0


def test_ccxt_market_orders_fill_and_show_in_trades(ex: Any) -> None:
    buy = ex.create_order("BTC/USDT", "market", "buy", 0.01)  # ccxt sends tgtCcy=base_ccy: 0.01 BTC
    got = ex.fetch_order(buy["id"], "BTC/USDT")
    assert (got["status"], got["filled"], got["side"], got["type"]) == ("closed", 0.01, "buy", "market")
    assert got["fee"] == {"cost": 0.00001, "currency": "BTC"}
    bal = ex.fetch_balance()
    assert bal["BTC"]["total"] == pytest.approx(2.00999)
    assert bal["USDT"]["total"] == pytest.approx(100000 - got["cost"])
    # A market buy sized in USDT (OKX's default for spot market buys).
    quote = ex.create_order("ETH/USDT", "market", "buy", 100, None, {"tgtCcy": "quote_ccy"})  # 100 USDT
    q = ex.fetch_order(quote["id"], "ETH/USDT")
    assert q["status"] == "closed" and q["cost"] == 100.0 and q["info"]["tgtCcy"] == "quote_ccy"
    assert 0 < float(q["info"]["accFillSz"]) <= 100 / float(q["info"]["avgPx"])
    sell = ex.create_order("BTC/USDT", "market", "sell", 0.005)
    trades = ex.fetch_my_trades("BTC/USDT")
    assert [t["order"] for t in sorted(trades, key=lambda t: t["id"])] == [buy["id"], sell["id"]]
    sold = next(t for t in trades if t["order"] == sell["id"])
    assert (sold["side"], sold["amount"], sold["takerOrMaker"]) == ("sell", 0.005, "taker")
    assert sold["fee"]["currency"] == "USDT" and sold["fee"]["cost"] == pytest.approx(sold["cost"] * 0.001)
    assert ex.fetch_balance()["BTC"]["total"] == pytest.approx(2.00499)


def test_ccxt_batch_of_two_with_one_failure_is_partial(ex: Any, sandbox: Any, key: dict[str, Any]) -> None:
    body = json.dumps([
        {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.01", "px": "1000"},
        {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "50", "px": "60000",
         "clOrdId": "big1"},
    ])
    r = raw(sandbox.url, key, "POST", "/api/v5/trade/batch-orders", body)
    data = r.json()
    assert r.status_code == 200 and data["code"] == "2"
    assert [d["sCode"] for d in data["data"]] == ["0", "51008"] and data["data"][1]["clOrdId"] == "big1"
    assert ccxt_error(r) is None  # code "2" is a partial success to ccxt: it parses each order instead
    one_bad = raw(sandbox.url, key, "POST", "/api/v5/trade/batch-orders", json.dumps(json.loads(body)[1:]))
    assert one_bad.json()["code"] == "1" and ccxt_error(one_bad) is ccxt.InsufficientFunds


def test_account_config_fields(sandbox: Any, new_key: NewKey) -> None:
    sub = new_key("okx", permissions="read,spot", ips=["127.0.0.1"], label="sub-bot", sub_account=True)
    cfg = ccxt_client("okx", sandbox.url, sub).private_get_account_config()["data"][0]
    assert cfg["uid"] == sub["uid"] and cfg["mainUid"] != cfg["uid"] and cfg["type"] == "1"
    assert (cfg["perm"], cfg["ip"], cfg["label"], cfg["acctLv"], cfg["posMode"]) == \
        ("read_only,trade", "127.0.0.1", "sub-bot", "1", "net_mode")
    main = new_key("okx", permissions="read")
    cfg = ccxt_client("okx", sandbox.url, main).private_get_account_config()["data"][0]
    assert cfg["mainUid"] == cfg["uid"] == main["uid"] and cfg["perm"] == "read_only" and cfg["ip"] == ""


# ---------------------------------------------------------------- 2. every refusal, as ccxt sees it


def test_wrong_passphrase(sandbox: Any, key: dict[str, Any]) -> None:
    wrong_pass = ccxt_client("okx", sandbox.url, {**key, "passphrase": "Nope-123456"})
    raises(ccxt.AuthenticationError, "50105", wrong_pass.fetch_balance)


def test_malformed_key(sandbox: Any) -> None:
    malformed = ccxt_client("okx", sandbox.url, {"api_key": "not-a-key", "secret": "s", "passphrase": "p"})
    raises(ccxt.AuthenticationError, "50111", malformed.fetch_balance)


def test_timestamp_outside_30s(sandbox: Any, key: dict[str, Any]) -> None:
    for skew in (40_000, -40_000):
        late = ccxt_client("okx", sandbox.url, key)
        late.options["timeDifference"] = skew  # ccxt signs with now - timeDifference
        raises(ccxt.InvalidNonce, "50102", late.fetch_balance)
    ok = ccxt_client("okx", sandbox.url, key)
    ok.options["timeDifference"] = 20_000
    assert ok.fetch_balance()["USDT"]["free"] == 100000.0


@pytest.mark.parametrize(("header", "code"), [("OK-ACCESS-KEY", "50103"), ("OK-ACCESS-PASSPHRASE", "50104"),
                                              ("OK-ACCESS-SIGN", "50106"), ("OK-ACCESS-TIMESTAMP", "50107")])
def test_missing_headers(sandbox: Any, key: dict[str, Any], header: str, code: str) -> None:
    r = raw(sandbox.url, key, "GET", "/api/v5/account/balance", drop=header)
    assert (r.status_code, r.json()["code"]) == (401, code)
    assert r.json()["msg"] == f'Request header "{header}" cannot be empty.' and r.json()["data"] == []
    assert ccxt_error(r) is ccxt.AuthenticationError


def test_bad_timestamp_format(sandbox: Any, key: dict[str, Any]) -> None:
    r = raw(sandbox.url, key, "GET", "/api/v5/account/balance", ts=str(int(time.time())))
    assert (r.status_code, r.json()["code"], r.json()["msg"]) == (401, "50112", "Invalid OK-ACCESS-TIMESTAMP.")
    assert ccxt_error(r) is ccxt.AuthenticationError


def test_demo_header_with_live_key(sandbox: Any, key: dict[str, Any]) -> None:
    demo = ccxt_client("okx", sandbox.url, key)
    demo.headers = {"x-simulated-trading": "1"}  # what ccxt's sandbox mode and python-okx flag='1' send
    text = raises(ccxt.AuthenticationError, "50101", demo.fetch_balance)
    assert "APIKey does not match current environment." in text


def test_read_only_key_cannot_trade(sandbox: Any, new_key: NewKey) -> None:
    ro = ccxt_client("okx", sandbox.url, new_key("okx", permissions="read"))
    assert ro.fetch_balance()["USDT"]["free"] == 100000.0
    ro.load_markets()
    text = raises(ccxt.ExchangeError, "50120", lambda: ro.create_order("BTC/USDT", "limit", "buy", 0.01, 1000),
                  exact=True)
    assert "doesn't have permission" in text


@pytest.mark.parametrize(("flag", "exc", "code", "read_too"), [
    ("suspended", ccxt.AccountSuspended, "50007", True),
    ("region_restricted", ccxt.RestrictedLocation, "51155", False),
    ("kyc_required", ccxt.ManualInteractionNeeded, "4088", False),
])
def test_account_states(sandbox: Any, admin: httpx.Client, new_key: NewKey, flag: str, exc: type[Exception],
                        code: str, read_too: bool) -> None:
    k = new_key("okx")
    assert admin.patch(f"/accounts/okx/{k['uid']}", json={flag: True}).status_code == 200
    client = ccxt_client("okx", sandbox.url, k)
    if read_too:  # a blocked account cannot even load markets: ccxt's load_markets reads /asset/currencies
        raises(exc, code, client.load_markets)
        raises(exc, code, client.fetch_balance)
        return
    client.load_markets()
    raises(exc, code, lambda: client.create_order("BTC/USDT", "limit", "buy", 0.01, 1000))
    assert client.fetch_balance()["USDT"]["free"] == 100000.0


def test_order_refusals(ex: Any) -> None:
    raises(ccxt.InsufficientFunds, "51008", lambda: ex.create_order("BTC/USDT", "limit", "buy", 100, 60000))
    raises(ccxt.OrderNotFound, "51603", lambda: ex.fetch_order("999999", "BTC/USDT"))
    raises(ccxt.OrderNotFound, "51400", lambda: ex.cancel_order("999999", "BTC/USDT"))
    raises(ccxt.BadSymbol, "51001", lambda: ex.private_post_trade_order(
        {"instId": "DOGE-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "1", "px": "1"}))
    raises(ccxt.BadSymbol, "51001", lambda: ex.public_get_market_ticker({"instId": "DOGE-USDT"}))
    raises(ccxt.AccountNotEnabled, "51010",
           lambda: ex.create_order("BTC/USDT", "limit", "buy", 0.01, 1000, {"marginMode": "cross"}))
    ex.create_order("BTC/USDT", "limit", "buy", 0.01, 1000, {"clientOrderId": "dup1"})
    raises(ccxt.InvalidOrder, "51016",
           lambda: ex.create_order("BTC/USDT", "limit", "buy", 0.01, 1000, {"clientOrderId": "dup1"}))


@pytest.mark.parametrize(("params", "exc", "code"), [
    ({"sz": "0.000015"}, ccxt.InvalidOrder, "51121"),  # not a multiple of lotSz
    ({"sz": "0.000001"}, ccxt.InvalidOrder, "51020"),  # below minSz
    ({"sz": "9001"}, ccxt.InvalidOrder, "51203"),  # above maxLmtSz
    ({"px": "1000.005"}, ccxt.BadRequest, "51000"),  # off the tickSz grid
])
def test_filter_failures(ex: Any, params: dict[str, str], exc: type[Exception], code: str) -> None:
    # ccxt rounds amount and price to precision itself; exchange-specific params reach the wire unchanged.
    text = raises(exc, code, lambda: ex.create_order("BTC/USDT", "limit", "buy", 0.01, 1000, params))
    assert '"code":"1"' in text


def test_rate_limit(ex: Any, admin: httpx.Client, sandbox: Any) -> None:
    with limits(admin, "okx", weight_per_window=3, window_seconds=60):
        for _ in range(3):
            ex.fetch_balance()
        raises(ccxt.RateLimitExceeded, "50011", ex.fetch_balance)
        ex.fetch_open_orders("BTC/USDT")  # limits are per endpoint: another one still answers
        for _ in range(3):
            httpx.get(sandbox.url + "/api/v5/public/time")
        r = httpx.get(sandbox.url + "/api/v5/public/time")
        assert (r.status_code, r.json()) == (429, {"code": "50011", "msg": "Too Many Requests", "data": []})


# ---------------------------------------------------------------- 3. python-okx


def test_python_okx_balance_place_cancel(sandbox: Any, key: dict[str, Any]) -> None:
    args = (key["api_key"], key["secret"], key["passphrase"])
    account = OkxAccount.AccountAPI(*args, flag="0", domain=sandbox.url)
    bal = account.get_account_balance()
    assert bal["code"] == "0"
    assert {d["ccy"]: d["availBal"] for d in bal["data"][0]["details"]} == {"BTC": "2", "ETH": "20",
                                                                              "USDT": "100000"}
    assert account.get_account_config()["data"][0]["uid"] == key["uid"]
    trade = OkxTrade.TradeAPI(*args, flag="0", domain=sandbox.url)
    placed = trade.place_order(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit", sz="0.01",
                               px="1000", clOrdId="pyokx1")
    assert placed["code"] == "0" and placed["data"][0]["sCode"] == "0"
    ord_id = placed["data"][0]["ordId"]
    got = trade.get_order(instId="BTC-USDT", ordId=ord_id)["data"][0]
    assert (got["state"], got["clOrdId"], got["px"], got["sz"]) == ("live", "pyokx1", "1000", "0.01")
    assert account.get_account_balance(ccy="USDT")["data"][0]["details"][0]["frozenBal"] == "10"
    canceled = trade.cancel_order(instId="BTC-USDT", ordId=ord_id)
    assert canceled["code"] == "0" and canceled["data"][0]["ordId"] == ord_id
    assert trade.get_order(instId="BTC-USDT", clOrdId="pyokx1")["data"][0]["state"] == "canceled"
    again = trade.cancel_order(instId="BTC-USDT", ordId=ord_id)
    assert again["code"] == "1" and again["data"][0]["sCode"] == "51400"


def test_python_okx_demo_flag_with_live_key(sandbox: Any, key: dict[str, Any]) -> None:
    demo = OkxAccount.AccountAPI(key["api_key"], key["secret"], key["passphrase"], flag="1", domain=sandbox.url)
    assert demo.get_account_balance() == {"code": "50101", "msg": "APIKey does not match current environment.",
                                          "data": []}


# ---------------------------------------------------------------- 4. signatures cover the bytes


def test_tampered_body_or_query_fails(sandbox: Any, key: dict[str, Any]) -> None:
    body = '{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","sz":"0.01","px":"1000"}'
    r = raw(sandbox.url, key, "POST", "/api/v5/trade/order", body, tamper=lambda b: b.replace("0.01", "0.02"))
    assert (r.status_code, r.json()["code"], r.json()["msg"]) == (401, "50113", "Invalid signature.")
    spaced = raw(sandbox.url, key, "POST", "/api/v5/trade/order", body, tamper=lambda b: b.replace(",", ", "))
    assert spaced.json()["code"] == "50113"  # same JSON, other bytes: the signature covers bytes
    ts = iso()
    headers = {"OK-ACCESS-KEY": key["api_key"], "OK-ACCESS-PASSPHRASE": key["passphrase"], "OK-ACCESS-TIMESTAMP": ts,
               "OK-ACCESS-SIGN": sign(key["secret"], (ts + "GET/api/v5/account/balance?ccy=BTC").encode())}
    good = httpx.get(sandbox.url + "/api/v5/account/balance?ccy=BTC", headers=headers)
    assert good.json()["code"] == "0" and [d["ccy"] for d in good.json()["data"][0]["details"]] == ["BTC"]
    bad = httpx.get(sandbox.url + "/api/v5/account/balance?ccy=USDT", headers=headers)
    assert (bad.status_code, bad.json()["code"]) == (401, "50113")
    assert ccxt_error(bad) is ccxt.AuthenticationError


# ---------------------------------------------------------------- 5. malformed input: OKX's errors, never a 500


ORDER = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.01", "px": "1000"}


@pytest.mark.parametrize(("path", "body", "status", "code", "msg", "exc"), [
    ("/api/v5/trade/order", "{not json", 400, "50002", "JSON syntax error", ccxt.BadRequest),
    ("/api/v5/trade/order", "", 400, "50000", "Body cannot be empty.", ccxt.BadRequest),
    ("/api/v5/trade/batch-orders", "[1, 2]", 400, "50002", "JSON syntax error", ccxt.BadRequest),
    ("/api/v5/trade/order", json.dumps({k: v for k, v in ORDER.items() if k != "instId"}), 400, "50014",
     "Parameter instId cannot be empty.", ccxt.BadRequest),
    ("/api/v5/trade/order", json.dumps({**ORDER, "sz": "abc"}), 400, "51000", "Parameter sz error", ccxt.BadRequest),
    ("/api/v5/trade/order", json.dumps({**ORDER, "sz": 1}), 400, "51000", "Parameter sz error", ccxt.BadRequest),
    ("/api/v5/trade/order", json.dumps({**ORDER, "side": "up"}), 400, "51000", "Parameter side error",
     ccxt.BadRequest),
    ("/api/v5/trade/batch-orders", json.dumps([ORDER] * 21), 400, "51111", "Maximum 20 orders can be placed in bulk.",
     ccxt.BadRequest),
    ("/api/v5/trade/cancel-order", json.dumps({"instId": "BTC-USDT"}), 400, "50015",
     "Either parameter ordId or clOrdId is required.", ccxt.ExchangeError),
])
def test_malformed_orders(sandbox: Any, key: dict[str, Any], path: str, body: str, status: int, code: str, msg: str,
                          exc: type[Exception]) -> None:
    r = raw(sandbox.url, key, "POST", path, body)
    assert (r.status_code, r.json()) == (status, {"code": code, "msg": msg, "data": []})
    assert ccxt_error(r) is exc


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/api/v5/no/such/path", 404, "404"),
    ("DELETE", "/api/v5/account/balance", 405, "50115"),
    ("GET", "/api/v5/public/instruments", 400, "50014"),
    ("GET", "/api/v5/public/instruments?instType=NOPE", 400, "51000"),
    ("GET", "/api/v5/trade/orders-pending?limit=abc", 400, "51000"),
    ("GET", "/api/v5/trade/fills-history", 400, "50014"),
    ("GET", "/api/v5/trade/order?instId=BTC-USDT&ordId=12x", 400, "51000"),
])
def test_malformed_requests(sandbox: Any, key: dict[str, Any], method: str, path: str, status: int,
                            code: str) -> None:
    r = raw(sandbox.url, key, method, path)
    assert r.status_code == status and r.json()["code"] == code and r.json()["data"] == [], r.text


def test_other_inst_types_are_empty(sandbox: Any) -> None:
    for inst_type in ("SWAP", "FUTURES", "OPTION", "MARGIN"):
        r = httpx.get(sandbox.url + f"/api/v5/public/instruments?instType={inst_type}")
        assert r.json() == {"code": "0", "msg": "", "data": []}
    spot = httpx.get(sandbox.url + "/api/v5/public/instruments?instType=SPOT&instId=ETH-BTC").json()["data"]
    assert [(i["instId"], i["baseCcy"], i["quoteCcy"], i["tickSz"], i["lotSz"], i["minSz"], i["state"])
            for i in spot] == [("ETH-BTC", "ETH", "BTC", "0.00001", "0.0001", "0.0001", "live")]


# ---------------------------------------------------------------- 6. key states: demo, frozen, idle expiry

DAY_MS = 86_400_000


def balance_code_of(client: Any) -> str:
    """OKX's top-level code for GET /account/balance, answered or refused (ccxt quotes the body after the id)."""
    try:
        return client.private_get_account_balance()["code"]
    except ccxt.ExchangeError as e:
        return json.loads(str(e).split(" ", 1)[1])["code"]


def test_demo_key_works_only_with_the_demo_header(sandbox: Any, new_key: NewKey) -> None:
    k = new_key("okx", demo=True)
    demo = ccxt_client("okx", sandbox.url, k)
    demo.headers = {"x-simulated-trading": "1"}
    assert demo.fetch_balance()["USDT"]["free"] == 100000.0
    live = ccxt_client("okx", sandbox.url, k)
    raises(ccxt.AuthenticationError, "50101", live.fetch_balance)
    py_demo = OkxAccount.AccountAPI(k["api_key"], k["secret"], k["passphrase"], flag="1", domain=sandbox.url)
    assert py_demo.get_account_balance()["code"] == "0"
    py_live = OkxAccount.AccountAPI(k["api_key"], k["secret"], k["passphrase"], flag="0", domain=sandbox.url)
    assert py_live.get_account_balance()["code"] == "50101"


def test_frozen_key(sandbox: Any, admin: httpx.Client, new_key: NewKey) -> None:
    k = new_key("okx")
    client = ccxt_client("okx", sandbox.url, k)
    assert admin.patch(f"/keys/okx/{k['api_key']}", json={"frozen": True}).json()["frozen"] is True
    r = raw(sandbox.url, k, "GET", "/api/v5/account/balance")
    assert (r.status_code, r.json()) == (400, {"code": "50100", "msg": "API frozen, please contact customer service.",
                                               "data": []})
    raises(ccxt.ExchangeError, "50100", client.fetch_balance, exact=True)  # a gap in ccxt's table
    admin.patch(f"/keys/okx/{k['api_key']}", json={"frozen": False})
    assert client.fetch_balance()["USDT"]["free"] == 100000.0


def test_authenticated_requests_note_last_use(sandbox: Any, admin: httpx.Client, new_key: NewKey) -> None:
    k = new_key("okx")
    assert admin.get(f"/keys/okx/{k['api_key']}").json()["last_used_at"] is None
    raw(sandbox.url, k, "GET", "/api/v5/account/balance")
    used = admin.get(f"/keys/okx/{k['api_key']}").json()
    assert abs(used["last_used_at"] - time.time() * 1000) < 5000 and "secret" not in used
    raw(sandbox.url, {**k, "secret": "0" * 32}, "GET", "/api/v5/account/balance")  # refused: not a use
    assert admin.get(f"/keys/okx/{k['api_key']}").json()["last_used_at"] == used["last_used_at"]


@pytest.mark.parametrize(("body", "kept"), [
    ({"permissions": "read,spot"}, False),  # may trade from anywhere: deleted after 14 idle days
    ({"permissions": "read,withdraw"}, False),
    ({"permissions": "read,spot", "ips": ["127.0.0.1"]}, True),  # bound to an IP
    ({"permissions": "read"}, True),  # read-only
    ({"permissions": "read,spot", "demo": True}, True),  # demo keys are never removed
])
def test_idle_keys_without_ip_expire_after_14_days(sandbox: Any, admin: httpx.Client, new_key: NewKey,
                                                   body: dict[str, Any], kept: bool) -> None:
    k = new_key("okx", **body)
    now = int(time.time() * 1000)
    headers = {"x-simulated-trading": "1"} if body.get("demo") else {}

    def balance_code() -> str:
        client = ccxt_client("okx", sandbox.url, k)
        client.headers = headers
        return balance_code_of(client)

    admin.patch(f"/keys/okx/{k['api_key']}", json={"last_used_at": now - 13 * DAY_MS})
    assert balance_code() == "0"  # a use restarts the 14 days
    admin.patch(f"/keys/okx/{k['api_key']}", json={"last_used_at": now - 14 * DAY_MS - 1000})
    assert balance_code() == ("0" if kept else "50119")


def test_idle_expiry_follows_the_sandbox_clock(sandbox_at: Callable[..., Any]) -> None:
    server, clock = sandbox_at()
    k = httpx.post(server.url + "/sandbox/v1/keys", json={"exchange": "okx", "permissions": "read,spot",
                                                          "balances": {"USDT": "1000"}}).json()

    def balance_code() -> str:
        client = ccxt_client("okx", server.url, k)
        client.options["timeDifference"] = clock.behind_ms()  # sign as of the sandbox's now
        return balance_code_of(client)

    clock.advance(13 * 86_400)  # 13 days after creation, never used: still there
    assert balance_code() == "0"
    clock.advance(13 * 86_400)  # 13 days after that use
    assert balance_code() == "0"
    clock.advance(14 * 86_400)  # 14 days idle: OKX has deleted it
    assert balance_code() == "50119"


# ---------------------------------------------------------------- the contract every dialect meets


class TestOkxContract(DialectContract):
    EXCHANGE = "okx"
    CODE_FIELD, MESSAGE_FIELD = "code", "msg"
    KEY = {"permissions": "read,spot"}
    REFUSALS = {
        "wrong_secret": (ccxt.AuthenticationError, "50113", 401, "Invalid signature."),
        # ccxt has no row for 50119; OKX deletes expired keys, so an expired key reads as an unknown one.
        "unknown_key": (ccxt.ExchangeError, "50119", 401, "API key doesn't exist"),
        "ip_not_whitelisted": (ccxt.PermissionDenied, "50110", 401,
                               "Your IP 127.0.0.5 is not included in your API key's IP whitelist."),
        "expired_key": (ccxt.ExchangeError, "50119", 401, "API key doesn't exist"),
    }
    MAINTENANCE = (ccxt.OnMaintenance, "50001", 503, "")
    RATE_LIMITED = (ccxt.RateLimitExceeded, "50011", 429, "Too Many Requests")
    RATE_LIMITS = {"weight_per_window": 3, "window_seconds": 60}  # requests per endpoint
    TIME_PATH, ORDER_PATH = "/api/v5/public/time", "/api/v5/trade/order"
    UNKNOWN_PATHS = [("GET", "/api/v5/no/such/path", 404, "404", ""),
                     ("DELETE", "/api/v5/account/balance", 405, "50115", "")]
    ENCODING = "base64"

    def unknown_key(self) -> dict[str, Any]:
        return {"api_key": str(uuid.uuid4()), "secret": "s", "passphrase": "p"}

    def send(self, url: str, key: dict[str, Any], method: str, path: str, query: str = "",
             body: bytes = b"") -> httpx.Response:
        target = path + (f"?{query}" if query else "")
        ts = iso()
        headers = {"Content-Type": "application/json", "OK-ACCESS-KEY": key["api_key"],
                   "OK-ACCESS-PASSPHRASE": key["passphrase"], "OK-ACCESS-TIMESTAMP": ts,
                   "OK-ACCESS-SIGN": sign(key["secret"], (ts + method + target).encode() + body)}
        return httpx.request(method, url + target, headers=headers, content=body, timeout=10)

    def prehash(self, vector: dict[str, Any]) -> bytes:
        query = f"?{vector['query']}" if vector["query"] else ""
        return (vector["timestamp"] + vector["method"] + vector["path"] + query + vector["body"]).encode()

    def sandbox_signature(self, vector: dict[str, Any]) -> str:
        call = Call(vector["method"], vector["path"], vector["query"], vector["body"].encode(),
                    Headers({"ok-access-timestamp": vector["timestamp"]}), "127.0.0.1", {})
        return sign(vector["secret"], prehash(call))

    def during_maintenance(self, sandbox: SandboxServer, key: dict[str, Any]) -> None:
        r = self.send(sandbox.url, key, "GET", "/api/v5/account/balance")
        assert (r.status_code, r.json()["code"]) == (503, "50001")
