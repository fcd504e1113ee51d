"""After a full run of the platform — connects that pass and fail, refreshes, key updates, deletes, bad input —
no secret (nor the API key itself) appears in any response, log or database file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.platform import EGRESS, body, database_dump, start_platform
from tests.support.sandbox import SANDBOXED


def test_full_run_leaves_no_secret_behind(sandbox, new_key, admin, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # everything any library logs in the API server (same process)
    platform = start_platform(tmp_path, sandbox.url)
    responses: list[bytes] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        responses.append(response.content)

    keys: list[dict[str, Any]] = []

    def key(exchange: str, **kw: Any) -> dict[str, Any]:
        k = new_key(exchange, **kw)
        keys.append(k)
        return k

    try:
        with httpx.Client(base_url=platform.url, headers={"authorization": f"Bearer {platform.tokens['alice']}"},
                          event_hooks={"response": [keep]}, timeout=30) as c:
            ids = {}
            for exchange in SANDBOXED:
                k = key(exchange, ips=EGRESS)
                ids[exchange] = c.post("/api/v1/accounts", json=body(k, exchange)).json()["id"]
                c.post("/api/v1/accounts", json=body(key(exchange, permissions="read", ips=EGRESS), exchange))
                c.post("/api/v1/accounts", json=body(key(exchange), exchange))  # no IP restriction
                bad = dict(body(key(exchange, ips=EGRESS), exchange), secret="x" + keys[-1]["secret"][1:])
                c.post("/api/v1/accounts", json=bad)
                c.post("/api/v1/accounts", json={**body(keys[-1], exchange), "exchange": 42})
                c.post(f"/api/v1/accounts/{ids[exchange]}/refresh")
                newer = key(exchange, ips=EGRESS)  # another exchange account: refused, after a full probe
                c.put(f"/api/v1/accounts/{ids[exchange]}/api-key",
                      json={f: v for f, v in body(newer, exchange).items() if f not in ("exchange", "name")})
            c.post("/api/v1/accounts/refresh")
            c.get("/api/v1/accounts")
            c.get("/api/v1/events")
            for account_id in ids.values():
                c.delete(f"/api/v1/accounts/{account_id}?confirm=true")
    finally:
        platform.stop()
        platform.signer.stop()

    places: dict[str, bytes] = {"responses": b"\n".join(responses), "app database": database_dump(platform),
                                "API server logs": "\n".join(r.getMessage() for r in caplog.records).encode(),
                                "signer log": platform.signer.log.read_bytes()}
    for path in platform.signer.data_dir.rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes()
    assert len(responses) > 20 and b"receive_response_body" in places["API server logs"]  # DEBUG logs were kept
    for k in keys:
        for secret in (k["secret"], k.get("passphrase"), k["api_key"]):
            if not secret:
                continue
            for name, content in places.items():
                if name.endswith("signer.log") or "signer-data" in name or name == "signer log":
                    if secret == k["api_key"]:
                        continue  # the Sign Center holds keys by design (sealed); the key itself is not secret
                at = content.find(secret.encode())
                assert at < 0, f"{'the API key' if secret == k['api_key'] else 'a secret'} appears in {name}: " \
                               f"{content[max(0, at - 200):at].decode(errors='replace')}"
