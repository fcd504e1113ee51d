"""The exchanges' status endpoints on the sandbox, as stock ccxt's ``fetch_status()`` and raw HTTP see them: normal,
maintenance switched on, maintenance announced ahead that begins and ends with the sandbox clock, a status endpoint
that fails (5xx, hangs), and the admin inputs that set it all up.

Each test runs its own sandbox (``sandbox_at``): the session one is shared, and maintenance would refuse others'
requests."""

from __future__ import annotations

import time
from typing import Any

import ccxt
import httpx
import pytest

from cexlink.sandbox.clients import ccxt_client
from cexlink.sandbox.server import SandboxServer
from tests.conftest import SandboxAt
from tests.support.clock import START

EXCHANGES = ("binance", "okx", "bybit")
STATUS_PATH = {"binance": "/sapi/v1/system/status", "okx": "/api/v5/system/status", "bybit": "/v5/system/status"}
TIME_PATH = {"binance": "/api/v3/time", "okx": "/api/v5/public/time", "bybit": "/v5/market/time"}
HOUR_MS = 3_600_000
NOW_MS = int(START * 1000)
HREF = "https://status.example/maintenance/42"


def admin(server: SandboxServer) -> httpx.Client:
    return httpx.Client(base_url=server.url + "/sandbox/v1", timeout=10)


def status(server: SandboxServer, exchange: str, **config: Any) -> dict[str, Any]:
    result: dict[str, Any] = ccxt_client(exchange, server.url, **config).fetch_status()
    return result


def raw(server: SandboxServer, exchange: str, **params: str) -> httpx.Response:
    return httpx.get(server.url + STATUS_PATH[exchange], params=params, timeout=10)


def entries(server: SandboxServer, exchange: str, **params: str) -> list[dict[str, Any]]:
    """OKX's ``data`` or Bybit's ``result.list``."""
    r = raw(server, exchange, **params)
    assert r.status_code == 200, r.text
    body = r.json()
    return body["data"] if exchange == "okx" else body["result"]["list"]


def summary(s: dict[str, Any]) -> tuple[Any, Any, Any]:
    return s["status"], s["eta"], s["url"]


def other_calls_refused(server: SandboxServer, exchange: str) -> bool:
    """Whether a public call other than the status one meets the exchange's maintenance error (HTTP 503)."""
    r = httpx.get(server.url + TIME_PATH[exchange], timeout=10)
    assert r.status_code in (200, 503), r.text
    return r.status_code == 503


# ------------------------------------------------------------------ normal


def test_normal_status_is_ok_on_all_three(sandbox_at: SandboxAt) -> None:
    server, _ = sandbox_at(start=START)
    for exchange in EXCHANGES:
        assert summary(status(server, exchange)) == ("ok", None, None), exchange
    assert raw(server, "binance").json() == {"status": 0, "msg": "normal"}
    assert raw(server, "okx").json() == {"code": "0", "msg": "", "data": []}
    bybit = raw(server, "bybit").json()
    assert (bybit["retCode"], bybit["result"], bybit["time"]) == (0, {"list": []}, NOW_MS)


# ------------------------------------------------------------------ maintenance switched on, then off


def test_maintenance_switched_on_is_ongoing_and_switched_off_is_completed(sandbox_at: SandboxAt) -> None:
    server, clock = sandbox_at(start=START)
    with admin(server) as a:
        for exchange in EXCHANGES:
            r = a.post("/maintenance", json={"exchange": exchange, "on": True})
            assert r.status_code == 200, r.text
        # Switching on what is on already announces nothing new.
        a.post("/maintenance", json={"exchange": "okx", "on": True})
        assert a.get("/health").json()["maintenance"] == sorted(EXCHANGES)

        for exchange in EXCHANGES:
            assert status(server, exchange)["status"] == "maintenance", exchange
            assert other_calls_refused(server, exchange), exchange
        assert raw(server, "binance").json() == {"status": 1, "msg": "system_maintenance"}
        okx = entries(server, "okx")
        assert [(e["state"], e["begin"], e["end"], e["maintType"]) for e in okx] == \
            [("ongoing", str(NOW_MS), "", "2")]  # 2: unscheduled, no expected end
        assert set(okx[0]) == {"title", "state", "begin", "end", "preOpenBegin", "href", "serviceType", "system",
                               "scheDesc", "maintType", "env"}
        bybit = entries(server, "bybit")
        assert [(e["state"], e["begin"], e["end"], e["maintainType"]) for e in bybit] == \
            [("ongoing", str(NOW_MS), "", 2)]
        assert set(bybit[0]) == {"id", "title", "state", "begin", "end", "href", "serviceTypes", "product",
                                 "uidSuffix", "maintainType", "env"}

        clock.advance(600)
        for exchange in EXCHANGES:
            a.post("/maintenance", json={"exchange": exchange, "on": False})
        assert a.get("/health").json()["maintenance"] == []

    for exchange in EXCHANGES:
        assert status(server, exchange)["status"] == "ok", exchange
        assert not other_calls_refused(server, exchange), exchange
    assert entries(server, "okx") == []  # OKX lists completed work only when asked for
    done = entries(server, "okx", state="completed")
    assert [(e["state"], e["end"]) for e in done] == [("completed", str(NOW_MS + 600_000))]
    assert [(e["state"], e["end"]) for e in entries(server, "bybit")] == [("completed", str(NOW_MS + 600_000))]


# ------------------------------------------------------------------ announced ahead, then ongoing, then over


def test_announced_maintenance_is_scheduled_then_ongoing_then_completed(sandbox_at: SandboxAt) -> None:
    server, clock = sandbox_at(start=START)
    begin, end = NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS
    with admin(server) as a:
        for exchange in EXCHANGES:
            r = a.post("/maintenance", json={"exchange": exchange, "begin": begin, "end": end,
                                             "title": "Spot upgrade", "href": HREF})
            assert r.status_code == 200, r.text
            assert r.json()["window"]["state"] == "scheduled"

    # An hour ahead: trading goes on, the announcement is visible where the exchange shows one.
    assert summary(status(server, "binance")) == ("ok", None, None)  # Binance's endpoint has no schedule
    assert summary(status(server, "okx")) == ("ok", end, HREF)  # ccxt: eta is the entry's end
    assert summary(status(server, "bybit")) == ("ok", begin, HREF)  # ccxt: eta is when it begins
    assert [(e["state"], e["title"], e["maintType"]) for e in entries(server, "okx")] == \
        [("scheduled", "Spot upgrade", "1")]
    assert [(e["state"], e["maintainType"]) for e in entries(server, "bybit")] == [("scheduled", 1)]
    assert not any(other_calls_refused(server, ex) for ex in EXCHANGES)

    clock.advance(3600)  # the sandbox clock reaches begin: nobody switches anything
    for exchange in EXCHANGES:
        assert summary(status(server, exchange))[0] == "maintenance", exchange
        assert other_calls_refused(server, exchange), exchange
    assert summary(status(server, "okx")) == ("maintenance", end, HREF)
    assert summary(status(server, "bybit")) == ("maintenance", end, HREF)
    assert [e["state"] for e in entries(server, "okx")] == ["ongoing"]
    assert [e["state"] for e in entries(server, "okx", state="scheduled")] == []

    clock.advance(3600)  # past end: over by itself
    for exchange in EXCHANGES:
        assert summary(status(server, exchange)) == ("ok", None, None), exchange
        assert not other_calls_refused(server, exchange), exchange
    assert entries(server, "okx") == []
    assert [e["state"] for e in entries(server, "okx", state="completed")] == ["completed"]
    assert [e["state"] for e in entries(server, "bybit")] == ["completed"]


def test_switching_off_cancels_what_was_announced(sandbox_at: SandboxAt) -> None:
    server, clock = sandbox_at(start=START)
    with admin(server) as a:
        r = a.post("/maintenance", json={"exchange": "bybit", "begin": NOW_MS + HOUR_MS})
        window_id = r.json()["window"]["id"]
        a.post("/maintenance", json={"exchange": "bybit", "on": False})
    clock.advance(2 * 3600)  # past the begin it had
    assert status(server, "bybit")["status"] == "ok"
    assert not other_calls_refused(server, "bybit")
    assert [e["state"] for e in entries(server, "bybit", id=window_id)] == ["canceled"]
    assert entries(server, "bybit", state="ongoing") == []


def test_ccxt_sees_the_ongoing_window_beside_a_later_announcement(sandbox_at: SandboxAt) -> None:
    """ccxt's OKX parse takes the last entry: the ongoing one must not hide behind the one announced after it."""
    server, _ = sandbox_at(start=START)
    with admin(server) as a:
        a.post("/maintenance", json={"exchange": "okx", "end": NOW_MS + HOUR_MS})
        a.post("/maintenance", json={"exchange": "okx", "begin": NOW_MS + 5 * HOUR_MS, "end": NOW_MS + 6 * HOUR_MS})
    assert [e["state"] for e in entries(server, "okx")] == ["scheduled", "ongoing"]
    assert summary(status(server, "okx")) == ("maintenance", NOW_MS + HOUR_MS, None)


@pytest.mark.parametrize("exchange", ["okx", "bybit"])
def test_an_unknown_state_filter_is_the_exchanges_parameter_error(sandbox_at: SandboxAt, exchange: str) -> None:
    server, _ = sandbox_at(start=START)
    r = raw(server, exchange, state="sleeping")
    body = r.json()
    if exchange == "okx":
        assert (r.status_code, body["code"], body["msg"]) == (400, "51000", "Parameter state error")
    else:
        assert (r.status_code, body["retCode"], body["retMsg"]) == (200, 10001, "params error: state invalid")


# ------------------------------------------------------------------ a status endpoint that fails


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_a_failing_status_endpoint_answers_5xx_then_recovers(sandbox_at: SandboxAt, exchange: str) -> None:
    server, _ = sandbox_at(start=START)
    with admin(server) as a:
        r = a.post("/status-failure", json={"exchange": exchange, "mode": "error", "http_status": 502, "times": 2})
        assert r.status_code == 200, r.text
        with pytest.raises(ccxt.ExchangeNotAvailable):
            status(server, exchange)
        failed = raw(server, exchange)
        assert failed.status_code == 502 and failed.headers["content-type"].startswith("text/html")
        assert not other_calls_refused(server, exchange)  # only the status endpoint is down
        assert status(server, exchange)["status"] == "ok"  # after two failures it recovers by itself
        assert a.get("/maintenance").json()["failures"] == {}

        a.post("/status-failure", json={"exchange": exchange, "mode": "error"})  # until switched off
        for _ in range(3):
            assert raw(server, exchange).status_code == 503
        a.post("/status-failure", json={"exchange": exchange, "mode": "off"})
        assert raw(server, exchange).status_code == 200


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_a_hanging_status_endpoint_times_the_client_out(sandbox_at: SandboxAt, exchange: str) -> None:
    server, _ = sandbox_at(start=START)
    with admin(server) as a:
        a.post("/status-failure", json={"exchange": exchange, "mode": "hang", "seconds": 1.5, "times": 1})
        started = time.monotonic()
        with pytest.raises(ccxt.RequestTimeout):
            status(server, exchange, timeout=300)
        assert time.monotonic() - started < 1.2
        assert status(server, exchange, timeout=300)["status"] == "ok"  # one hang only

        a.post("/status-failure", json={"exchange": exchange, "mode": "hang", "seconds": 0.5})
        started = time.monotonic()
        assert raw(server, exchange).status_code == 200  # a patient client gets the answer, late
        assert time.monotonic() - started >= 0.5
        a.post("/status-failure", json={"exchange": exchange, "mode": "off"})


# ------------------------------------------------------------------ admin inputs

BAD_ADMIN: list[tuple[str, dict[str, Any], str]] = [
    ("/maintenance", {"exchange": "kraken"}, "exchange"),
    ("/maintenance", {"exchange": "okx", "on": "yes"}, "on"),
    ("/maintenance", {"exchange": "okx", "begin": "soon"}, "begin"),
    ("/maintenance", {"exchange": "okx", "begin": -1}, "begin"),
    ("/maintenance", {"exchange": "okx", "begin": True}, "begin"),
    ("/maintenance", {"exchange": "okx", "end": NOW_MS - 1}, "end"),
    ("/maintenance", {"exchange": "okx", "begin": NOW_MS + 2 * HOUR_MS, "end": NOW_MS + HOUR_MS}, "end"),
    ("/maintenance", {"exchange": "okx", "end": 1.5e15}, "end"),
    ("/maintenance", {"exchange": "okx", "title": 5}, "title"),
    ("/maintenance", {"exchange": "okx", "href": "x" * 201}, "href"),
    ("/maintenance", {"exchange": "okx", "colour": "red"}, "colour"),
    ("/maintenance", {"exchange": "okx", "on": False, "begin": NOW_MS + HOUR_MS}, "begin"),
    ("/status-failure", {"exchange": "okx"}, "mode"),
    ("/status-failure", {"exchange": "okx", "mode": "explode"}, "mode"),
    ("/status-failure", {"exchange": "bitmex", "mode": "error"}, "exchange"),
    ("/status-failure", {"exchange": "okx", "mode": "error", "http_status": 404}, "http_status"),
    ("/status-failure", {"exchange": "okx", "mode": "error", "http_status": 600}, "http_status"),
    ("/status-failure", {"exchange": "okx", "mode": "error", "http_status": "503"}, "http_status"),
    ("/status-failure", {"exchange": "okx", "mode": "error", "seconds": 3}, "seconds"),
    ("/status-failure", {"exchange": "okx", "mode": "error", "times": 0}, "times"),
    ("/status-failure", {"exchange": "okx", "mode": "error", "times": True}, "times"),
    ("/status-failure", {"exchange": "okx", "mode": "hang"}, "seconds"),
    ("/status-failure", {"exchange": "okx", "mode": "hang", "seconds": 0}, "seconds"),
    ("/status-failure", {"exchange": "okx", "mode": "hang", "seconds": 601}, "seconds"),
    ("/status-failure", {"exchange": "okx", "mode": "hang", "seconds": 1, "http_status": 503}, "http_status"),
    ("/status-failure", {"exchange": "okx", "mode": "off", "times": 1}, "times"),
]


def test_bad_admin_inputs_are_422_naming_the_field_and_change_nothing(sandbox_at: SandboxAt) -> None:
    server, _ = sandbox_at(start=START)
    with admin(server) as a:
        before = a.get("/maintenance").json()
        for path, body, field in BAD_ADMIN:
            r = a.post(path, json=body)
            assert (r.status_code, r.json().get("field")) == (422, field), (path, body, r.text)
            assert field in r.json()["error"]
        assert a.get("/maintenance").json() == before
    for exchange in EXCHANGES:
        assert raw(server, exchange).status_code == 200
        assert status(server, exchange)["status"] == "ok"
