"""A platform that keeps watching: the health monitor brings accounts back by itself, backs off, shares the work
between workers on PostgreSQL, and a frozen Sign Center is the platform's problem, never written into an account.
Real sandbox over HTTP, real Sign Center process, SQLite and PostgreSQL; the monitor's clock is the test's."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cexlink.accounts.monitor import MonitorConfig, Schedule, key_lifecycle, monitor_config_from_env
from cexlink.domain.statuses import Status
from cexlink.errors import ConfigError
from tests.support.clock import Clock
from tests.support.platform import EGRESS, Platform, body, start_platform
from tests.support.platform import monitor_worker as worker

DAY = 86_400.0


def connect(platform: Platform, new_key, exchange: str, name: str = "main") -> dict[str, Any]:
    key = new_key(exchange, ips=EGRESS)
    with platform.client("alice") as c:
        r = c.post("/api/v1/accounts", json=body(key, exchange, name))
    assert r.status_code == 201, r.text
    return r.json()


def show(platform: Platform, account_id: int) -> dict[str, Any]:
    with platform.client("alice") as c:
        return c.get(f"/api/v1/accounts/{account_id}").json()


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text)




# ---- pure parts: the schedule, the key's lifecycle, the switch ----

def test_backoff_starts_within_a_minute_and_stops_at_fifteen() -> None:
    s = Schedule()
    delays = [s.delay_s(Status.EXCHANGE_MAINTENANCE, n) for n in range(1, 10)]
    assert delays[0] <= 60 and delays == sorted(delays) and max(delays) == 900
    assert s.delay_s(Status.OK, 0) == DAY and s.delay_s(Status.INVALID_API_KEY, 0) == DAY


def test_key_lifecycle_raised_ahead_and_withdrawn() -> None:
    config = MonitorConfig(rotate_after_days=90)
    born = datetime(2026, 1, 1, tzinfo=UTC)
    expires = born + timedelta(days=120)
    at = lambda days: born + timedelta(days=days)  # noqa: E731
    assert key_lifecycle(born, expires, born, at(10), config) == ("ok", {})
    state, notices = key_lifecycle(born, expires, born, at(84), config)  # a week before the 90 days
    assert state == "ok" and set(notices) == {"key_rotation_due"} and "2026-04-01" in notices["key_rotation_due"]
    state, notices = key_lifecycle(born, expires, born, at(110), config)
    assert state == "expire_soon" and "2026-05-01" in notices["key_expire_soon"]
    assert key_lifecycle(born, expires, born, at(121), config)[0] == "expired"
    # A new key (Update API Key): nothing is true any more, so everything is withdrawn.
    assert key_lifecycle(at(121), None, born, at(122), config) == ("ok", {})


def test_the_monitor_switch_and_rotation_age_from_the_environment() -> None:
    assert monitor_config_from_env({}) == MonitorConfig()
    assert monitor_config_from_env({"CEXLINK_MONITOR": "false"}) is None
    assert monitor_config_from_env({"CEXLINK_ROTATE_AFTER_DAYS": "30"}).rotate_after_days == 30  # type: ignore
    for env, field in (({"CEXLINK_MONITOR": "maybe"}, "CEXLINK_MONITOR"),
                       ({"CEXLINK_ROTATE_AFTER_DAYS": "-1"}, "CEXLINK_ROTATE_AFTER_DAYS")):
        with pytest.raises(ConfigError, match=field):
            monitor_config_from_env(env)


# ---- on the sandbox ----

def test_the_monitor_brings_an_account_back_after_maintenance(sandbox, new_key, admin, tmp_path: Path) -> None:
    platform = start_platform(tmp_path, sandbox.url)
    clock = Clock(time.time())
    try:
        account = connect(platform, new_key, "bybit")
        assert account["next_check_at"] and iso(account["next_check_at"]) > iso(account["last_checked_at"])
        with worker(platform, clock) as (monitor, loop):
            assert loop.run_until_complete(monitor.run_once())["checked"] == {}  # nothing due yet
            clock.advance(DAY + 60)  # the daily check is due
            admin.post("/maintenance", json={"exchange": "bybit", "on": True})
            try:
                round1 = loop.run_until_complete(monitor.run_once())
                # Bybit answers maintenance with a bare 503 "Server error.": unavailable, transient either way.
                transient = ("exchange_maintenance", "exchange_unavailable")
                assert list(round1["checked"]) == [account["id"]] and round1["checked"][account["id"]] in transient
                during = show(platform, account["id"])
                assert during["status"] in transient
                retry = iso(during["next_check_at"]) - iso(during["last_checked_at"])
                assert timedelta(0) < retry <= timedelta(minutes=1)  # "the platform retries automatically"
                assert during["balances_stale"] is True  # the balances shown are from before, and say so
                assert iso(during["balances_read_at"]) < iso(during["last_checked_at"])
                assert monitor.service.incidents.active("bybit"), "the exchange said so: an incident"
            finally:
                admin.post("/maintenance", json={"exchange": "bybit", "on": False})
            clock.advance(61)
            round2 = loop.run_until_complete(monitor.run_once())  # nobody presses Refresh
            assert round2["checked"] == {account["id"]: "ok"}, round2
            assert monitor.service.incidents.active("bybit") == []
        after = show(platform, account["id"])
        assert after["status"] == "ok" and after["balances_stale"] is False
        assert after["balances_read_at"] == after["last_checked_at"]
        assert iso(after["next_check_at"]) - iso(after["last_checked_at"]) == timedelta(days=1)
    finally:
        platform.stop()
        platform.signer.stop()


def test_a_frozen_sign_center_is_the_platforms_status_and_changes_no_account(sandbox, new_key,
                                                                              tmp_path: Path) -> None:
    platform = start_platform(tmp_path, sandbox.url)
    try:
        account = connect(platform, new_key, "binance")
        before = show(platform, account["id"])
        os.kill(platform.signer.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with platform.client("alice") as c:
                r = c.post(f"/api/v1/accounts/{account['id']}/refresh")
            took = time.monotonic() - started
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "sign_center_unavailable"
            assert "signing service" in r.json()["message"]
            assert took < 15, took  # the client's timeout (10 s), not for ever
            now = show(platform, account["id"])
            for field in ("status", "status_message", "status_remedy", "status_code", "last_checked_at",
                          "balances", "balances_read_at"):
                assert now[field] == before[field], field
        finally:
            os.kill(platform.signer.proc.pid, signal.SIGCONT)
        with platform.client("alice") as c:
            assert c.post(f"/api/v1/accounts/{account['id']}/refresh").json()["status"] == "ok"
    finally:
        platform.stop()
        platform.signer.stop()


def test_two_workers_on_postgresql_never_check_one_account_twice(sandbox, new_key, pg_url,
                                                                  tmp_path: Path) -> None:
    platform = start_platform(tmp_path, sandbox.url, pg_url())
    try:
        ids = {connect(platform, new_key, "binance", f"a{i}")["id"] for i in range(8)}
        results: list[dict[int, str]] = []
        gate = threading.Barrier(2)

        def run() -> None:
            clock = Clock(time.time() + DAY + 60)
            with worker(platform, clock, batch=100) as (monitor, loop):
                gate.wait()
                results.append(loop.run_until_complete(monitor.run_once())["checked"])

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(results) == 2
        first, second = (set(r) for r in results)
        assert first & second == set(), results
        assert first | second == ids
        assert all(status == "ok" for r in results for status in r.values())
    finally:
        platform.stop()
        platform.signer.stop()
