"""Incidents that never hide bad keys: key-specific answers stay the key's however many keys get them at once;
an incident comes only from exchange-wide evidence (the exchange's status endpoint, a public canary), is kept in
the app database, and ends by itself. Real sandbox over HTTP, real Sign Center, SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from cexlink.signer.client import SignerClient
from tests.support.platform import EGRESS, Platform, body, start_platform
from tests.support.platform import monitor_worker as worker

SIX = 6


def connect_six(platform: Platform, new_key, exchange: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for i in range(SIX):
        key = new_key(exchange, ips=EGRESS)
        with platform.client("alice") as c:
            r = c.post("/api/v1/accounts", json=body(key, exchange, name=f"acct {i}"))
        assert r.status_code == 201, r.text
        out.append((r.json(), key))
    return out


def incidents(platform: Platform, exchange: str) -> list[dict[str, Any]]:
    answer = httpx.get(platform.url + "/api/v1/exchanges/status").json()["incidents"]
    return [i for i in answer if i["exchange"] == exchange]


def refresh(platform: Platform, account: dict[str, Any]) -> dict[str, Any]:
    with platform.client("alice") as c:
        r = c.post(f"/api/v1/accounts/{account['id']}/refresh")
    assert r.status_code == 200, r.text
    return r.json()




def test_six_keys_revoked_by_the_platform_all_show_revoked(platform: Platform, new_key) -> None:
    accounts = connect_six(platform, new_key, "bybit")
    client = SignerClient(socket_path=platform.signer.socket)
    try:
        for account, _ in accounts:  # the platform's own mass revocation (the hard reset's effect on keys)
            client.revoke(account["credential_id"])
    finally:
        client.close()
    for account, _ in accounts:
        out = refresh(platform, account)
        assert out["status"] == "revoked", out
        assert "revoked by the platform" in out["status_message"]
        assert "Your key is fine" not in out["status_remedy"] and "incident" not in out["status_message"]
    assert incidents(platform, "bybit") == []
    with platform.client("alice") as c:  # re-read later, by another request: still the key's own status
        assert {c.get(f"/api/v1/accounts/{a['id']}").json()["status"] for a, _ in accounts} == {"revoked"}


def test_six_keys_deleted_on_the_exchange_each_show_their_own_status(platform: Platform, new_key, admin) -> None:
    accounts = connect_six(platform, new_key, "binance")
    for _, key in accounts:  # the exchange deletes every key at once (its own mass revocation)
        assert admin.delete(f"/keys/binance/{key['api_key']}").status_code == 200
    for account, _ in accounts:
        out = refresh(platform, account)
        assert out["status"] not in ("ok", "exchange_unavailable", "exchange_maintenance"), out
        assert "Your key is fine" not in out["status_remedy"]
    assert incidents(platform, "binance") == []


def test_a_status_endpoint_reporting_maintenance_is_an_incident_that_ends_by_itself(platform: Platform,
                                                                                     admin) -> None:
    with worker(platform) as (monitor, loop):
        assert loop.run_until_complete(monitor.watch_exchange("okx"))["status_endpoint"] == "none"
        assert admin.post("/maintenance", json={"exchange": "okx", "on": True}).status_code == 200
        try:
            seen = loop.run_until_complete(monitor.watch_exchange("okx"))
            assert seen["status_endpoint"] == "started", seen
            now = incidents(platform, "okx")
            assert [i["cause"] for i in now if i["cause"] == "status_endpoint"] == ["status_endpoint"]
            assert "maintenance" in now[0]["message"] and now[0]["started_at"] and now[0]["ended_at"] is None
            # Another process (the API server) reads the same incident: it is in the database, not in memory.
            assert loop.run_until_complete(monitor.watch_exchange("okx"))["status_endpoint"] == "ongoing"
        finally:
            admin.post("/maintenance", json={"exchange": "okx", "on": False})
        seen = loop.run_until_complete(monitor.watch_exchange("okx"))
        assert seen["status_endpoint"] == "ended", seen
        assert incidents(platform, "okx") == []
        ended = monitor.service.incidents.history("okx")
        assert ended and all(i["ended_at"] is not None for i in ended)


def test_a_failing_status_endpoint_alone_declares_nothing(platform: Platform, admin) -> None:
    """The status endpoint erring (a 5xx) says nothing either way: the keyless canary still answers."""
    r = admin.post("/status-failure", json={"exchange": "bybit", "mode": "error", "http_status": 502})
    assert r.status_code == 200, r.text
    try:
        with worker(platform) as (monitor, loop):
            seen = loop.run_until_complete(monitor.watch_exchange("bybit"))
            assert seen == {"status_endpoint": "unknown", "canary": "none"}, seen
    finally:
        admin.post("/status-failure", json={"exchange": "bybit", "mode": "off"})
    assert [i for i in incidents(platform, "bybit") if i["cause"] != "transient_failures"] == []


def test_incidents_are_shared_by_processes(sandbox, admin, tmp_path: Path) -> None:
    """A worker declares, the API server (another process's view, over the same database) reports and ends it: the
    old board lived in each process's memory, so the CLI and the API disagreed."""
    platform = start_platform(tmp_path, sandbox.url)
    try:
        with worker(platform) as (monitor, loop):
            admin.post("/maintenance", json={"exchange": "binance", "on": True})
            try:
                loop.run_until_complete(monitor.watch_exchange("binance"))
            finally:
                admin.post("/maintenance", json={"exchange": "binance", "on": False})
            assert {i["cause"] for i in incidents(platform, "binance")} >= {"status_endpoint"}
            loop.run_until_complete(monitor.watch_exchange("binance"))
            assert incidents(platform, "binance") == []
    finally:
        platform.stop()
        platform.signer.stop()


def test_clock_skew_is_corrected_before_it_is_reported(sandbox_at, tmp_path: Path) -> None:
    server, clock = sandbox_at()
    platform = start_platform(tmp_path, server.url)
    try:
        key = httpx.post(server.url + "/sandbox/v1/keys", json={
            "exchange": "binance", "ips": EGRESS, "balances": {"USDT": "1000"}}).json()
        with platform.client() as c:
            account = c.post("/api/v1/accounts", json=body(key, "binance")).json()
            assert account["status"] == "ok"
            clock.advance(25)  # the exchange's clock runs 25 s ahead: recvWindow (10 s) alone would fail
            out = c.post(f"/api/v1/accounts/{account['id']}/refresh").json()
            assert out["status"] == "ok", out
            clock.advance(3600)  # an hour ahead: more than the Sign Center lets a caller correct for
            out = c.post(f"/api/v1/accounts/{account['id']}/refresh").json()
            assert out["status"] == "clock_skew", out
            assert "Your key" not in out["status_remedy"] or "NTP" in out["status_remedy"]
    finally:
        platform.stop()
        platform.signer.stop()
