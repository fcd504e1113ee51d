"""The statuses no connect refusal shows: revoked (by the platform), rate_limited, unknown — through refresh."""

from __future__ import annotations

from pathlib import Path

from cexlink.signer.client import SignerClient
from tests.support.platform import EGRESS, SIGNER_EGRESS, body, start_platform
from tests.support.signer import start_signer


def test_revoked_rate_limited_and_unknown(sandbox, new_key, admin, tmp_path: Path) -> None:
    platform = start_platform(tmp_path, sandbox.url)
    try:
        with platform.client() as c:
            accounts = {ex: c.post("/api/v1/accounts", json=body(new_key(ex, ips=EGRESS), ex)).json()
                        for ex in ("binance", "bybit", "okx")}
            assert all(a["status"] == "ok" for a in accounts.values()), accounts

            # revoked: the platform's mass revocation (e.g. after a leak) disables the credential at once
            signer = SignerClient(socket_path=platform.signer.socket)
            try:
                assert signer.revoke(accounts["binance"]["credential_id"]) == 1
            finally:
                signer.close()
            out = c.post(f"/api/v1/accounts/{accounts['binance']['id']}/refresh").json()
            assert out["status"] == "revoked" and "Update API Key" in out["status_remedy"], out

            # rate_limited: transient, the key stays good
            admin.post("/limits", json={"exchange": "bybit", "weight_per_window": 1})
            try:
                out = c.post(f"/api/v1/accounts/{accounts['bybit']['id']}/refresh").json()
            finally:
                admin.post("/limits", json={"exchange": "bybit", "weight_per_window": 10_000_000})
            assert out["status"] == "rate_limited" and "Your key is fine" in out["status_remedy"], out
            assert c.post(f"/api/v1/accounts/{accounts['bybit']['id']}/refresh").json()["status"] == "ok"

            # The platform cannot ask (its Sign Center is down): the platform's status, answered (503) and never
            # written into the account, which keeps its last real status (issue 17)
            platform.signer.stop()
            r = c.post(f"/api/v1/accounts/{accounts['okx']['id']}/refresh")
            assert r.status_code == 503 and r.json()["error"] == "sign_center_unavailable", r.text
            assert c.get(f"/api/v1/accounts/{accounts['okx']['id']}").json()["status"] == "ok"
            platform.signer = start_signer(tmp_path, sandbox.url, name="platform-signer",
                                           data_dir=platform.signer.data_dir, extra=SIGNER_EGRESS)
            assert c.post(f"/api/v1/accounts/{accounts['okx']['id']}/refresh").json()["status"] == "ok"
    finally:
        platform.stop()
        platform.signer.stop()
