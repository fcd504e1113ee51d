"""Stock ccxt binance against the sandbox over real HTTP: trading flows, and every refusal surfacing as the
exception class ccxt's ``handle_errors`` gives for the real exchange's response (top-level table only, as
for any non-binance.com URL), with the exact Binance code. What every dialect does is DialectContract's
(tests/sandbox/contract.py); this file holds what only Binance does."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import ccxt
import httpx
import pytest

from cexlink.sandbox.binance import signed_payload
from cexlink.sandbox.clients import ccxt_client
from cexlink.sandbox.server import SandboxServer
from tests.sandbox.contract import DialectContract
from tests.support.sandbox import limits

D = Decimal
NewKey = Callable[..., dict[str, Any]]


LAST: dict[str, Any] = {}  # the last HTTP answer any ccxt instance here received (tests run one at a time)


def recording(ex: Any) -> Any:
    """Note each answer's HTTP status and JSON body: ccxt quotes the body only for code-matched errors."""
    original = ex.on_rest_response

    def on_rest_response(code: int, reason: str, url: str, method: str, *rest: Any) -> Any:
        body = original(code, reason, url, method, *rest)
        LAST.update(status=code, json=ex.parse_json(body))
        return body

    ex.on_rest_response = on_rest_response
    return ex


def client(sandbox: SandboxServer, key: dict[str, Any] | None, **kw: Any) -> Any:
    return recording(ccxt_client("binance", sandbox.url, key, **kw))


def fake_key() -> dict[str, Any]:
    alnum = string.ascii_letters + string.digits
    return {"api_key": "".join(secrets.choice(alnum) for _ in range(64)), "secret": "s" * 64}


def refused(call: Callable[[], Any], cls: type[Exception], code: int, http: int | None = None) -> str:
    """Run ``call``; it must raise exactly ``cls`` for an answer with Binance ``code`` (and HTTP ``http``)."""
    LAST.clear()
    with pytest.raises(cls) as info:
        call()
    assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
    assert LAST["json"]["code"] == code, LAST
    if http is not None:
        assert LAST["status"] == http, LAST
    return str(LAST["json"]["msg"])


def set_price(admin: httpx.Client, symbol: str, price: str) -> None:
    assert admin.post("/prices", json={"symbol": symbol, "price": price}).status_code == 200


def price_now(admin: httpx.Client, symbol: str) -> Decimal:
    return D(admin.get("/prices").json()[symbol])


@pytest.fixture(autouse=True)
def restore_prices(admin: httpx.Client) -> Iterator[None]:
    """Put back the prices a test moved: the session sandbox is shared with other exchanges' tests."""
    before = admin.get("/prices").json()
    yield
    for symbol in ("BTCUSDT", "ETHUSDT"):
        set_price(admin, symbol, before[symbol])


@pytest.fixture
def trader(sandbox: SandboxServer, new_key: NewKey) -> tuple[Any, dict[str, Any]]:
    key = new_key("binance")
    ex = client(sandbox, key)
    ex.load_markets()
    return ex, key


def free_used(ex: Any, asset: str) -> tuple[Decimal, Decimal]:
    bal = ex.fetch_balance()[asset]
    return D(str(bal["free"])), D(str(bal["used"]))


# ---------------------------------------------------------------- trading flows


def test_load_markets_calls_only_exchange_info(sandbox: SandboxServer, new_key: NewKey) -> None:
    ex = client(sandbox, new_key("binance"))
    seen: list[tuple[str, str]] = []
    fetch = ex.fetch

    def recording(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        seen.append((method, url.split("?")[0].removeprefix(sandbox.url)))
        return fetch(url, method, headers, body)

    ex.fetch = recording
    markets = ex.load_markets()
    assert seen == [("GET", "/api/v3/exchangeInfo")]
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["precision"]["amount"] == 0.00001 and btc["precision"]["price"] == 0.01
    assert btc["limits"]["cost"]["min"] == 5 and btc["limits"]["amount"]["min"] == 0.00001


def test_order_answers_carry_status_and_order_counts(trader: tuple[Any, dict[str, Any]],
                                                     admin: httpx.Client) -> None:
    """Binance's own parts of the happy path (the rest is DialectContract's): the order in the answer, the
    X-MBX-ORDER-COUNT headers, the canceled order in the cancel answer."""
    ex, _ = trader
    assert free_used(ex, "BTC") == (D(2), D(0))
    set_price(admin, "BTCUSDT", "60000")
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000)
    assert order["status"] == "open" and order["filled"] == 0 and order["price"] == 30000
    assert ex.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "1"
    assert ex.last_response_headers["X-MBX-ORDER-COUNT-1D"] == "1"
    assert ex.cancel_order(order["id"], "BTC/USDT")["status"] == "canceled"


def test_resting_limit_fills_when_price_moves_through(trader: tuple[Any, dict[str, Any]],
                                                      admin: httpx.Client) -> None:
    ex, _ = trader
    set_price(admin, "BTCUSDT", "60000")
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000)
    assert order["status"] == "open"
    set_price(admin, "BTCUSDT", "29000")
    filled = ex.fetch_order(order["id"], "BTC/USDT")
    assert filled["status"] == "closed" and filled["filled"] == 0.01 and filled["average"] == 30000
    assert filled["cost"] == 300
    assert free_used(ex, "USDT") == (D(99700), D(0))
    assert free_used(ex, "BTC") == (D("2.00999"), D(0))  # 0.01 bought, 0.1% fee in BTC
    trades = ex.fetch_my_trades("BTC/USDT")
    assert len(trades) == 1
    t = trades[0]
    assert (t["order"], t["side"], t["price"], t["amount"], t["cost"]) == (order["id"], "buy", 30000, 0.01, 300)
    assert t["fee"]["currency"] == "BTC" and t["fee"]["cost"] == 0.00001 and t["takerOrMaker"] == "maker"
    set_price(admin, "BTCUSDT", "60000")


def test_market_sell_and_market_buy_by_cost(trader: tuple[Any, dict[str, Any]], admin: httpx.Client) -> None:
    ex, _ = trader
    sell = ex.create_order("BTC/USDT", "market", "sell", 0.01)
    assert sell["status"] == "closed" and sell["filled"] == 0.01 and len(sell["trades"]) == 1
    p = D(str(sell["average"]))
    proceeds = (D("0.01") * p).quantize(D("0.0000001"))
    assert D(str(sell["cost"])) == proceeds
    assert free_used(ex, "BTC") == (D("1.99"), D(0))
    assert free_used(ex, "USDT") == (D(100000) + proceeds * D("0.999"), D(0))
    assert ex.has["createMarketBuyOrderWithCost"]
    buy = ex.create_market_buy_order_with_cost("BTC/USDT", 100)
    assert buy["status"] == "closed"
    raw = buy["info"]
    assert raw["origQuoteOrderQty"] == "100.00000000" and raw["type"] == "MARKET"
    bought, cost = D(raw["executedQty"]), D(raw["cummulativeQuoteQty"])
    assert bought == (D(100) / D(raw["fills"][0]["price"])).quantize(D("0.00001"), rounding="ROUND_DOWN")
    assert D(0) < cost <= D(100)
    assert free_used(ex, "USDT")[0] == D(100000) + proceeds * D("0.999") - cost
    assert free_used(ex, "BTC")[0] == D("1.99") + bought * D("0.999")


def test_limit_order_that_crosses_fills_as_taker(trader: tuple[Any, dict[str, Any]], admin: httpx.Client) -> None:
    ex, _ = trader
    set_price(admin, "ETHUSDT", "3500")
    order = ex.create_order("ETH/USDT", "limit", "buy", 0.1, 4000)
    assert order["status"] == "closed" and order["filled"] == 0.1
    assert order["trades"][0]["price"] < 4000  # filled at the market, not the limit
    assert ex.fetch_my_trades("ETH/USDT")[0]["takerOrMaker"] == "taker"


def test_post_only_rests_or_is_rejected_when_it_would_take(trader: tuple[Any, dict[str, Any]],
                                                           admin: httpx.Client) -> None:
    ex, _ = trader
    set_price(admin, "BTCUSDT", "60000")
    resting = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000, {"postOnly": True})
    assert resting["status"] == "open" and resting["postOnly"] and resting["info"]["type"] == "LIMIT_MAKER"
    assert ex.fetch_order(resting["id"], "BTC/USDT")["info"]["type"] == "LIMIT_MAKER"
    fresh = client_like(ex)
    text = refused(lambda: fresh.create_order("BTC/USDT", "limit", "buy", 0.01, 90000, {"postOnly": True}),
                   ccxt.OrderImmediatelyFillable, -2010, 400)
    assert "Order would immediately match and take." in text


def client_like(ex: Any) -> Any:
    """A fresh ccxt instance with the same key and URLs (ccxt treats -2015 after a success as a ban)."""
    fresh = type(ex)({"apiKey": ex.apiKey, "secret": ex.secret, "enableRateLimit": False})
    fresh.urls["api"], fresh.options = dict(ex.urls["api"]), {**fresh.options, **{
        k: ex.options[k] for k in ("fetchMarkets", "fetchCurrencies", "fetchMargins")}}
    fresh.markets, fresh.markets_by_id, fresh.symbols = ex.markets, ex.markets_by_id, ex.symbols
    fresh.currencies, fresh.currencies_by_id = ex.currencies, ex.currencies_by_id
    return recording(fresh)


def test_new_order_resp_types(trader: tuple[Any, dict[str, Any]]) -> None:
    ex, _ = trader
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
            "price": "20000"}
    ack = ex.private_post_order({**base, "newOrderRespType": "ACK"})
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = ex.private_post_order({**base, "newOrderRespType": "RESULT"})
    assert result["status"] == "NEW" and "fills" not in result and result["origQty"] == "0.00100000"
    full = ex.private_post_order({**base, "newOrderRespType": "FULL"})
    assert full["fills"] == [] and full["workingTime"] == full["transactTime"]
    market = ex.private_post_order({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.001"})
    assert market["status"] == "FILLED" and len(market["fills"]) == 1  # MARKET defaults to FULL
    maker = ex.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER",
                                   "quantity": "0.001", "price": "20000"})
    assert "status" not in maker  # other types default to ACK
    assert ex.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "5"
    assert int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"]) >= 1


# ---------------------------------------------------------------- authentication refusals


def test_key_format(sandbox: SandboxServer) -> None:
    refused(lambda: client(sandbox, {"api_key": "not-a-key", "secret": "x"}).fetch_balance(),
            ccxt.AuthenticationError, -2014, 401)


@pytest.mark.parametrize("skew_ms", [120_000, -5_000])  # stale, and more than 1 s ahead
def test_timestamp_outside_window(sandbox: SandboxServer, new_key: NewKey, skew_ms: int) -> None:
    ex = client(sandbox, new_key("binance"))
    ex.options["timeDifference"] = skew_ms
    refused(ex.fetch_balance, ccxt.InvalidNonce, -1021, 400)


def test_recv_window_too_large(sandbox: SandboxServer, new_key: NewKey) -> None:
    ex = client(sandbox, new_key("binance"))
    ex.options["recvWindow"] = 60001
    # -1131 is not in ccxt's top-level table: a plain ExchangeError.
    assert "recvWindow must be less than 60000" in refused(ex.fetch_balance, ccxt.ExchangeError, -1131, 400)
    ex.options["recvWindow"] = 60000
    assert ex.fetch_balance()["USDT"]["free"] == 100000


def test_missing_spot_permission(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance", permissions=["read"])
    reader = client(sandbox, key)
    reader.load_markets()
    assert reader.fetch_balance()["BTC"]["free"] == 2
    assert reader.fetch_balance()["info"]["canTrade"] is False
    # ccxt's pitfall: -2015 after a successful private call on the same instance reads as a temporary ban.
    refused(lambda: reader.create_order("BTC/USDT", "limit", "buy", 0.01, 30000), ccxt.DDoSProtection, -2015)
    fresh = client_like(reader)
    refused(lambda: fresh.create_order("BTC/USDT", "limit", "buy", 0.01, 30000), ccxt.AuthenticationError, -2015)


def test_no_read_permission(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance", permissions=["spot"])
    refused(lambda: client(sandbox, key).fetch_balance(), ccxt.AuthenticationError, -2015, 401)


# ---------------------------------------------------------------- account refusals


def test_account_suspended(sandbox: SandboxServer, new_key: NewKey, admin: httpx.Client) -> None:
    key = new_key("binance")
    ex = client(sandbox, key)
    ex.load_markets()
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000)
    admin.patch(f"/accounts/binance/{key['uid']}", json={"suspended": True})
    assert ex.fetch_balance()["info"]["canTrade"] is False  # reading still works
    text = refused(lambda: ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000), ccxt.PermissionDenied, -2010)
    assert "This account may not place or cancel orders." in text
    refused(lambda: ex.cancel_order(order["id"], "BTC/USDT"), ccxt.PermissionDenied, -2011, 400)


def test_region_restricted(sandbox: SandboxServer, new_key: NewKey, admin: httpx.Client) -> None:
    key = new_key("binance")
    admin.patch(f"/accounts/binance/{key['uid']}", json={"region_restricted": True})
    # {"code":0,...} makes ccxt fall back to the HTTP status: 451 → ExchangeNotAvailable.
    text = refused(lambda: client(sandbox, key).fetch_balance(), ccxt.ExchangeNotAvailable, 0, 451)
    assert "Service unavailable from a restricted location" in text


def test_kyc_required(sandbox: SandboxServer, new_key: NewKey, admin: httpx.Client) -> None:
    key = new_key("binance")
    admin.patch(f"/accounts/binance/{key['uid']}", json={"kyc_required": True})
    ex = client(sandbox, key)
    ex.load_markets()
    # Python ccxt's table spells this message "…on self account." (transpile artifact), so -2010 decides.
    text = refused(lambda: ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000), ccxt.InvalidOrder, -2010)
    assert "This action is disabled on this account." in text


def test_agreement_not_accepted(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance", agreement_accepted=False)
    ex = client(sandbox, key)
    ex.load_markets()
    assert ex.fetch_balance()["info"]["canTrade"] is False
    text = refused(lambda: ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000), ccxt.PermissionDenied, -2010)
    assert "Rest API trading is not enabled." in text


# ---------------------------------------------------------------- order refusals


def test_insufficient_balance(trader: tuple[Any, dict[str, Any]]) -> None:
    ex, _ = trader
    refused(lambda: ex.create_order("BTC/USDT", "limit", "buy", 100, 60000), ccxt.InsufficientFunds, -2010, 400)
    refused(lambda: ex.create_order("BTC/USDT", "market", "sell", 3), ccxt.InsufficientFunds, -2010, 400)


def test_unknown_order(trader: tuple[Any, dict[str, Any]]) -> None:
    ex, _ = trader
    refused(lambda: ex.fetch_order("999999999", "BTC/USDT"), ccxt.OrderNotFound, -2013, 400)
    fresh = client_like(ex)
    refused(lambda: fresh.cancel_order("999999999", "BTC/USDT"), ccxt.OrderNotFound, -2011, 400)


def test_cancel_of_a_filled_order(trader: tuple[Any, dict[str, Any]]) -> None:
    ex, _ = trader
    order = ex.create_order("BTC/USDT", "market", "buy", 0.001)
    text = refused(lambda: ex.cancel_order(order["id"], "BTC/USDT"), ccxt.OrderNotFound, -2011, 400)
    assert "Unknown order sent." in text


def test_bad_symbol(trader: tuple[Any, dict[str, Any]]) -> None:
    ex, _ = trader
    with pytest.raises(ccxt.BadSymbol):  # ccxt refuses a symbol it did not load, before any request
        ex.fetch_order("1", "FOO/BAR")
    refused(lambda: ex.private_get_order({"symbol": "FOOBAR", "orderId": "1"}), ccxt.BadSymbol, -1121, 400)
    refused(lambda: ex.public_get_exchangeinfo({"symbol": "FOOBAR"}), ccxt.BadSymbol, -1121, 400)


def test_filter_failures(trader: tuple[Any, dict[str, Any]]) -> None:
    ex, _ = trader
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    text = refused(lambda: ex.private_post_order({**order, "quantity": "0.000015", "price": "30000"}),
                   ccxt.InvalidOrder, -1013, 400)
    assert "Filter failure: LOT_SIZE" in text
    text = refused(lambda: ex.private_post_order({**order, "quantity": "0.001", "price": "30000.005"}),
                   ccxt.InvalidOrder, -1013, 400)
    assert "Filter failure: PRICE_FILTER" in text
    # NOTIONAL has no body rule in ccxt: -1013 → BadRequest.
    text = refused(lambda: ex.create_order("BTC/USDT", "limit", "buy", 0.00001, 30000), ccxt.BadRequest, -1013, 400)
    assert "Filter failure: NOTIONAL" in text
    text = refused(lambda: ex.create_order("BTC/USDT", "market", "buy", 200), ccxt.InvalidOrder, -1013, 400)
    assert "Filter failure: MARKET_LOT_SIZE" in text


def test_order_parameter_errors(trader: tuple[Any, dict[str, Any]]) -> None:
    ex, _ = trader
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
             "price": "30000"}
    checks: list[tuple[dict[str, str], type[Exception], int, str]] = [
        ({"quantity": "abc"}, ccxt.BadRequest, -1100, "Illegal characters found in parameter 'quantity'"),
        ({"side": "UP"}, ccxt.BadRequest, -1117, "Invalid side."),
        ({"type": "ICEBERG"}, ccxt.BadRequest, -1116, "Invalid orderType."),
        ({"timeInForce": "DAY"}, ccxt.BadRequest, -1115, "Invalid timeInForce."),
    ]
    for change, cls, code, msg in checks:
        assert msg in refused(lambda c=change: ex.private_post_order({**order, **c}), cls, code, 400)  # type: ignore
    no_symbol = {k: v for k, v in order.items() if k != "symbol"}
    text = refused(lambda: ex.private_post_order(no_symbol), ccxt.BadRequest, -1102, 400)
    assert "Mandatory parameter 'symbol' was not sent" in text
    no_tif = {k: v for k, v in order.items() if k != "timeInForce"}
    assert "'timeInForce'" in refused(lambda: ex.private_post_order(no_tif), ccxt.BadRequest, -1102, 400)


# ---------------------------------------------------------------- platform refusals


@pytest.fixture
def tight_limits(admin: httpx.Client) -> Iterator[None]:
    with limits(admin, "binance", weight_per_window=30, ban_after=1, ban_seconds=60):
        yield


@pytest.fixture
def loaded_77(sandbox: SandboxServer, new_key: NewKey) -> Any:
    ex = client(sandbox, new_key("binance"), source_ip="127.0.0.77")
    ex.load_markets()
    return ex


def test_rate_limit_429_then_418(sandbox: SandboxServer, loaded_77: Any, tight_limits: None) -> None:
    ex = loaded_77
    ex.fetch_balance()  # weight 20 of 30
    assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "20"
    text = refused(ex.fetch_balance, ccxt.DDoSProtection, -1003, 429)
    assert "current limit is 30 request weight per 1 MINUTE" in text
    assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "40"
    assert int(ex.last_response_headers["Retry-After"]) > 0
    text = refused(ex.fetch_balance, ccxt.DDoSProtection, -1003, 418)  # kept going after a 429
    assert "IP banned until" in text
    assert int(ex.last_response_headers["Retry-After"]) == 60
    refused(ex.fetch_time, ccxt.DDoSProtection, -1003, 418)  # the ban covers public calls too
    # Another IP is not affected: limits are per IP.
    assert client(sandbox, None, source_ip="127.0.0.78").fetch_time() > 0


# ---------------------------------------------------------------- trading right of keys without IP restriction


def test_trading_right_lapses_30_days_after_creation_without_ip(sandbox_at: Callable[..., Any]) -> None:
    server, clock = sandbox_at()
    made = httpx.post(server.url + "/sandbox/v1/keys", json={"exchange": "binance",
                                                             "balances": {"USDT": "1000"}})
    key = made.json()
    pinned = httpx.post(server.url + "/sandbox/v1/keys", json={"exchange": "binance", "ips": ["127.0.0.1"],
                                                               "balances": {"USDT": "1000"}}).json()
    ex, ex_pinned = client(server, key), client(server, pinned)
    ex.load_markets()
    ex_pinned.load_markets()

    def follow_clock() -> None:
        for e in (ex, ex_pinned):
            e.options["timeDifference"] = clock.behind_ms()

    restrictions = ex.sapi_get_account_apirestrictions()
    assert restrictions["ipRestrict"] is False and restrictions["enableSpotAndMarginTrading"] is True
    assert restrictions["tradingAuthorityExpirationTime"] == restrictions["createTime"] + 30 * 86_400_000
    assert "tradingAuthorityExpirationTime" not in ex_pinned.sapi_get_account_apirestrictions()
    ex.create_order("BTC/USDT", "limit", "buy", 0.001, 30000)

    clock.advance(30 * 86_400 + 1)
    follow_clock()
    assert ex.sapi_get_account_apirestrictions()["enableSpotAndMarginTrading"] is False
    balance = ex.fetch_balance()  # reading still works
    assert balance["USDT"]["used"] == 30 and balance["info"]["canTrade"] is False
    fresh = client_like(ex)
    follow_clock()
    fresh.options["timeDifference"] = ex.options["timeDifference"]
    refused(lambda: fresh.create_order("BTC/USDT", "limit", "buy", 0.001, 30000), ccxt.AuthenticationError, -2015)
    assert ex_pinned.create_order("BTC/USDT", "limit", "buy", 0.001, 30000)["status"] == "open"


def test_test_order_checks_trading_rights_without_placing(sandbox, new_key, admin) -> None:
    """POST /api/v3/order/test: a key that may trade gets {}, nothing is placed; one that may not is refused."""
    key = new_key("binance", ips=["127.0.0.1"])
    ex = ccxt_client("binance", sandbox.url, key)
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "30000",
              "timeInForce": "GTC"}
    assert ex.private_post_order_test(params) == {}
    assert admin.get(f"/accounts/binance/{key['uid']}/orders").json() == []
    read_only = ccxt_client("binance", sandbox.url, new_key("binance", permissions="read", ips=["127.0.0.1"]))
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        read_only.private_post_order_test(params)
    unsigned = new_key("binance", ips=["127.0.0.1"], agreement_accepted=False)
    with pytest.raises(ccxt.PermissionDenied, match="Rest API trading is not enabled"):
        ccxt_client("binance", sandbox.url, unsigned).private_post_order_test(params)


# ---------------------------------------------------------------- the contract every dialect meets


class TestBinanceContract(DialectContract):
    EXCHANGE = "binance"
    CODE_FIELD, MESSAGE_FIELD = "code", "msg"
    REFUSALS = {
        "wrong_secret": (ccxt.AuthenticationError, -1022, 400, "Signature for this request is not valid."),
        "unknown_key": (ccxt.AuthenticationError, -2015, 401, "Invalid API-key, IP, or permissions for action."),
        "ip_not_whitelisted": (ccxt.AuthenticationError, -2015, 401, "Invalid API-key, IP, or permissions"),
        "expired_key": (ccxt.AuthenticationError, -2015, 401, "Invalid API-key, IP, or permissions for action."),
    }
    MAINTENANCE = (ccxt.OnMaintenance, 1, 503, "System is under maintenance.")
    RATE_LIMITED = (ccxt.DDoSProtection, -1003, 429, "current limit is 30 request weight per 1 MINUTE")
    RATE_LIMITS = {"weight_per_window": 30}  # a balance weighs 20: the second one is refused
    TIME_PATH, ORDER_PATH = "/api/v3/time", "/api/v3/order"
    UNKNOWN_PATHS = [(method, path, 404, -1000, "An unknown error occurred while processing the request.")
                     for method, path in (("GET", "/api/v3/nonesuch"), ("POST", "/api/v3/exchangeInfo"),
                                          ("GET", "/sapi/v1/x"))]
    ENCODING = "hex"

    def unknown_key(self) -> dict[str, Any]:
        return fake_key()

    def send(self, url: str, key: dict[str, Any], method: str, path: str, query: str = "",
             body: bytes = b"") -> httpx.Response:
        query = "&".join(filter(None, (query, f"timestamp={int(time.time() * 1000)}")))
        sig = hmac.new(key["secret"].encode(), query.encode() + body, hashlib.sha256).hexdigest()
        return httpx.request(method, f"{url}{path}?{query}&signature={sig}", content=body,
                             headers={"X-MBX-APIKEY": key["api_key"],
                                      "content-type": "application/x-www-form-urlencoded"})

    def prehash(self, vector: dict[str, Any]) -> bytes:
        return (vector["query"] + vector["body"]).encode()

    def sandbox_signature(self, vector: dict[str, Any]) -> str:
        query = "&".join(filter(None, (vector["query"], f"signature={vector['signature']}")))
        payload, signature = signed_payload(query, vector["body"].encode())
        assert signature == vector["signature"]
        return hmac.new(vector["secret"].encode(), payload.encode(), hashlib.sha256).hexdigest()

    def during_maintenance(self, sandbox: SandboxServer, key: dict[str, Any]) -> None:
        r = httpx.get(sandbox.url + "/api/v3/time")
        assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) >= 1  # weight is still reported
