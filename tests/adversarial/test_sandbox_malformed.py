"""Malformed input against the sandbox exchange over real HTTP, answered as the exchange would and never with a
500: JSON nested far deeper than any parser recurses, on the OKX and Bybit order endpoints (and the withdrawal
ones); Binance quantities in spellings Binance's own pattern refuses; wrong JSON types in admin bodies (422
naming the field, nothing changed); and a seeded fuzz of every dialect's order endpoints with wrong types, huge
numbers and unicode, correctly signed so that the handlers behind the signature check are reached.

Requests are signed by hand here, by each exchange's documented scheme, because stock clients cannot be made
to send these bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from cexlink.sandbox.server import SandboxServer
from tests.support.sandbox import SANDBOXED

Signer = Callable[[str, str, bytes, str], httpx.Response]
BINANCE_DECIMAL = "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'."


@pytest.fixture(scope="module")
def exchange() -> Iterator[SandboxServer]:
    """A sandbox of this module's own: the fuzz places orders, which must not fill other tests' orders."""
    server = SandboxServer().start()
    for name in SANDBOXED:
        httpx.post(server.url + "/sandbox/v1/limits", json={"exchange": name, "enabled": False})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keys(exchange: SandboxServer) -> dict[str, dict[str, Any]]:
    body = {"permissions": ["read", "spot", "withdraw", "transfer"], "balances": {"USDT": "1000000", "BTC": "10"}}
    return {name: httpx.post(exchange.url + "/sandbox/v1/keys", json={"exchange": name, **body}).json()
            for name in SANDBOXED}


@pytest.fixture(scope="module")
def sign(exchange: SandboxServer, keys: dict[str, dict[str, Any]]) -> dict[str, Signer]:
    """One function per exchange: (method, path, body, query) -> the answer to that request, correctly signed."""
    client = httpx.Client(base_url=exchange.url, timeout=20)

    def binance(method: str, path: str, body: bytes, query: str) -> httpx.Response:
        key = keys["binance"]
        query = "&".join(filter(None, (query, f"timestamp={int(time.time() * 1000)}")))
        sig = hmac.new(key["secret"].encode(), query.encode() + body, hashlib.sha256).hexdigest()
        return client.request(method, f"{path}?{query}&signature={sig}", content=body,
                              headers={"X-MBX-APIKEY": key["api_key"],
                                       "Content-Type": "application/x-www-form-urlencoded"})

    def okx(method: str, path: str, body: bytes, query: str) -> httpx.Response:
        key = keys["okx"]
        now = datetime.now(UTC)
        ts = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        target = path + (f"?{query}" if query else "")
        mac = hmac.new(key["secret"].encode(), (ts + method + target).encode() + body, hashlib.sha256)
        return client.request(method, target, content=body, headers={
            "OK-ACCESS-KEY": key["api_key"], "OK-ACCESS-SIGN": base64.b64encode(mac.digest()).decode(),
            "OK-ACCESS-TIMESTAMP": ts, "OK-ACCESS-PASSPHRASE": key["passphrase"], "Content-Type": "application/json"})

    def bybit(method: str, path: str, body: bytes, query: str) -> httpx.Response:
        key = keys["bybit"]
        ts = str(int(time.time() * 1000))
        payload = query.encode() if method == "GET" else body
        sig = hmac.new(key["secret"].encode(), (ts + key["api_key"] + "5000").encode() + payload,
                       hashlib.sha256).hexdigest()
        return client.request(method, path + (f"?{query}" if query else ""), content=body, headers={
            "X-BAPI-API-KEY": key["api_key"], "X-BAPI-SIGN": sig, "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-RECV-WINDOW": "5000", "Content-Type": "application/json"})

    return {"binance": binance, "okx": okx, "bybit": bybit}


def envelope(name: str, r: httpx.Response) -> tuple[int, Any]:
    """(HTTP status, the exchange's code) of an answer, which must be JSON in the exchange's own error shape."""
    assert r.status_code < 500 or r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/json"), r.text
    body = r.json()
    if name == "binance" and r.status_code == 200:
        return 200, None  # Binance's successes have no envelope (objects or lists)
    fields = {"bybit": ("retCode", "retMsg", "result"), "okx": ("code", "msg", "data"), "binance": ("code", "msg")}
    assert isinstance(body, dict) and set(body) >= set(fields[name]), body
    return r.status_code, body[fields[name][0]]


def nested(depth: int, kind: str) -> bytes:
    return ("[" * depth + "]" * depth if kind == "array" else '{"a":' * depth + "1" + "}" * depth).encode()


# What each exchange answers a body it cannot read: OKX 50002 "JSON syntax error" (HTTP 400), Bybit retCode 10001
# (its parameter error, HTTP 200).
UNREADABLE = {"okx": ((400, "50002"), ("/api/v5/trade/order", "/api/v5/trade/batch-orders",
                                       "/api/v5/trade/cancel-order", "/api/v5/asset/withdrawal")),
              "bybit": ((200, 10001), ("/v5/order/create", "/v5/order/cancel", "/v5/asset/withdraw/create"))}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
@pytest.mark.parametrize("depth", [1000, 100_000])
@pytest.mark.parametrize("kind", ["array", "object"])
def test_json_nested_deep_is_the_exchanges_invalid_body_answer(exchange: SandboxServer, sign: dict[str, Signer],
                                                               name: str, depth: int, kind: str) -> None:
    expected, paths = UNREADABLE[name]
    for path in paths:
        assert envelope(name, sign[name]("POST", path, nested(depth, kind), "")) == expected, path
    accepted = httpx.get(exchange.url + "/sandbox/v1/accepted").json()
    assert not [a for a in accepted if a["exchange"] == name and a["path"] in paths]


@pytest.mark.parametrize("quantity", ["1_0", "1e1", "1E1", " 1", "1 ", "+1", "-1", "0x1", "NaN", "nan", "Infinity",
                                      "-Infinity", "1.", ".1", "1,0", "\uff11", "\u0661", "1" * 21,
                                      "0." + "0" * 20 + "1", "0.001\x00"])
def test_binance_refuses_quantities_outside_its_pattern(exchange: SandboxServer, sign: dict[str, Signer],
                                                        keys: dict[str, dict[str, Any]], quantity: str) -> None:
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "20000"}
    before = httpx.get(f"{exchange.url}/sandbox/v1/accounts/binance/{keys['binance']['uid']}/orders").json()
    r = sign["binance"]("POST", "/api/v3/order", b"", urlencode({**order, "quantity": quantity}))
    assert r.status_code == 400, r.text
    assert r.json() == {"code": -1100, "msg": f"Illegal characters found in parameter 'quantity'; {BINANCE_DECIMAL}"}
    assert httpx.get(f"{exchange.url}/sandbox/v1/accounts/binance/{keys['binance']['uid']}/orders").json() == before


def test_binance_takes_its_own_spelling(sign: dict[str, Signer]) -> None:
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "20000.00",
             "quantity": "0.00100000000000000000"}
    r = sign["binance"]("POST", "/api/v3/order", b"", urlencode(order))
    assert r.status_code == 200 and r.json()["status"] == "NEW", r.text


# (method, path under /sandbox/v1, body, the field the 422 must name). "{okx_key}"/"{okx_uid}" are filled in.
ADMIN_BAD = [
    ("POST", "/keys", {"exchange": "okx", "permissions": [1]}, "permissions"),
    ("POST", "/keys", {"exchange": "okx", "permissions": {"read": True}}, "permissions"),
    ("POST", "/keys", {"exchange": "okx", "permissions": 7}, "permissions"),
    ("POST", "/keys", {"exchange": "okx", "native_permissions": ["withdraw"]}, "native_permissions"),
    ("POST", "/keys", {"exchange": "okx", "ips": [1]}, "ips"),
    ("POST", "/keys", {"exchange": "okx", "expires_at": "tomorrow"}, "expires_at"),
    ("POST", "/keys", {"exchange": "okx", "expires_in_days": 1e300}, "expires_in_days"),
    ("POST", "/keys", {"exchange": "okx", "label": {"a": 1}}, "label"),
    ("POST", "/keys", {"exchange": "okx", "passphrase": 12345678}, "passphrase"),
    ("POST", "/keys", {"exchange": "okx", "uid": [1]}, "uid"),
    ("POST", "/keys", {"exchange": "okx", "agreement_accepted": "no"}, "agreement_accepted"),
    ("POST", "/keys", {"exchange": "okx", "sub_account": "yes"}, "sub_account"),
    ("POST", "/keys", {"exchange": "okx", "balances": {"USDT": "1e999999"}}, "balances.USDT"),
    ("POST", "/keys", {"exchange": ["okx"]}, "exchange"),
    ("POST", "/accounts", {"exchange": "okx", "label": 5}, "label"),
    ("POST", "/accounts", {"exchange": "okx", "parent_uid": {"uid": 1}}, "parent_uid"),
    ("PATCH", "/keys/okx/{okx_key}", {"ips": "10.0.0.1", "revoked": "yes"}, "revoked"),
    ("PATCH", "/keys/okx/{okx_key}", {"expires_at": [1]}, "expires_at"),
    ("PATCH", "/keys/okx/{okx_key}", {"permissions": [None]}, "permissions"),
    ("PATCH", "/keys/okx/{okx_key}", {"label": 3}, "label"),
    ("PATCH", "/accounts/okx/{okx_uid}", {"suspended": "true"}, "suspended"),
    ("POST", "/accounts/okx/{okx_uid}/fund", {"asset": 5, "amount": "1"}, "asset"),
    ("POST", "/accounts/okx/{okx_uid}/fund", {"asset": "BTC", "amount": "1e999999"}, "amount"),
    ("POST", "/maintenance", {"exchange": "okx", "on": "off"}, "on"),
    ("POST", "/prices", {"symbol": 5, "price": "1"}, "symbol"),
    ("POST", "/walk", {"seed": [1]}, "seed"),
    ("POST", "/walk", {"step_seconds": "fast"}, "step_seconds"),
    ("POST", "/limits", {"exchange": "okx", "weight_per_window": "many"}, "weight_per_window"),
    ("POST", "/limits", {"exchange": "okx", "weight_per_window": 5, "enabled": "no"}, "enabled"),
    ("POST", "/limits/reset", {"exchange": 5}, "exchange"),
    ("POST", "/keys", json.loads(nested(50, "object")), "exchange"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), ADMIN_BAD,
                         ids=[f"{m} {p} {f}" for m, p, _, f in ADMIN_BAD])
def test_admin_wrong_types_are_422_naming_the_field_and_change_nothing(
        exchange: SandboxServer, keys: dict[str, dict[str, Any]], method: str, path: str, body: dict[str, Any],
        field: str) -> None:
    admin = httpx.Client(base_url=exchange.url + "/sandbox/v1", timeout=10)
    okx = keys["okx"]
    path = path.format(okx_key=okx["api_key"], okx_uid=okx["uid"])
    before = (admin.get("/accounts").json(), admin.get(f"/keys/okx/{okx['api_key']}").json(),
              admin.get("/health").json()["maintenance"])
    r = admin.request(method, path, json=body)
    assert (r.status_code, r.json().get("field")) == (422, field), r.text
    after = (admin.get("/accounts").json(), admin.get(f"/keys/okx/{okx['api_key']}").json(),
             admin.get("/health").json()["maintenance"])
    assert after == before


@pytest.mark.parametrize("body", [nested(1000, "array"), nested(100_000, "object"), b"\xff\xfe{", b"[1]"])
def test_admin_bodies_that_are_not_an_object_are_422(exchange: SandboxServer, body: bytes) -> None:
    r = httpx.post(exchange.url + "/sandbox/v1/keys", content=body)
    assert (r.status_code, r.json()["field"]) == (422, "body"), r.text


# ---- a seeded fuzz of the order endpoints, signed, so the handlers themselves see the values ----

ODD: list[Any] = [None, True, False, 0, -1, 1.5, 10**30, -(10**30), 1e308, "", " ", "1_0", "1e1", "+1", "0x1", "NaN",
                  "Infinity", "-0", "1e999999999", "9" * 5000, "\x00", "\u00e9", "\U0001d7d9", "\u0661", [], {}, [1],
                  {"a": 1}, "a" * 10000, "0." + "0" * 30 + "1", "1" * 25, "BTC-USDT", "BTCUSDT", "buy", "Buy",
                  "limit", "Limit", "market", "spot", "cash"]
ORDERS: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "binance": ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "20000",
                 "timeInForce": "GTC", "quoteOrderQty": None, "newClientOrderId": None, "newOrderRespType": None,
                 "orderId": None, "origClientOrderId": None, "limit": None, "recvWindow": None},
                [("POST", "/api/v3/order"), ("POST", "/api/v3/order/test"), ("GET", "/api/v3/order"),
                 ("DELETE", "/api/v3/order"), ("GET", "/api/v3/openOrders"), ("GET", "/api/v3/allOrders"),
                 ("GET", "/api/v3/myTrades"), ("POST", "/sapi/v1/capital/withdraw/apply")]),
    "okx": ({"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.001",
             "px": "20000", "tgtCcy": None, "clOrdId": None, "tag": None, "ordId": None, "instType": None,
             "limit": None, "begin": None, "ccy": None, "amt": None},
            [("POST", "/api/v5/trade/order"), ("POST", "/api/v5/trade/batch-orders"),
             ("POST", "/api/v5/trade/cancel-order"), ("GET", "/api/v5/trade/order"),
             ("GET", "/api/v5/trade/orders-history"), ("GET", "/api/v5/trade/fills"),
             ("POST", "/api/v5/asset/withdrawal")]),
    "bybit": ({"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
               "price": "20000", "timeInForce": None, "marketUnit": None, "orderLinkId": None, "orderId": None,
               "limit": None, "startTime": None, "coin": None, "amount": None},
              [("POST", "/v5/order/create"), ("POST", "/v5/order/cancel"), ("GET", "/v5/order/realtime"),
               ("GET", "/v5/order/history"), ("GET", "/v5/execution/list"), ("POST", "/v5/asset/withdraw/create")]),
}


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_fuzzed_order_requests_never_get_a_500(sign: dict[str, Signer], name: str) -> None:
    rnd = random.Random(f"sandbox-fuzz-{name}")
    base, endpoints = ORDERS[name]
    for _ in range(250):
        method, path = rnd.choice(endpoints)
        params = {k: v for k, v in base.items() if v is not None}
        for field in rnd.sample(sorted(base), rnd.randint(1, 3)):
            params[field] = rnd.choice(ODD)
        params = {k: v for k, v in params.items() if v is not None}
        if name == "binance" or method == "GET":
            query = urlencode({k: as_text(v) for k, v in params.items()})
            r = sign[name](method, path, b"", query)
        else:
            shape = rnd.choice([params, params, params, [params], [params, params], [[params]], "x", 1, None])
            r = sign[name](method, path, json.dumps(shape).encode(), "")
        envelope(name, r)
