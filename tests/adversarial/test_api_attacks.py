"""The REST API around the Sign Center, attacked over real HTTP with the real Sign Center process and the sandbox:
racing Update API Key calls, oversized and chunked bodies before authentication, out-of-range ids on every route,
probing other users' keys with a stolen API key, tokens revoked or expired while other API processes run, and the
audit anchor that ``cexlink serve`` keeps in the app database."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cexlink.signer.client import SignerClient
from cexlink.storage.db import make_engine, make_session_factory
from cexlink.storage.repositories import AuditAnchors, hash_token
from tests.support.net import free_port
from tests.support.platform import EGRESS, Platform, body, database_dump, start_platform
from tests.support.sandbox import SANDBOXED

HUGE_IDS = [str(2**63), str(2**64), str(10**30), "-1", "0", "abc", "1e3", "1.5", "%20", "0x10"]


@pytest.fixture(scope="module")
def api(sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The platform over SQLite, for the attacks that are not about the database."""
    p = start_platform(tmp_path_factory.mktemp("api-attacks"), sandbox.url)
    yield p
    p.stop()
    p.signer.stop()


def signer_credentials(p: Platform) -> dict[str, str]:
    """Every credential the Sign Center holds, by id, with its status as ``describe`` tells over the socket."""
    with sqlite3.connect(f"file:{p.signer.data_dir / 'signer.db'}?mode=ro", uri=True) as db:
        ids = [r[0] for r in db.execute("SELECT id FROM credentials")]
    db.close()
    client = SignerClient(socket_path=p.signer.socket)
    try:
        return {cid: client.describe(cid)["status"] for cid in ids}
    finally:
        client.close()


# ---- Update API Key races ----

def test_parallel_update_key_leaves_exactly_one_live_credential(platform: Platform, new_key) -> None:
    first = new_key("okx", ips=EGRESS)
    with platform.client() as c:
        r = c.post("/api/v1/accounts", json=body(first, "okx"))
        assert r.status_code == 201, r.text
        account = r.json()
    before = set(signer_credentials(platform))
    keys = [new_key("okx", ips=EGRESS, uid=first["uid"]) for _ in range(3)]
    barrier = threading.Barrier(len(keys))
    answers: list[httpx.Response] = []

    def put(key: dict[str, Any]) -> None:
        with platform.client() as c:
            barrier.wait()
            answers.append(c.put(f"/api/v1/accounts/{account['id']}/api-key",
                                 json={k: key[k] for k in ("api_key", "secret", "passphrase")}))

    threads = [threading.Thread(target=put, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(answers) == 3
    won = [a for a in answers if a.status_code == 200]
    lost = [a for a in answers if a.status_code != 200]
    assert won, [a.text for a in answers]
    for a in lost:  # a clear refusal, never a 500 or a silent second winner
        assert a.status_code == 409, a.text
        assert a.json()["error"] == "key_update_conflict" and a.json()["message"] and a.json()["remedy"]
    ours = {cid: s for cid, s in signer_credentials(platform).items() if cid not in before}
    ours[account["credential_id"]] = signer_credentials(platform)[account["credential_id"]]
    assert len(ours) == 4  # the first credential and one per PUT
    live = [cid for cid, status in ours.items() if status == "active"]
    with platform.client() as c:
        now = c.get(f"/api/v1/accounts/{account['id']}").json()
        assert live == [now["credential_id"]], ours
        assert now["masked_key"] in {k["api_key"][:4] + "…" + k["api_key"][-4:] for k in keys}
        assert c.delete(f"/api/v1/accounts/{account['id']}?confirm=true").status_code == 200
    after = signer_credentials(platform)
    assert [cid for cid in ours if after[cid] == "active"] == []  # Delete leaves nothing live


# ---- bodies before authentication ----

def test_oversized_bodies_are_refused_before_authentication_or_parsing(api: Platform) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as anonymous:
        # The control: a small body without a token reaches authentication.
        assert anonymous.post("/api/v1/accounts", content=b"{").status_code in (401, 422)
        declared = anonymous.post("/api/v1/accounts", content=b"x" * (1 << 20),
                                  headers={"content-type": "application/json"})

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must count what arrives
            for _ in range(64):
                yield b"[" * 4096

        chunked = anonymous.post("/api/v1/accounts", content=chunks(), headers={"content-type": "application/json"})
    for r in (declared, chunked):
        assert r.status_code == 413, r.text
        assert r.json()["error"] == "body_too_large" and r.json()["message"] and r.json()["remedy"]
    with api.client() as c:
        at_limit = c.post("/api/v1/accounts", content=b" " * (64 * 1024 - 2) + b"{}",
                          headers={"content-type": "application/json"})
        assert at_limit.status_code == 422  # parsed and checked: the limit is not lower than announced
        over = c.post("/api/v1/accounts", content=b" " * (64 * 1024) + b"{}",
                      headers={"content-type": "application/json"})
        assert over.status_code == 413
        assert c.get("/api/v1/accounts").status_code == 200  # the server is fine afterwards


# ---- ids out of range, on every route ----

def test_every_route_answers_out_of_range_ids_with_404_or_422(api: Platform) -> None:
    with api.client() as c:
        paths = c.get("/openapi.json").json()["paths"]
        routes = [(path, method) for path, ops in paths.items() if "{" in path for method in ops]
        assert len(routes) >= 6  # accounts (show, api-key, refresh, delete, events), revoke a token
        for path, method in routes:
            for ident in [*HUGE_IDS, str(2**63 - 1)]:
                url = path.split("{")[0] + ident + path.split("}", 1)[1]
                payload = {"api_key": "k", "secret": "s"} if method in ("put", "post") else None
                r = c.request(method.upper(), url, json=payload)
                expected = {404} if ident == str(2**63 - 1) else {404, 422}  # the largest id is valid, unknown
                assert r.status_code in expected, (method, url, r.status_code, r.text)


# ---- a stolen API key reveals nothing without its secret ----

def wrong(secret: str) -> str:
    """A secret of the right shape (the intake checks the exchange's format) that is not the key's."""
    last = secret[-1]
    return secret[:-1] + ("1" if last == "0" else "0" if last.isdigit() else "A" if last != "A" else "B")


def test_a_stolen_api_key_alone_reveals_nothing(api: Platform, new_key) -> None:
    victim = new_key("okx", ips=EGRESS)
    stolen = {**body(victim, "okx"), "secret": wrong(victim["secret"])}
    with api.client("bob") as bob:
        # Before the owner connects and after: the same answer, about the key itself.
        r = bob.post("/api/v1/accounts", json=stolen)
        assert r.status_code == 400 and r.json()["error"] == "invalid_api_key", r.text
        with api.client("alice") as alice:
            assert alice.post("/api/v1/accounts", json=body(victim, "okx")).status_code == 201
        r = bob.post("/api/v1/accounts", json=stolen)
        assert r.status_code == 400 and r.json()["error"] == "invalid_api_key", r.text
        # Through Update API Key on the attacker's own connection: no key_already_used either.
        own = new_key("okx", ips=EGRESS)
        mine = bob.post("/api/v1/accounts", json=body(own, "okx")).json()
        r = bob.put(f"/api/v1/accounts/{mine['id']}/api-key",
                    json={k: stolen[k] for k in ("api_key", "secret", "passphrase")})
        assert r.status_code == 400 and r.json()["error"] == "invalid_api_key", r.text
        # Another key of the victim's exchange account, with a wrong secret: not "already connected" either.
        sibling = new_key("okx", ips=EGRESS, uid=victim["uid"])
        r = bob.post("/api/v1/accounts", json={**body(sibling, "okx"), "secret": wrong(sibling["secret"])})
        assert r.json()["error"] == "invalid_api_key", r.text
        # With the real secret the key is proven, and only then is its use told.
        r = bob.post("/api/v1/accounts", json=body(victim, "okx"))
        assert r.status_code == 409 and r.json()["error"] == "key_already_used"


# ---- API tokens: expiry, revocation seen at once by every API process ----

def _env(p: Platform) -> dict[str, str]:
    return {**os.environ, "CEXLINK_DATABASE_URL": p.settings.database_url,
            "CEXLINK_SIGNER_SOCKET": str(p.signer.socket), "CEXLINK_EGRESS_IPS": ",".join(EGRESS),
            "CEXLINK_RATE_LIMIT": "false",
            "CEXLINK_EXCHANGE_URLS": ",".join(f"{ex}={p.sandbox_url}" for ex in SANDBOXED)}


@pytest.fixture(scope="module")
def second_api(api: Platform) -> Iterator[str]:
    """Another API server process (``cexlink serve``) over the same database and Sign Center."""
    port = free_port()
    log = (api.signer.data_dir.parent / "serve.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "cexlink.cli", "serve", "--port", str(port)], env=_env(api),
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/api/v1/exchanges", timeout=1)
            break
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline, "cexlink serve did not start"
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=15)


def _as(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=30)


def test_tokens_listed_created_and_revoked_at_once_everywhere(api: Platform, second_api: str) -> None:
    with api.client("bob") as bob:
        r = bob.post("/api/v1/tokens", json={"label": "ci", "expires_in_days": 30})
        assert r.status_code == 201, r.text
        made = r.json()
        token = made["token"]
        listed = bob.get("/api/v1/tokens").json()
    assert made["status"] == "active" and made["expires_at"] and made["user_id"] == api.ids["bob"]
    assert any(t["id"] == made["id"] for t in listed)
    assert token not in json.dumps(listed) and hash_token(token) not in json.dumps(listed)  # shown once only
    dump = database_dump(api)
    assert token.encode() not in dump and hash_token(token).encode() in dump  # stored as a hash
    with _as(second_api, token) as other:
        assert other.get("/api/v1/accounts").status_code == 200  # the other process accepts it ...
        with _as(api.url, token) as same:
            assert same.delete(f"/api/v1/tokens/{made['id']}").json()["status"] == "revoked"  # revoked by itself
        assert other.get("/api/v1/accounts").status_code == 401  # ... and refuses it at once
    with api.client("alice") as alice:  # another user's token is not found; another user's list forbidden
        assert alice.delete(f"/api/v1/tokens/{listed[0]['id']}").status_code == 404
        assert alice.get(f"/api/v1/tokens?user_id={api.ids['bob']}").status_code == 403
        assert alice.post("/api/v1/tokens", json={"user_id": api.ids["bob"]}).status_code == 403
        for bad in ({"expires_in_days": 0}, {"expires_in_days": -1}, {"expires_in_days": "soon"},
                    {"expires_in_days": 10**6}, {"label": "x" * 201}, {"token": "mine"}):
            r = alice.post("/api/v1/tokens", json=bad)
            assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == next(iter(bad)), r.text
    with api.client("root") as root:  # an administrator manages anyone's
        theirs = root.post("/api/v1/tokens", json={"user_id": api.ids["alice"], "label": "by admin"}).json()
        assert theirs["user_id"] == api.ids["alice"]
        assert any(t["id"] == theirs["id"] for t in root.get(f"/api/v1/tokens?user_id={api.ids['alice']}").json())
        assert root.delete(f"/api/v1/tokens/{theirs['id']}").status_code == 200
    with _as(second_api, theirs["token"]) as c:
        assert c.get("/api/v1/accounts").status_code == 401


def test_an_expired_token_is_refused(api: Platform, second_api: str) -> None:
    with api.client("bob") as bob:
        made = bob.post("/api/v1/tokens", json={"label": "short", "expires_in_days": 1.5 / 86400}).json()
    with _as(second_api, made["token"]) as c:
        assert c.get("/api/v1/accounts").status_code == 200
        deadline = time.monotonic() + 10
        while c.get("/api/v1/accounts").status_code == 200:
            assert time.monotonic() < deadline, "the expired token is still accepted"
            time.sleep(0.2)
        assert c.get("/api/v1/accounts").status_code == 401
    with api.client("bob") as bob:
        assert next(t for t in bob.get("/api/v1/tokens").json() if t["id"] == made["id"])["status"] == "expired"


# ---- the audit anchor ----

def _newest(p: Platform) -> list[dict[str, Any]]:
    engine = make_engine(p.settings.database_url)
    try:
        with make_session_factory(engine)() as db:
            return AuditAnchors(db).newest()
    finally:
        engine.dispose()


def test_serve_anchors_the_sign_centers_checkpoint_heads(api: Platform, second_api: str, new_key,
                                                         tmp_path: Path) -> None:
    with _as(second_api, api.tokens["alice"]) as c:  # signatures through the `cexlink serve` process
        for _ in range(2):
            r = c.post("/api/v1/accounts", json=body(new_key("okx", ips=EGRESS), "okx"))
            assert r.status_code == 201, r.text
            assert c.post(f"/api/v1/accounts/{r.json()['id']}/refresh").json()["status"] == "ok"
    client = SignerClient(socket_path=api.signer.socket)
    try:
        heads = client.audit_heads()["heads"]  # once signing is done; every later call is audited too
    finally:
        client.close()
    seen = {h["log"]: h["seq"] for h in heads}
    assert seen, "the Sign Center reports no checkpoint head after signing"
    deadline = time.monotonic() + 20
    while True:  # the Sign Center checkpoints within a second; the API fetches every two
        stored = {h["log"]: h["seq"] for h in _newest(api)}
        if set(stored) == set(seen) and all(stored[log] >= seq for log, seq in seen.items()):
            break
        assert time.monotonic() < deadline, (seen, stored)
        time.sleep(0.3)
    out = tmp_path / "anchor.json"
    done = subprocess.run([sys.executable, "-m", "cexlink.cli", "audit", "anchors", "--out", str(out)],
                          env=_env(api), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    anchor = json.loads(out.read_text())
    assert (out.stat().st_mode & 0o777) == 0o600
    assert set(anchor) == {"heads"} and anchor["heads"]
    assert all(set(h) == {"log", "seq", "hash", "time", "sig"} for h in anchor["heads"])
    assert len({h["log"] for h in anchor["heads"]}) == len(anchor["heads"])  # one, the newest, per log
    # The anchor moves on while the API keeps fetching (each fetch is itself audited): never behind what was seen.
    assert set(seen) == {h["log"] for h in anchor["heads"]}
    assert all(h["seq"] >= seen[h["log"]] for h in anchor["heads"])
    printed = subprocess.run([sys.executable, "-m", "cexlink.cli", "audit", "anchors"], env=_env(api),
                             capture_output=True, text=True, timeout=60)
    assert json.loads(printed.stdout)["heads"][0].keys() == anchor["heads"][0].keys()
