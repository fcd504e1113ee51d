"""The hard reset (accounts/reset.py) at scale, and the health monitor's request load beside the exchanges' limits.

1. A Sign Center store bulk-filled with 1,000,000 credentials (signer_rate._fill: the store's own table, random
   bytes for the sealed fields), the Sign Center in its own process on it, and an app database (SQLite file) with
   100,000 accounts of 50,000 users pointing at 100,000 of those credentials, each with a bot and an active
   deal. The reset "every key received before now" then: revokes all 1,000,000 credentials in the Sign Center
   (one ``revoke_where``), asks it for the accounts' credential intakes (``describe_many``, 2,000 at a time), writes
   100,000 accounts to revoked, 100,000 deals to error and 50,000 events (one per user) in batches of 500 users.
   Printed: the time until no affected key can sign (``revoke_where`` answered; target < 10 s) and until every
   account, deal and event is written (target < 30 s), each beside a bare one-column UPDATE of the same rows in
   the same run (the store's credentials; the app's accounts and deals), run on copies of the same files.
2. The monitor's requests per account per day (its schedule: monitor.Schedule when present, else issue 17's:
   first retry within a minute doubling to 15 minutes, every connection daily) times the requests one check
   makes (probes.py), beside the exchanges' published limits and how many accounts one egress IP carries.

Run: ``python -m bench.hard_reset [reset] [monitor]`` (default both); CREDENTIALS=n and ACCOUNTS=n scale part 1.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from cexlink.exchanges.capabilities import SANDBOXED

from .common import report, signer_process

CREDENTIALS = int(os.environ.get("CREDENTIALS", 1_000_000))
ACCOUNTS = int(os.environ.get("ACCOUNTS", 100_000))
PER_USER = 2
DAY_S = 86_400


def _fill_store(data_dir: Path) -> None:
    from cexlink.signer.engine import SignCenter, SignerConfig

    from .signer_rate import _fill

    engine = SignCenter(SignerConfig(data_dir))
    try:
        _fill(engine.store, CREDENTIALS, int(time.time() * 1000) - 1000)
        with engine.store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.close()


def _fill_app(url: str) -> int:
    """Users, accounts (account i on credential i * step, of that credential's exchange), a bot and an active
    deal each; returns the administrator's id."""
    from cexlink.storage.db import make_engine, migrate
    from cexlink.storage.tables import Bot, Deal, ExchangeAccount, User

    engine = make_engine(url)
    migrate(engine)
    step = CREDENTIALS // ACCOUNTS
    users = ACCOUNTS // PER_USER
    with engine.begin() as conn:
        conn.execute(insert(User), [{"id": 1, "name": "admin", "is_admin": True}]
                     + [{"id": u + 2, "name": f"user{u}", "is_admin": False} for u in range(users)])
        conn.execute(insert(ExchangeAccount), [
            {"id": i + 1, "owner_id": i // PER_USER + 2, "exchange": SANDBOXED[(i * step) % len(SANDBOXED)],
             "name": f"account {i}", "exchange_uid": f"uid{i}", "credential_id": f"cred_{i * step:024x}",
             "key_fingerprint": f"kf_bench_{i}", "masked_key": "abcd…wxyz"} for i in range(ACCOUNTS)])
        conn.execute(insert(Bot), [{"id": i + 1, "account_id": i + 1, "owner_id": i // PER_USER + 2, "name": "dca"}
                                   for i in range(ACCOUNTS)])
        conn.execute(insert(Deal), [{"bot_id": i + 1, "account_id": i + 1} for i in range(ACCOUNTS)])
    engine.dispose()
    return 1


def _bare(path: Path, statements: list[str]) -> float:
    """The bare one-column UPDATEs, on a copy of the file (the reset must find the rows untouched)."""
    copy = path.with_name(path.name + ".copy")
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        t0 = time.perf_counter()
        with conn:
            for statement in statements:
                conn.execute(statement)
        return time.perf_counter() - t0
    finally:
        conn.close()
        copy.unlink()


def reset_part() -> list[str]:
    from cexlink.accounts.reset import EVENT_KIND, HardReset, ResetParams
    from cexlink.signer.client import AsyncSignerClient, SignerClient
    from cexlink.storage.db import make_engine, make_session_factory
    from cexlink.storage.tables import Deal, Event, ExchangeAccount

    with tempfile.TemporaryDirectory(prefix="bench-reset-") as name:
        tmp = Path(name)
        t0 = time.perf_counter()
        _fill_store(tmp / "signer-data")
        app_db = tmp / "app.db"
        admin_id = _fill_app(f"sqlite:///{app_db}")
        print(f"  (filled {CREDENTIALS:,} credentials, {ACCOUNTS:,} accounts and deals in "
              f"{time.perf_counter() - t0:.1f} s)", flush=True)
        now_ms = int(time.time() * 1000)
        store_file = tmp / "signer-data" / "signer.db"
        bare_store = _bare(store_file, [f"UPDATE credentials SET expires_at = created_at + 1 "
                                        f"WHERE created_at < {now_ms}"])
        bare_app = _bare(app_db, ["UPDATE exchange_accounts SET status = 'revoked'",
                                  "UPDATE deals SET status = 'error'"])
        with signer_process(tmp / "signer-data", tmp / "signer.sock", {}) as (sock, _pid):
            engine = make_engine(f"sqlite:///{app_db}")
            sessions = make_session_factory(engine)

            async def run() -> dict[str, Any]:
                client = AsyncSignerClient(sock)
                try:
                    return await HardReset(sessions, client, ["203.0.113.7"]).run(admin_id, ResetParams(now_ms))
                finally:
                    await client.close()

            out = asyncio.run(run())
            check = SignerClient(socket_path=sock)
            sample = [f"cred_{i:024x}" for i in range(0, CREDENTIALS, max(1, CREDENTIALS // 50))]
            still = [c for c in sample if check.describe(c)["status"] != "revoked"]
            check.close()
            with sessions() as db:
                revoked = db.scalar(select(func.count()).where(ExchangeAccount.status == "revoked"))
                errors = db.scalar(select(func.count()).select_from(Deal).where(Deal.status == "error"))
                events = db.scalar(select(func.count()).select_from(Event).where(Event.kind == EVENT_KIND))
            engine.dispose()
    assert out["revoked"] == CREDENTIALS and not still, (out, still)
    assert (revoked, errors, events) == (ACCOUNTS, ACCOUNTS, ACCOUNTS // PER_USER), (revoked, errors, events)
    report(f"no affected key can sign ({CREDENTIALS:,} credentials)", out["signing_stopped_s"], "s", bare_store,
           "one-column UPDATE of the same credentials", "< 10 s")
    report(f"every account, deal, event written ({ACCOUNTS:,} accts)", out["seconds"], "s", bare_app,
           "one-column UPDATE of the same accounts + deals", "< 30 s")
    return [f"hard reset: {out['revoked']:,} credentials revoked in {out['signing_stopped_s']:.1f} s "
            f"(bare {bare_store:.1f} s); {revoked:,} accounts, {errors:,} deals, {events:,} events written by "
            f"{out['seconds']:.1f} s (bare UPDATE {bare_app:.1f} s)"]


# Requests one check (a refresh: probes.py) makes, and their weight where the exchange counts weight.
# binance: apiRestrictions from each of 2 egress IPs (weight 1 each), GET /api/v3/account (20), order/test (1).
CHECK = {"binance": (4, 23), "okx": (2, 2), "bybit": (2, 2)}
# Published limits (the exchanges' API docs): what a day allows, and whether it is shared by every account the
# platform sends from one IP, or counted per exchange account.
LIMITS = {
    "binance": ("6,000 request weight per minute per IP", 6_000 * 1_440, "per IP"),
    "okx": ("account/balance 10 requests per 2 s per user id", 10 * DAY_S // 2, "per account"),
    "bybit": ("600 requests per 5 s per IP", 600 * DAY_S // 5, "per IP"),
}


def _schedule() -> tuple[float, float, float, str]:
    try:
        from cexlink.accounts.monitor import Schedule
    except ImportError:
        return 60.0, 900.0, float(DAY_S), "issue 17's (monitor.py not present)"
    s = Schedule()
    return s.first_retry_s, s.max_retry_s, s.routine_s, "monitor.Schedule"


def monitor_part() -> list[str]:
    first, cap, routine, source = _schedule()
    checks_transient, elapsed, delay = 0, 0.0, first
    while elapsed + delay <= DAY_S:  # an account transient all day long: the worst case
        elapsed += delay
        checks_transient += 1
        delay = min(delay * 2, cap)
    checks_ok = DAY_S / routine
    print(f"  schedule ({source}): first retry {first:g} s, doubling to {cap:g} s; routine every {routine:g} s")
    lines = []
    for exchange, (requests, weight) in CHECK.items():
        text, per_day, scope = LIMITS[exchange]
        ok, worst = checks_ok * weight, checks_transient * weight
        carried = f"{per_day / ok:,.0f} healthy or {per_day / worst:,.0f} all-transient accounts per IP" \
            if scope == "per IP" else f"{per_day / worst:,.0f}x headroom per account even all-transient"
        line = (f"{exchange}: {checks_ok:g} check/day = {checks_ok * requests:g} requests ({ok:g} weight) per "
                f"healthy account; {checks_transient} checks = {checks_transient * requests} requests ({worst:g} "
                f"weight) transient all day | limit {text} = {per_day:,}/day {scope}: {carried}")
        print("  " + line, flush=True)
        lines.append(line)
    return lines


def main(parts: tuple[str, ...] = ("reset", "monitor")) -> None:
    summary = []
    if "reset" in parts:
        summary += reset_part()
    if "monitor" in parts:
        summary += monitor_part()
    print("\n".join(["", "summary:", *summary]))


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ("reset", "monitor"))
