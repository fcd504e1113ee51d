"""The third kind of incident evidence (incidents.py): three connections of one exchange checked with a transient
status (rate limited, here) within the window declare a ``transient_failures`` incident, key-specific statuses never
count towards it nor join it, and it ends by itself: at the first ok check of a connection of the exchange, or once
none has been seen for the quiet period. The exchange's status endpoint says "ok" and the public canary answers
throughout, so the incident is the accounts' alone.

Bybit limits per API key (its per-UID limit) and the keyless calls per IP, and a key check makes four private calls:
a limit of 3 per window refuses every key check (rate_limited, retCode 10006) while the canary (two public calls,
status and server time) still answers. Real platform over HTTP, real Sign Center, the session's sandbox, SQLite and
PostgreSQL; the worker's clock is the test's where the window and the quiet period are at stake."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cexlink.accounts.incidents import EVIDENCE_STATUSES, IncidentRules
from tests.support.clock import Clock
from tests.support.platform import EGRESS, Platform, body, start_platform
from tests.support.platform import monitor_worker as worker
from tests.support.sandbox import limits

EXCHANGE = "bybit"
KEY_CHECK_CALLS = 4  # query-api and the three calls of fetch_balance, each on the key's own window
TIGHT = {"weight_per_window": KEY_CHECK_CALLS - 1, "window_seconds": 600, "ban_after": 0}
RULES = IncidentRules()
TRANSIENT = {s.value for s in EVIDENCE_STATUSES}


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, sandbox, tmp_path: Path) -> Iterator[Platform]:
    """A platform of the test's own: no other test's connections count towards its window."""
    database = request.getfixturevalue("pg_url")() if request.param == "postgresql" else None
    p = start_platform(tmp_path, sandbox.url, database)
    try:
        yield p
    finally:
        p.stop()
        p.signer.stop()


def connect(platform: Platform, new_key, count: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for i in range(count):
        key = new_key(EXCHANGE, ips=EGRESS)
        with platform.client("alice") as c:
            r = c.post("/api/v1/accounts", json=body(key, EXCHANGE, name=f"acct {i}"))
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "ok", r.json()
        out.append((r.json(), key))
    return out


def refresh(platform: Platform, account: dict[str, Any]) -> dict[str, Any]:
    with platform.client("alice") as c:
        r = c.post(f"/api/v1/accounts/{account['id']}/refresh")
    assert r.status_code == 200, r.text
    return r.json()


def incidents(platform: Platform) -> list[dict[str, Any]]:
    r = httpx.get(platform.url + "/api/v1/exchanges/status")
    assert r.status_code == 200, r.text
    return [i for i in r.json()["incidents"] if i["exchange"] == EXCHANGE]


def exchange_itself_is_well(platform: Platform, admin: httpx.Client) -> None:
    """The sandbox has no maintenance on, and the worker's own look at the exchange (status endpoint, then the
    keyless canary) finds nothing: whatever incident is open is not theirs."""
    state = admin.get("/maintenance", params={"exchange": EXCHANGE}).json()
    assert EXCHANGE not in state["maintenance"] and state["failures"] == {}, state
    # Every caller's window starts afresh: the canary has the three units it needs two of. A key check still needs
    # four, so this changes nothing for the keys.
    assert admin.post("/limits/reset", json={"exchange": EXCHANGE}).status_code == 200
    with worker(platform) as (monitor, loop):
        seen = loop.run_until_complete(monitor.watch_exchange(EXCHANGE))
    assert seen == {"status_endpoint": "none", "canary": "none"}, seen


def test_three_rate_limited_connections_declare_an_incident_an_ok_check_ends(fresh: Platform, new_key,
                                                                              admin: httpx.Client) -> None:
    platform = fresh
    accounts = [a for a, _ in connect(platform, new_key, RULES.min_accounts + 1)]
    with limits(admin, EXCHANGE, **TIGHT):
        for n, account in enumerate(accounts[:RULES.min_accounts], 1):
            out = refresh(platform, account)
            assert out["status"] == "rate_limited" and out["status_code"] == "10006", out
            if n < RULES.min_accounts:  # one or two connections limited: their own trouble, no incident yet
                assert incidents(platform) == [], n
        now = incidents(platform)
        assert [i["cause"] for i in now] == ["transient_failures"], now
        incident = now[0]
        assert incident["accounts"] == RULES.min_accounts and incident["ended_at"] is None
        assert incident["evidence"] == {"accounts": RULES.min_accounts, "window_s": RULES.window_s}
        assert f"fails for {RULES.min_accounts} connections at once" in incident["message"]
        assert incident["message"].startswith(EXCHANGE)
        exchange_itself_is_well(platform, admin)
        assert [i["id"] for i in incidents(platform)] == [incident["id"]]  # the canary answering ends nothing
        # A fourth connection limited while the incident is open joins it; no second incident is declared.
        assert refresh(platform, accounts[-1])["status"] == "rate_limited"
        now = incidents(platform)
        assert [(i["id"], i["accounts"]) for i in now] == [(incident["id"], RULES.min_accounts + 1)], now
    # The limits are generous again: the first connection that checks ok ends the incident by itself.
    assert refresh(platform, accounts[0])["status"] == "ok"
    assert incidents(platform) == []
    with worker(platform) as (monitor, _):
        ended = [i for i in monitor.service.incidents.history(EXCHANGE) if i["id"] == incident["id"]]
    assert ended and ended[0]["ended_at"] is not None
    with platform.client("alice") as c:  # and every connection of the exchange is due for a check at once
        for account in accounts[1:]:
            shown = c.get(f"/api/v1/accounts/{account['id']}").json()
            assert shown["status"] == "rate_limited"
            assert iso(shown["next_check_at"]) == iso(ended[0]["ended_at"]), shown


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_key_specific_statuses_never_count_nor_join(fresh: Platform, new_key, admin: httpx.Client) -> None:
    platform = fresh
    connected = connect(platform, new_key, 2 * RULES.min_accounts)
    bad, good = connected[:RULES.min_accounts], [a for a, _ in connected[RULES.min_accounts:]]
    # Three keys go bad at once on the exchange: deleted, IP list changed, revoked (Bybit: an unknown key, 10003).
    assert admin.delete(f"/keys/{EXCHANGE}/{bad[0][1]['api_key']}").status_code == 200
    assert admin.patch(f"/keys/{EXCHANGE}/{bad[1][1]['api_key']}", json={"ips": ["10.9.9.9"]}).status_code == 200
    assert admin.patch(f"/keys/{EXCHANGE}/{bad[2][1]['api_key']}", json={"revoked": True}).status_code == 200
    key_specific = set()
    for account, _ in bad:
        out = refresh(platform, account)
        assert out["status"] not in TRANSIENT | {"ok", "unknown", "clock_skew"}, out
        key_specific.add(out["status"])
    assert key_specific == {"invalid_api_key", "ip_not_whitelisted"}
    assert incidents(platform) == []
    with limits(admin, EXCHANGE, **TIGHT):
        # Two connections rate limited beside three failing keys: five failing, but two that speak of the exchange.
        for account in good[:-1]:
            assert refresh(platform, account)["status"] == "rate_limited"
        assert incidents(platform) == [], key_specific
        assert refresh(platform, good[-1])["status"] == "rate_limited"  # the third: now it is the exchange's
        now = incidents(platform)
        assert [(i["cause"], i["accounts"]) for i in now] == [("transient_failures", RULES.min_accounts)], now
        # The bad keys checked again while it is open: still their own status, and they do not join it.
        for account, _ in bad:
            out = refresh(platform, account)
            assert out["status"] in key_specific and "incident" not in out["status_message"], out
        assert [i["accounts"] for i in incidents(platform)] == [RULES.min_accounts]
        exchange_itself_is_well(platform, admin)


def test_the_window_and_the_quiet_period(fresh: Platform, new_key, admin: httpx.Client) -> None:
    """On the worker's clock: failures further apart than the window do not add up, and an incident nobody sees
    evidence of for the quiet period ends by itself, counted from the last failure, not from its start."""
    platform = fresh
    a, b, c = (account["id"] for account, _ in connect(platform, new_key, 3))
    clock = Clock(time.time())
    with worker(platform, clock) as (monitor, loop):
        def check(account_id: int) -> str:
            return str(loop.run_until_complete(monitor.service.refresh(None, account_id))["status"])

        with limits(admin, EXCHANGE, **TIGHT):
            assert check(a) == check(b) == "rate_limited"
            clock.advance(RULES.window_s + 1)
            assert check(c) == "rate_limited"
            assert incidents(platform) == []  # a and b were limited longer ago than the window
            assert check(a) == "rate_limited"
            assert incidents(platform) == []  # a and c within the window: two
            assert check(b) == "rate_limited"
            now = incidents(platform)
            assert [(i["cause"], i["accounts"]) for i in now] == [("transient_failures", 3)], now
            started = now[0]
            clock.advance(RULES.quiet_s * 2 / 3)
            assert check(c) == "rate_limited"  # still failing: seen again, later
            exchange_itself_is_well(platform, admin)
        assert iso(incidents(platform)[0]["last_seen_at"]) > iso(started["last_seen_at"])
        # No check at all from here on: only the worker's sweep (the first step of each of its rounds after the
        # exchange's own status and canary) runs.
        clock.advance(RULES.quiet_s * 2 / 3)  # past the quiet period since the start, not since the last failure
        assert monitor.service.incidents.sweep() == 0
        assert [i["id"] for i in incidents(platform)] == [started["id"]]
        clock.advance(RULES.quiet_s / 3 + 1)  # now quiet for longer than quiet_s
        assert monitor.service.incidents.sweep() == 1
        assert incidents(platform) == []
        ended = [i for i in monitor.service.incidents.history(EXCHANGE) if i["id"] == started["id"]]
        assert ended and ended[0]["ended_at"] is not None and ended[0]["cause"] == "transient_failures"
