"""Connect latency over the REST API and the time to refresh 10,000 accounts, each beside a baseline measured in
the same run.

1. ``POST /api/v1/accounts`` (Binance keys whitelisting 127.0.0.1, settings ``egress_ips=["127.0.0.1"]``), one
   request at a time from a sync ``httpx.Client`` over real HTTP to the API server (uvicorn in a thread of this
   process, built like ``cexlink serve``: ``wiring.build_service`` + ``create_app``), with the sandbox exchange and the
   Sign Center (data dir on disk, so its fsync'd intake counts) each in its own process. Reported: raw p50/p99,
   and p50/p99 with the exchange's own time subtracted (target p50 < 20 ms).

   Exchange time, per connect: the service's ``ExchangePool`` is replaced by a subclass whose clones have their
   ccxt ``fetch`` coroutine (the HTTP round trip to the exchange: send, wait, read, decode JSON) wrapped by a
   timer that records its interval under the clone's credential id; the connect's answer carries that
   credential id, so each connect is charged exactly its own exchange requests (market loading included, if
   any), as the union of their intervals (requests of one connect may overlap). The timer starts after
   ccxt's ``open()`` (fetch's own first step: on a fresh clone it builds an SSL context, ~50 ms), which is the
   platform's cost, not the exchange's. What is left is the platform: HTTP API,
   auth, Sign Center intake and signing, probes' ccxt work outside ``fetch``, assessment, database. ``fetch``
   includes the client-side read/JSON decode of the answer, so the subtracted figure slightly flatters the
   platform; the baseline shows how much a bare request costs.
   Baseline: the same kind of client (sync httpx, keep-alive, one in flight) against the sandbox's trivial
   ``GET /api/v3/ping``: its rate and p50.

2. ``AccountService.refresh_many(None)`` over 10,000 accounts (mixed: a third each of Binance, OKX and Bybit),
   the service in this process on its own SQLite file, the sandbox and a second Sign Center in their own
   processes (2 cores shared by all three). Target: < 60 s. Set-up (not measured): 10,000 sandbox keys created
   through the admin API (``POST /sandbox/v1/keys``, concurrent async httpx), stored in the Sign Center over its
   async client (the two pipelined per key; the Sign Center's ``--data-dir`` on /dev/shm so 10,000 fsyncs do
   not dominate set-up), and the account rows inserted with ``Accounts.add(...)`` in one transaction (100 users
   × 100 accounts), carrying the uid, fingerprint and masked key the Sign Center returned — the rows a connect
   would have written, without probing 10,000 times. Baseline: the sandbox's bare signed-request rate in the
   same run — stock async ccxt with in-process keys, 16 in flight, Binance ``fetch_balance`` — and from it the
   time the refresh's exchange requests alone would take (counted by the same ``fetch`` timer). Also printed:
   the CPU seconds each process (this one, the Sign Center, the sandbox; from /proc) spent during the refresh,
   which says who the bottleneck is.

Run: ``python -m bench.accounts_rate`` (``connect`` or ``refresh`` to run one part, ``refresh profile`` to
cProfile the service side of the refresh; ``ACCOUNTS=n`` to scale part 2). Set-up of 10,000 accounts takes
a minute or two (mostly Sign Center intake); the whole run a few minutes once the refresh meets its target.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from cexlink.accounts.service import AccountService
from cexlink.api.app import create_app
from cexlink.config import Settings
from cexlink.exchanges.capabilities import SANDBOXED
from cexlink.exchanges.probes import ExchangePool
from cexlink.sandbox.clients import ccxt_client
from cexlink.serving import ServerThread
from cexlink.signer.client import AsyncSignerClient
from cexlink.storage.db import make_engine, make_session_factory, migrate
from cexlink.storage.repositories import Accounts, Users
from cexlink.wiring import build_service

from .common import cpu_seconds, percentile, report, sandbox_process, signer_process

EXCHANGES = SANDBOXED
CONNECTS = 300
ACCOUNTS = int(os.environ.get("ACCOUNTS", "10000"))
USERS = 100
BALANCES = {"USDT": "1000", "BTC": "0.5"}
DURATION = 3.0  # seconds per baseline rate measurement


# ---- processes ----

class TimedPool(ExchangePool):
    """The service's pool, with every exchange request of a clone timed and charged to its credential id.

    Requests of one connect may overlap (the Binance probe reads the balance and tests trading at once), so the
    exchange time of a connect is the length of the union of its request intervals, not their sum."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.requests: dict[str, int] = defaultdict(int)
        self._timed: dict[type, type] = {}

    def spent(self, credential_id: str) -> float:
        total, end = 0.0, float("-inf")
        for t0, t1 in sorted(self.intervals[credential_id]):
            if t1 > end:
                total += t1 - max(t0, end)
                end = t1
        return total

    async def instance(self, exchange: str, credential_id: str, egress_ip: str | None = None) -> Any:
        clone = await super().instance(exchange, credential_id, egress_ip)
        base = type(clone)
        if base not in self._timed:
            pool = self

            async def fetch(inner: Any, *args: Any, **kwargs: Any) -> Any:
                inner.open()  # ccxt fetch's own first step (SSL context, session): platform cost, not exchange time
                t0 = time.perf_counter()
                try:
                    return await base.fetch(inner, *args, **kwargs)
                finally:
                    pool.intervals[inner._cexlink_credential].append((t0, time.perf_counter()))
                    pool.requests[inner._cexlink_credential] += 1

            # A subclass, not an instance attribute: copies of the clone (concurrent probes) stay timed, each as
            # itself.
            self._timed[base] = type(f"Timed{base.__name__}", (base,), {"fetch": fetch})
        clone.__class__ = self._timed[base]
        return clone


def timed_service(settings: Settings) -> AccountService:
    service = build_service(settings)
    service.pool = TimedPool(service.signer, settings.exchange_urls, settings.rate_limit)
    return service


def settings_for(tmp: Path, sock: Path, url: str, name: str) -> Settings:
    # rate_limit=False: the sandbox's own limits are off for the benchmark, so ccxt's client-side throttle (set
    # to the real exchanges' published rates) would only measure its own waiting.
    return Settings(database_url=f"sqlite:///{tmp / name}", signer_socket=sock, egress_ips=["127.0.0.1"],
                    egress_bind=True, exchange_urls={ex: url for ex in EXCHANGES}, rate_limit=False)


def make_users(settings: Settings, count: int, admin: bool = False) -> list[tuple[int, str]]:
    engine = make_engine(settings.database_url)
    migrate(engine)
    out = []
    with make_session_factory(engine)() as db, db.begin():
        users = Users(db)
        for i in range(count):
            user = users.create(f"user{i}", is_admin=admin)
            out.append((user.id, users.issue_token(user.id, "bench")))
    engine.dispose()
    return out



@contextmanager
def api_server(service: AccountService) -> Iterator[str]:
    async def shutdown() -> None:
        await service.pool.close()
        await service.signer.close()

    api = ServerThread(create_app(service, on_shutdown=shutdown)).start()
    try:
        yield api.url
    finally:
        api.stop()


async def create_keys(url: str, exchanges: list[str], concurrency: int = 32,
                      then: Any = None) -> list[dict[str, Any]]:
    """Sandbox keys (each on a new exchange account), whitelisting 127.0.0.1, in order; ``then(i, key)`` (a
    coroutine) runs on each as it arrives, so a next stage overlaps with the sandbox's work."""
    out: list[dict[str, Any]] = [{} for _ in exchanges]
    todo = iter(range(len(exchanges)))
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        async def worker() -> None:
            for i in todo:
                r = await client.post("/sandbox/v1/keys", json={"exchange": exchanges[i], "ips": ["127.0.0.1"],
                                                                 "balances": BALANCES})
                r.raise_for_status()
                out[i] = r.json()
                if then is not None:
                    await then(i, out[i])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


# ---- 1. connect latency ----

def _bare_rate(url: str) -> tuple[float, list[float]]:
    """Sequential sync httpx requests to a trivial sandbox endpoint: the same client kind as the connects."""
    with httpx.Client(base_url=url) as client:
        for _ in range(200):
            client.get("/api/v3/ping")
        lat: list[float] = []
        clock = time.perf_counter
        started = clock()
        while clock() - started < DURATION:
            t0 = clock()
            client.get("/api/v3/ping").raise_for_status()
            lat.append(clock() - t0)
        return len(lat) / (clock() - started), lat


def _connects(url: str, tmp: Path) -> list[str]:
    data = tmp / "signer-disk"
    with signer_process(data, tmp / "signer-disk.sock", dict.fromkeys(EXCHANGES, url)) as (sock, _):
        settings = settings_for(tmp, sock, url, "connect.db")
        (_, token), = make_users(settings, 1)
        keys = asyncio.run(create_keys(url, ["binance"] * (CONNECTS + 20)))
        service = timed_service(settings)
        pool: TimedPool = service.pool  # type: ignore[assignment]
        raw: list[float] = []
        net: list[float] = []
        exchange: list[float] = []
        reqs: list[int] = []
        with api_server(service) as api, httpx.Client(base_url=api, timeout=30,
                                                      headers={"authorization": f"Bearer {token}"}) as client:
            for i, key in enumerate(keys):
                body = {"exchange": "binance", "name": f"main {i}", "api_key": key["api_key"],
                        "secret": key["secret"]}
                t0 = time.perf_counter()
                r = client.post("/api/v1/accounts", json=body)
                elapsed = time.perf_counter() - t0
                if r.status_code != 201:
                    raise RuntimeError(f"connect failed: {r.status_code} {r.text}")
                if i < 20:  # warm-up: first prototype, connections, caches
                    continue
                cred = r.json()["credential_id"]
                raw.append(elapsed)
                exchange.append(pool.spent(cred))
                reqs.append(pool.requests[cred])
                net.append(elapsed - pool.spent(cred))
        bare_rate, bare_lat = _bare_rate(url)
    r50, r99 = percentile(raw, 50) * 1e3, percentile(raw, 99) * 1e3
    n50, n99 = percentile(net, 50) * 1e3, percentile(net, 99) * 1e3
    e50 = percentile(exchange, 50) * 1e3
    b50 = percentile(bare_lat, 50) * 1e3
    report(f"connect over REST, {len(raw)} Binance keys: p50 (raw)", r50, "ms", b50, "sandbox /ping p50")
    report("connect over REST: p99 (raw)", r99, "ms", b50, "sandbox /ping p50")
    report("connect: p50 minus the exchange's time", n50, "ms", b50, "sandbox /ping p50", target="< 20 ms")
    report("connect: p99 minus the exchange's time", n99, "ms", b50, "sandbox /ping p50")
    report("connect: exchange time per connect, p50", e50, "ms", b50, "sandbox /ping p50")
    report("sandbox bare request rate (sync httpx, /ping)", bare_rate, "req/s")
    return [f"connect (REST, sequential, {len(raw)} Binance keys, {percentile(reqs, 50)} exchange requests each): "
            f"raw p50 {r50:.1f} ms, p99 {r99:.1f} ms; minus exchange time p50 {n50:.1f} ms, p99 {n99:.1f} ms "
            f"(exchange time p50 {e50:.1f} ms) — target p50 < 20 ms: {_met(n50 < 20)}",
            f"baseline: sandbox /api/v3/ping, sync httpx, one in flight: {bare_rate:,.0f} req/s, p50 {b50:.2f} ms"]


# ---- 2. refresh 10,000 ----

async def _signed_rate(url: str, key: dict[str, Any], concurrency: int = 16) -> float:
    ex = ccxt_client("binance", url, key, asynchronous=True)
    await ex.load_markets()
    await asyncio.gather(*(ex.fetch_balance() for _ in range(concurrency)))
    count = 0
    stop_at = time.perf_counter() + DURATION

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < stop_at:
            await ex.fetch_balance()
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await ex.close()
    return count / elapsed


async def _keys_and_credentials(url: str, sock: Path, exchanges: list[str], owners: list[int],
                                concurrency: int = 32) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Sandbox keys created through the admin API and handed to the Sign Center, pipelined (the sandbox and the
    Sign Center work at once, each in its own process)."""
    signer = AsyncSignerClient(sock)
    stored: list[dict[str, Any]] = [{} for _ in exchanges]

    async def store(i: int, k: dict[str, Any]) -> None:
        stored[i] = await signer.store(f"user:{owners[i]}", k["exchange"], k["api_key"], k["secret"],
                                       k.get("passphrase"))

    keys = await create_keys(url, exchanges, concurrency, then=store)
    await signer.close()
    return keys, stored


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process and the named child processes."""
    return {"API service (this process)": time.process_time()} | {name: cpu_seconds(pid) for name, pid in pids.items()}


def _children() -> dict[str, int]:
    """The sandbox and Sign Center processes this benchmark started, by pid (from /proc)."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"serve" in cmd:
            out["sandbox" if b"sandbox" in cmd else "Sign Center"] = int(stat.parent.name)
    return out


def _insert(settings: Settings, keys: list[dict[str, Any]], stored: list[dict[str, Any]],
            owners: list[int]) -> None:
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as db, db.begin():
        accounts = Accounts(db)
        for key, cred, owner in zip(keys, stored, owners, strict=True):
            accounts.add(owner, exchange=key["exchange"], name=f"{key['exchange']} {key['uid']}",
                         exchange_uid=str(key["uid"]), credential_id=cred["credential_id"],
                         key_fingerprint=cred["key_fingerprint"], masked_key=cred["masked_key"],
                         ip_whitelist=["127.0.0.1"])
    engine.dispose()


def _refresh(url: str, tmp: Path, profile: bool) -> list[str]:
    shm = Path(tempfile.mkdtemp(prefix="bench-accounts-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        return _refresh_in(url, tmp, shm, profile)
    finally:
        shutil.rmtree(shm, ignore_errors=True)


def _refresh_in(url: str, tmp: Path, shm: Path, profile: bool) -> list[str]:
    with signer_process(shm / "signer-data", tmp / "signer-shm.sock", dict.fromkeys(EXCHANGES, url)) as (sock, _):
        settings = settings_for(tmp, sock, url, "refresh.db")
        users = [uid for uid, _ in make_users(settings, USERS)]
        exchanges = [EXCHANGES[i % len(EXCHANGES)] for i in range(ACCOUNTS)]
        owners = [users[i % USERS] for i in range(ACCOUNTS)]
        t0 = time.perf_counter()
        keys, stored = asyncio.run(_keys_and_credentials(url, sock, exchanges, owners))
        t1 = time.perf_counter()
        _insert(settings, keys, stored, owners)
        t2 = time.perf_counter()
        print(f"  (set-up: {ACCOUNTS:,} sandbox keys + Sign Center intake {t1 - t0:.1f} s, "
              f"account rows {t2 - t1:.1f} s)", flush=True)
        bare = asyncio.run(_signed_rate(url, keys[0]))
        service = timed_service(settings)
        pool: TimedPool = service.pool  # type: ignore[assignment]

        pids = _children()
        cpu: dict[str, dict[str, float]] = {}

        async def run() -> tuple[float, dict[str, Any]]:
            cpu["before"] = _cpu(pids)
            started = time.perf_counter()
            try:
                out = await service.refresh_many(None)
            finally:
                elapsed = time.perf_counter() - started
                cpu["after"] = _cpu(pids)
                await service.pool.close()
                await service.signer.close()
            return elapsed, out

        if profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            elapsed, out = prof.runcall(asyncio.run, run())
            prof.dump_stats(str(tmp / "refresh.prof"))
            pstats.Stats(prof).sort_stats("tottime").print_stats(35)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(60)
        else:
            elapsed, out = asyncio.run(run())
    requests = sum(pool.requests.values())
    floor = requests / bare
    report(f"refresh_many: {out['refreshed']:,} accounts (3 exchanges)", elapsed, "s", floor,
           f"{requests:,} requests at the bare signed rate", target="< 60 s")
    report("refresh_many: accounts/s", out["refreshed"] / elapsed, "acct/s")
    report("sandbox bare signed-request rate (ccxt async)", bare, "req/s")
    used = {name: cpu["after"][name] - cpu["before"][name] for name in cpu["after"]}
    for name, seconds in used.items():
        report(f"refresh_many: CPU of {name}", seconds, "s", elapsed, "wall time")
    wrong = {k: v for k, v in out["statuses"].items() if k != "ok"}
    return [f"refresh {out['refreshed']:,} accounts (binance/okx/bybit): {elapsed:.1f} s "
            f"({out['refreshed'] / elapsed:,.0f}/s, {requests:,} exchange requests, statuses {out['statuses']}) — "
            f"target < 60 s: {_met(elapsed < 60 and not wrong)}",
            f"baseline: sandbox bare signed rate (async ccxt fetch_balance, 16 in flight) {bare:,.0f} req/s → "
            f"{floor:.1f} s for the refresh's {requests:,} requests",
            "CPU during the refresh (2 cores): " + ", ".join(f"{k} {v:.1f} s" for k, v in used.items())]


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(parts: tuple[str, ...] = ("connect", "refresh")) -> None:
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-accounts-") as tmpname, sandbox_process() as url:
        tmp = Path(tmpname)
        if "connect" in parts:
            summary += _connects(url, tmp)
        if "refresh" in parts:
            summary += _refresh(url, tmp, profile="profile" in parts)
    print("summary:")
    for line in summary:
        print("  " + line)


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ("connect", "refresh"))
