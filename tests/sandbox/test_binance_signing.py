"""Binance signing over raw bytes (official vectors, parameters split between query and body, signature
anywhere), timing in ms and µs, and malformed requests answered with Binance's error JSON, never a 500."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cexlink.sandbox.binance import signed_payload
from cexlink.sandbox.server import SandboxServer

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "binance.json").read_text())
NewKey = Callable[..., dict[str, Any]]
FORM = {"content-type": "application/x-www-form-urlencoded"}


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"].split(":")[0])
def test_official_vectors(vector: dict[str, str]) -> None:
    sig, query, body = vector["signature"], vector["query"], vector["body"]
    placements = [("&".join(filter(None, (query, f"signature={sig}"))), body)]
    if body:
        placements.append((query, f"{body}&signature={sig}"))
    for q, b in placements:
        payload, signature = signed_payload(q, b.encode())
        assert (payload, signature) == (query + body, sig)
        assert sign(vector["secret"], payload) == sig


def test_signature_anywhere_in_the_query() -> None:
    assert signed_payload("signature=ab&a=1&b=2", b"") == ("a=1&b=2", "ab")
    assert signed_payload("a=1&signature=ab&b=2", b"") == ("a=1&b=2", "ab")
    assert signed_payload("a=1&xsignature=1", b"c=2&signature=cd") == ("a=1&xsignature=1c=2", "cd")


def raw(sandbox: SandboxServer, key: dict[str, Any], method: str, path: str, query: str = "", body: str = "",
        sig_in: str = "query", headers: dict[str, str] | None = None, secret: str | None = None) -> httpx.Response:
    """A hand-signed request: HMAC over query + body exactly as sent, the signature appended where asked."""
    sig = sign(secret or key["secret"], query + body)
    if sig_in == "query":
        query = f"{query}&signature={sig}" if query else f"signature={sig}"
    elif sig_in == "body":
        body = f"{body}&signature={sig}" if body else f"signature={sig}"
    else:  # the middle of the query
        first, _, rest = query.partition("&")
        query = f"{first}&signature={sig}&{rest}"
    url = sandbox.url + path + (f"?{query}" if query else "")
    return httpx.request(method, url, content=body.encode(), headers={"X-MBX-APIKEY": key["api_key"], **FORM,
                                                                      **(headers or {})})


def ts(offset_ms: int = 0) -> int:
    return int(time.time() * 1000) + offset_ms


def assert_binance_error(r: httpx.Response, status: int, code: int, msg: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["code"] == code and set(r.json()) == {"code", "msg"}, r.text
    if msg is not None:
        assert r.json()["msg"] == msg


def test_params_split_between_query_and_body(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance")
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = f"quantity=0.001&price=20000&recvWindow=5000&timestamp={ts()}"
    for where in ("body", "query"):
        r = raw(sandbox, key, "POST", "/api/v3/order", query, body, sig_in=where)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "NEW" and r.json()["origQty"] == "0.00100000"
    assert r.headers["X-MBX-ORDER-COUNT-10S"] == "2"


def test_query_wins_over_body_on_duplicates(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance")
    body = f"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=20000&timestamp={ts()}"
    r = raw(sandbox, key, "POST", "/api/v3/order", "quantity=0.002", body)
    assert r.status_code == 200, r.text
    assert r.json()["origQty"] == "0.00200000"


def test_signature_in_the_middle_of_the_query(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance")
    r = raw(sandbox, key, "GET", "/api/v3/account", f"omitZeroBalances=true&timestamp={ts()}", sig_in="middle")
    assert r.status_code == 200, r.text
    assert {b["asset"] for b in r.json()["balances"]} == {"BTC", "ETH", "USDT"}
    assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) >= 20


def test_tampered_param_fails_signature(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance")
    query = f"symbol=BTCUSDT&timestamp={ts()}"
    sig = sign(key["secret"], query)
    url = f"{sandbox.url}/api/v3/openOrders?{query.replace('BTCUSDT', 'ETHUSDT')}&signature={sig}"
    r = httpx.get(url, headers={"X-MBX-APIKEY": key["api_key"]})
    assert_binance_error(r, 400, -1022, "Signature for this request is not valid.")
    r = httpx.get(f"{sandbox.url}/api/v3/openOrders?{query}&signature={sig.upper()}",
                  headers={"X-MBX-APIKEY": key["api_key"]})
    assert r.status_code == 200 and r.json() == []  # hex signatures are case-insensitive


def test_microsecond_timestamps_and_time_unit(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance")
    r = raw(sandbox, key, "GET", "/api/v3/account", f"timestamp={ts() * 1000}")
    assert r.status_code == 200, r.text
    ms = r.json()["updateTime"]
    r = raw(sandbox, key, "GET", "/api/v3/account", f"timestamp={ts()}", headers={"X-MBX-TIME-UNIT": "MICROSECOND"})
    assert r.json()["updateTime"] >= ms * 1000
    r = httpx.get(sandbox.url + "/api/v3/time", headers={"X-MBX-TIME-UNIT": "MICROSECOND"})
    assert abs(r.json()["serverTime"] - time.time() * 1_000_000) < 5_000_000


def test_missing_timestamp_and_signature(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance")
    r = httpx.get(sandbox.url + "/api/v3/account", headers={"X-MBX-APIKEY": key["api_key"]})
    assert_binance_error(r, 400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    r = httpx.get(f"{sandbox.url}/api/v3/account?timestamp={ts()}", headers={"X-MBX-APIKEY": key["api_key"]})
    assert_binance_error(r, 400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    r = httpx.get(f"{sandbox.url}/api/v3/account?timestamp={ts()}")
    assert_binance_error(r, 401, -2014, "API-key format invalid.")


def test_malformed_input_never_500(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance")
    order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=20000"
    r = raw(sandbox, key, "POST", "/api/v3/order", body=f"{order}&quantity=abc&timestamp={ts()}", sig_in="body")
    assert_binance_error(r, 400, -1100)
    assert r.json()["msg"].startswith("Illegal characters found in parameter 'quantity'")
    r = raw(sandbox, key, "POST", "/api/v3/order", body=f"side=BUY&type=MARKET&quantity=1&timestamp={ts()}")
    assert_binance_error(r, 400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    # A JSON body is not a form: its "parameters" are not read, so the mandatory ones are missing.
    r = raw(sandbox, key, "POST", "/api/v3/order", f"timestamp={ts()}", body='{"symbol":"BTCUSDT"}')
    assert_binance_error(r, 400, -1102)
    query, body = f"timestamp={ts()}", b"symbol=\xff\xfe"  # not UTF-8
    sig = hmac.new(key["secret"].encode(), query.encode() + body, hashlib.sha256).hexdigest()
    r = httpx.post(f"{sandbox.url}/api/v3/order?{query}&signature={sig}", content=body,
                   headers={"X-MBX-APIKEY": key["api_key"], **FORM})
    assert_binance_error(r, 400, -1100)
    r = raw(sandbox, key, "GET", "/api/v3/allOrders", f"symbol=BTCUSDT&limit=lots&timestamp={ts()}")
    assert_binance_error(r, 400, -1100)
    r = raw(sandbox, key, "GET", "/api/v3/order", f"symbol=BTCUSDT&orderId=x1&timestamp={ts()}")
    assert_binance_error(r, 400, -1100)
    r = raw(sandbox, key, "GET", "/api/v3/account", "timestamp=soon&recvWindow=5000")
    assert_binance_error(r, 400, -1102)
    for path in ("/api/v3/nonesuch", "/api/v3/order/oco"):
        r = raw(sandbox, key, "GET", path, f"timestamp={ts()}")
        assert_binance_error(r, 404, -1000)
