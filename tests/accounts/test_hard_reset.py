"""The hard reset (issue 17): every key the platform received before T stops signing at once, its accounts show
``revoked``, their deals and SmartTrades go to ``error``, each user gets one event with the steps — over the real
API, the Sign Center process and the sandbox; and the CLI killed halfway (SIGKILL) and run again does each thing
exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cexlink.errors import SignerRefused
from cexlink.signer.client import SignerClient
from cexlink.storage.db import make_engine, make_session_factory
from cexlink.storage.repositories import Bots, Deals, SmartTrades, Users
from cexlink.storage.tables import Event
from tests.support.platform import EGRESS, Platform, body, start_platform
from tests.support.sandbox import SANDBOXED
from tests.support.signer import audit_records

ROUTE = "/api/v1/admin/revoke-keys"


@pytest.fixture
def fresh(sandbox, tmp_path: Path) -> Iterator[Platform]:
    """A platform of the test's own: a reset reaches every user's keys."""
    p = start_platform(tmp_path, sandbox.url)
    yield p
    p.stop()
    p.signer.stop()


def sessions(p: Platform) -> Any:
    return make_session_factory(make_engine(p.settings.database_url))


def connect(p: Platform, new_key, exchange: str, user: str, name: str) -> dict[str, Any]:
    key = new_key(exchange, ips=EGRESS)
    with p.client(user) as c:
        r = c.post("/api/v1/accounts", json=body(key, exchange, name))
    assert r.status_code == 201, r.text
    return r.json()


def moment() -> int:
    """A T strictly between the intakes before and after it (the Sign Center stamps intakes in ms)."""
    time.sleep(0.01)
    t = int(time.time() * 1000)
    time.sleep(0.01)
    return t


def describe(p: Platform, credential_id: str) -> dict[str, Any]:
    client = SignerClient(socket_path=p.signer.socket)
    try:
        return client.describe(credential_id)
    finally:
        client.close()


def revocations(p: Platform) -> list[dict[str, Any]]:
    """The Sign Center's audit records of revocations that revoked something."""
    log = p.signer.data_dir / "audit-0.log"
    return [r for r in audit_records(log) if r.get("action") == "revoke" and r.get("outcome") != "ok:0"]


def statuses(p: Platform, user: str) -> dict[int, str]:
    with p.client(user) as c:
        return {a["id"]: a["status"] for a in c.get("/api/v1/accounts").json()}


def reset_events(p: Platform, user: str) -> list[dict[str, Any]]:
    with p.client(user) as c:
        return [e for e in c.get("/api/v1/events").json() if e["kind"] == "keys_revoked"]


def test_dry_run_counts_and_the_reset_revokes_exactly_the_matching_keys(fresh: Platform, new_key) -> None:
    p = fresh
    a_bin = connect(p, new_key, "binance", "alice", "alice binance")
    a_okx = connect(p, new_key, "okx", "alice", "alice okx")
    b_byb = connect(p, new_key, "bybit", "bob", "bob bybit")
    t = moment()
    a_new = connect(p, new_key, "binance", "alice", "alice new")  # received after T: untouched
    b_new = connect(p, new_key, "okx", "bob", "bob new")
    alice = p.ids["alice"]
    with sessions(p)() as db, db.begin():
        bot = Bots(db).add(alice, a_bin["id"], "dca")
        live, done = Deals(db).add(alice, bot.id), Deals(db).add(alice, bot.id, status="completed")
        trade = SmartTrades(db).add(alice, a_okx["id"], "BTC/USDT")
        other_bot = Bots(db).add(alice, a_new["id"], "dca new")
        other = Deals(db).add(alice, other_bot.id)

    with p.client("alice") as c:  # a user is refused, and nothing changes
        r = c.post(ROUTE, json={"created_before": t})
        assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text
    with p.client("root") as c:
        for bad, field in (({"created_before": "yesterday"}, "created_before"),
                           ({"created_before": int(time.time() * 1000) + 3_600_000}, "created_before"),
                           ({"created_before": t, "exchange": "nosuchex"}, "exchange"),
                           ({"created_before": t, "everything": True}, "everything")):
            r = c.post(ROUTE, json=bad)
            assert r.status_code == 422 and r.json()["field"] == field, r.text
        dry = c.post(ROUTE, json={"created_before": t, "dry_run": True})
        assert dry.status_code == 200, dry.text
        counts = dry.json()
    assert counts["accounts"] == 3 and counts["users"] == 2
    assert counts["by_exchange"] == {"binance": 1, "bybit": 1, "okx": 1}
    assert counts["by_user"] == {"alice": 2, "bob": 1}
    assert (counts["deals"], counts["smart_trades"]) == (1, 1)
    # The dry run changed nothing: every key still signs, every account is ok, nobody was told anything.
    assert {describe(p, a["credential_id"])["status"] for a in (a_bin, a_okx, b_byb, a_new, b_new)} == {"active"}
    assert set(statuses(p, "alice").values()) == {"ok"} and set(statuses(p, "bob").values()) == {"ok"}
    assert reset_events(p, "alice") == [] and revocations(p) == []

    with p.client("root") as c:
        r = c.post(ROUTE, json={"created_before": t})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["revoked"], out["accounts"], out["users"], out["deals"], out["smart_trades"]) == (3, 3, 2, 1, 1)
    for account in (a_bin, a_okx, b_byb):
        assert describe(p, account["credential_id"])["status"] == "revoked"
    with pytest.raises(SignerRefused) as refused:  # an affected key cannot sign any more
        client = SignerClient(socket_path=p.signer.socket)
        try:
            client.forward(a_bin["credential_id"], "binance", "private", "GET", "account", {})
        finally:
            client.close()
    assert refused.value.reason == "credential_revoked"
    # The others still forward: a refresh of each goes to the exchange through the Sign Center and comes back ok.
    for user, account in (("alice", a_new), ("bob", b_new)):
        with p.client(user) as c:
            assert c.post(f"/api/v1/accounts/{account['id']}/refresh").json()["status"] == "ok"
    # Accounts show revoked at once, with the platform's message and remedy.
    assert statuses(p, "alice") == {a_bin["id"]: "revoked", a_okx["id"]: "revoked", a_new["id"]: "ok"}
    assert statuses(p, "bob") == {b_byb["id"]: "revoked", b_new["id"]: "ok"}
    with p.client("alice") as c:
        shown = c.get(f"/api/v1/accounts/{a_bin['id']}").json()
    assert "revoked by the platform" in shown["status_message"] and "Update API Key" in shown["status_remedy"]
    with sessions(p)() as db:
        assert Deals(db).get(alice, live.id).status == "error"
        assert Deals(db).get(alice, done.id).status == "completed"  # finished ones stay finished
        assert SmartTrades(db).get(alice, trade.id).status == "error"
        assert Deals(db).get(alice, other.id).status == "active"  # on a key received after T
    # One event per user, listing their accounts, the symptoms and the steps.
    (event,) = reset_events(p, "alice")
    assert [a["id"] for a in event["data"]["accounts"]] == [a_bin["id"], a_okx["id"]]
    assert event["severity"] == "critical"
    for words in ("UPNL", "fail to start or to close", "balances do not load", "delete the old API key",
                  ", ".join(EGRESS), "Update API Key on 'alice binance'", "Update API Key on 'alice okx'"):
        assert words in event["message"], words
    assert [a["id"] for a in reset_events(p, "bob")[0]["data"]["accounts"]] == [b_byb["id"]]
    assert len(reset_events(p, "bob")) == 1 and reset_events(p, "root") == []
    assert len(revocations(p)) == 1  # one operation in the Sign Center

    with p.client("root") as c:  # the same reset again finds nothing left to do and tells nobody twice
        again = c.post(ROUTE, json={"created_before": t}).json()
    assert (again["revoked"], again["accounts"], again["users"]) == (0, 0, 0)
    assert len(reset_events(p, "alice")) == 1 and len(revocations(p)) == 1


def test_only_the_exchange_named(fresh: Platform, new_key) -> None:
    p = fresh
    okx, binance = connect(p, new_key, "okx", "alice", "okx"), connect(p, new_key, "binance", "alice", "bin")
    t = moment()
    with p.client("root") as c:
        out = c.post(ROUTE, json={"created_before": t, "exchange": "okx"}).json()
    assert (out["revoked"], out["accounts"]) == (1, 1)
    assert describe(p, okx["credential_id"])["status"] == "revoked"
    assert describe(p, binance["credential_id"])["status"] == "active"
    assert statuses(p, "alice") == {okx["id"]: "revoked", binance["id"]: "ok"}


def cli(p: Platform, token: str, *args: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "CEXLINK_DATABASE_URL": p.settings.database_url,
           "CEXLINK_SIGNER_SOCKET": str(p.signer.socket), "CEXLINK_EGRESS_IPS": ",".join(EGRESS),
           "CEXLINK_RATE_LIMIT": "false", "CEXLINK_TOKEN": token,
           "CEXLINK_EXCHANGE_URLS": ",".join(f"{ex}={p.sandbox_url}" for ex in SANDBOXED)}
    return [sys.executable, "-m", "cexlink.cli", "admin", "revoke-keys", *args], env


def record(p: Platform) -> dict[str, Any] | None:
    with sessions(p)() as db:
        row = db.scalar(select(Event).where(Event.kind == "hard_reset").order_by(Event.id.desc()))
        return None if row is None else dict(row.data)


@pytest.mark.slow
def test_cli_killed_halfway_and_run_again_does_everything_exactly_once(fresh: Platform, new_key) -> None:
    p = fresh
    tokens = {}
    with sessions(p)() as db, db.begin():
        for i in range(6):
            user = Users(db).create(f"user{i}")
            tokens[f"user{i}"] = Users(db).issue_token(user.id)
    p.tokens.update(tokens)
    old = {u: connect(p, new_key, SANDBOXED[i % len(SANDBOXED)], u, f"{u} main") for i, u in enumerate(tokens)}
    t = moment()
    new = connect(p, new_key, "binance", "user0", "user0 new")

    args, env = cli(p, p.tokens["alice"], "--created-before", str(t))  # a user's token is refused
    refused = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 3 and '"forbidden"' in refused.stderr
    args, env = cli(p, p.tokens["root"], "--created-before", str(t), "--dry-run")
    dry = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert '"accounts": 6' in dry.stdout and describe(p, old["user0"]["credential_id"])["status"] == "active"

    args, env = cli(p, p.tokens["root"], "--created-before", str(t), "--batch-size", "1", "--pause", "0.5")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while (rec := record(p)) is None or rec["accounts"] < 2:  # some users done, not all
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    halfway = record(p)
    assert halfway is not None and halfway["state"] == "accounts" and 2 <= halfway["accounts"] < 6
    revoked_at = {u: describe(p, a["credential_id"]) for u, a in old.items()}
    assert {d["status"] for d in revoked_at.values()} == {"revoked"}  # every key stopped signing first
    told = sum(len(reset_events(p, u)) for u in tokens)
    assert told == halfway["users"]

    args, env = cli(p, p.tokens["root"], "--created-before", str(t))
    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert '"resumed": true' in rerun.stdout and '"accounts": 6' in rerun.stdout and '"users": 6' in rerun.stdout
    assert "revoking" in rerun.stderr  # the progress bar
    for user, account in old.items():
        assert statuses(p, user)[account["id"]] == "revoked"
        assert len(reset_events(p, user)) == 1, user  # one event each: none lost to the kill, none doubled
        assert describe(p, account["credential_id"])["revoked_at"] == revoked_at[user]["revoked_at"]
    assert len(revocations(p)) == 1  # one revocation in the Sign Center's audit log, not one per run
    assert describe(p, new["credential_id"])["status"] == "active"
    assert statuses(p, "user0")[new["id"]] == "ok"
    assert record(p)["state"] == "done"  # type: ignore[index]
