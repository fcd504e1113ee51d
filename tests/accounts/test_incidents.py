"""Exchange incidents and clock skew: failures that are the exchange's, not the key's."""

from __future__ import annotations

from pathlib import Path

import httpx

from cexlink.signer.client import SignerClient
from tests.support.platform import EGRESS, body, start_platform


def test_many_accounts_failing_alike_is_an_exchange_incident(sandbox, new_key, admin, tmp_path: Path) -> None:
    platform = start_platform(tmp_path, sandbox.url, incident_accounts=3)
    try:
        accounts, keys = [], []
        for user in ("alice", "bob", "root", "alice"):
            key = new_key("bybit", ips=EGRESS)
            with platform.client(user) as c:
                accounts.append((user, c.post("/api/v1/accounts", json=body(key, "bybit")).json()))
            keys.append(key)
        for key in keys:  # the exchange starts refusing every key at once
            admin.patch(f"/keys/bybit/{key['api_key']}", json={"ips": ["10.0.0.1"]})
        statuses = []
        for user, account in accounts:
            with platform.client(user) as c:
                statuses.append(c.post(f"/api/v1/accounts/{account['id']}/refresh").json())
        incident = httpx.get(platform.url + "/api/v1/exchanges/status").json()["incidents"]
        assert incident == [{"exchange": "bybit", "status": "ip_not_whitelisted", "accounts": 4, "window_s": 300.0}]
        for user, account in accounts:  # earlier failures of the same kind are re-read as the incident too
            with platform.client(user) as c:
                now = c.get(f"/api/v1/accounts/{account['id']}").json()
            assert now["status"] == "exchange_unavailable", now
            assert "an exchange incident, not your key" in now["status_message"]
        assert statuses[0]["status"] == "ip_not_whitelisted"  # before the threshold it looked like the key
        client = SignerClient(socket_path=platform.signer.socket)
        try:
            assert all(client.describe(a["credential_id"])["status"] == "active" for _, a in accounts)
        finally:
            client.close()
    finally:
        platform.stop()
        platform.signer.stop()


def test_clock_skew_is_corrected_before_it_is_reported(sandbox_at, new_key, tmp_path: Path) -> None:
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
