"""The Sign Center's signing rate and latency over its Unix socket, the cost of remote signing on a real ccxt
call, and the time to revoke 1,000,000 credentials — each beside a baseline measured in the same run.

1. Signs/s and p50/p99 latency of KuCoin ``GET accounts`` signing (``sign(cred, "kucoin", ["private"], "GET",
   "accounts", {})``, the credential stored once) over the Unix socket, with ccxt's own in-process ``sign()``
   of the same request (a locally keyed ``ccxt.kucoin``) as the floor. (KuCoin: the ``sign`` operation answers
   only exchanges whose signature binds the whole request; Binance and Bybit are forwarded, part 2. Before
   that change this part signed Binance ``GET account``: one HMAC-SHA256 either way.)
   - one client: a sync ``SignerClient``, one request in flight. Targets: ≥ 5,000 signs/s, p99 < 1 ms.
   - 8 concurrent clients: 8 separate client *processes* (multiprocessing, fork), each with its own
     ``SignerClient`` connection and one request in flight — as 8 API-server worker processes, each signing
     for the request it is serving. No pipelining: a worker waits for its signature before it sends. Target:
     ≥ 10,000 signs/s in total. The client processes share the machine's 2 cores with the Sign Center, as
     co-located API workers would.
   Also printed: the ``health`` op round trip on the same socket (the transport floor, no engine work), the
   Sign Center's own CPU per signature (from /proc; steadier than wall rates on a shared machine), and, as
   context only, 8 coroutines pipelined on one ``AsyncSignerClient`` (one async API worker) and the 8 client
   processes against a second Sign Center on the same store with ``--workers 2``.
2. A remote-signed ccxt private call on the sandbox (sync ``cexlink.ccxt.remote(...)`` pointed with
   ``point_ccxt``) against the same call with in-process keys (``ccxt_client``): ``fetch_balance`` and a
   create+cancel order pair, interleaved call by call; the ratio of medians; for Binance and Bybit, which the
   Sign Center *forwards* (signs and sends itself: their signatures do not bind the path). Beside it, in the same
   run, the two floors of a bare signer: forwarding the same way, and the old sign path (it returns the signed
   request and the caller sends it, as the Sign Center did for these exchanges before). Target: the forward
   ratio at most 0.1 above the sign path's; the old target, ≤ 1.2 overall, is printed too, judged on calls
   made back to back. As context, the same with a pause of ``SPACED_S`` before each call, as calls arrive from a
   platform's bots: on a virtual machine whatever ran after a pause runs slower, so back to back favours the
   in-process baseline (its client and the sandbox stay warm, the Sign Center idles through each HTTP exchange)
   and spaced calls are slow on both sides.
3. Revoking 1,000,000 credentials with ``SignCenter.revoke_where(owner=..., created_before=...)``, in a fresh
   signer store bulk-filled with 1M rows of realistic shape (the store's own table, random bytes for the sealed
   fields, one transaction), beside a trivial full-table one-column UPDATE of the same SQLite file. Target:
   < 10 s.

Beside both the Sign Center's figures, as the floor of any signer in another process, the same measurements
against a bare signer (bare_signer.py: ccxt's ``sign()`` behind the same socket protocol, and nothing else — no
policy, no audit, no store): the 8 client processes, and the ccxt calls back to back. What the Sign Center
adds beyond that floor is its own work; the floor itself is the process boundary on this machine.

4. compare.py: the Sign Center beside its previous code (a ``git worktree`` of ``--base REV``) and beside its
   old memory-mapped audit writer, interleaved in the same run: signs/s and CPU per signature, 1 and 8 clients.

The Sign Center and the sandbox each run in their own process. Run: ``python -m bench.signer_rate [sign] [ccxt]
[revoke] [compare] [--base REV]`` (default: all four). The first summary line says how busy the machine was with
other work.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ccxt
import httpx

from cexlink.ccxt import remote
from cexlink.exchanges.capabilities import CAPABILITIES, SANDBOXED
from cexlink.exchanges.endpoints import point_ccxt
from cexlink.sandbox.clients import ccxt_client
from cexlink.signer.client import AsyncSignerClient, SignerClient

from . import compare
from .common import bare_signer_process, cpu_seconds, median, percentile, report, sandbox_process, signer_process

REQUEST = ("kucoin", ["private"], "GET", "accounts", {})
# A KuCoin credential of the right shape (nothing is sent with it: part 1 only signs).
KUCOIN = {"api_key": "64f1a2b3c4d5e6f708192a3b", "secret": "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b",
          "passphrase": "kc-pass-123"}
# Sandboxed exchanges the Sign Center forwards, whose keys are stored with key and secret alone (no passphrase).
FORWARDED = tuple(c.id for c in CAPABILITIES if c.sandbox and c.forwarded and not c.passphrase)
DURATION = 3.0  # seconds per signing measurement
WORKERS = 8
WARM_UP = 200  # signatures per client process before the timed ones
CALL_ROUNDS = 150  # interleaved remote/local ccxt calls per kind
SPACED_S = 0.005  # the pause before each call of the spaced variant
REVOKE_ROWS = 1_000_000
OWNER = "tenant-1"


# ---- 1. signing rate ----

def _sign_loop(client: SignerClient, cred: str, duration: float, op: str = "sign") -> tuple[int, float, list[float]]:
    """Sign until ``duration`` has passed; (count, elapsed, per-call latencies in seconds). ``op="health"``
    makes the same round trip without the engine (the transport floor)."""
    latencies: list[float] = []
    clock = time.perf_counter
    call = (lambda: client.sign(cred, *REQUEST)) if op == "sign" else (lambda: client._call("health", {}))
    started = clock()
    stop_at = started + duration
    now = started
    while now < stop_at:
        t0 = now
        call()
        now = clock()
        latencies.append(now - t0)
    return len(latencies), now - started, latencies


def _worker(sock: str, cred: str, start_at: float, duration: float, out: Any) -> None:
    client = SignerClient(socket_path=sock)
    for _ in range(WARM_UP):  # connect and warm up
        client.sign(cred, *REQUEST)
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.time()
    count, _, latencies = _sign_loop(client, cred, duration)
    out.put((count, t0, time.time(), latencies))
    client.close()


def _concurrent(sock: Path, cred: str) -> tuple[float, list[float]]:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    start_at = time.time() + 1.0
    procs = [ctx.Process(target=_worker, args=(str(sock), cred, start_at, DURATION, out)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    total = sum(r[0] for r in results)
    window = max(r[2] for r in results) - min(r[1] for r in results)
    return total / window, [x for r in results for x in r[3]]


def _concurrent_cpu(sock: Path, cred: str, pid: int) -> tuple[float, list[float], float]:
    """``_concurrent`` against the server process ``pid``: (signs/s, latencies, its CPU µs per signature)."""
    cpu0 = cpu_seconds(pid, children=True)
    rate, latencies = _concurrent(sock, cred)
    cpu = (cpu_seconds(pid, children=True) - cpu0) / (len(latencies) + WARM_UP * WORKERS) * 1e6  # timed calls + warm-up
    return rate, latencies, cpu


def _pipelined(sock: Path, cred: str) -> tuple[float, list[float]]:
    """WORKERS coroutines signing over one ``AsyncSignerClient`` connection (pipelined, matched by id)."""

    async def run() -> tuple[float, list[float]]:
        client = AsyncSignerClient(sock)
        await asyncio.gather(*(client.sign(cred, *REQUEST) for _ in range(WARM_UP)))
        latencies: list[float] = []
        clock = time.perf_counter
        stop_at = clock() + DURATION

        async def caller() -> None:
            while (t0 := clock()) < stop_at:
                await client.sign(cred, *REQUEST)
                latencies.append(clock() - t0)

        started = clock()
        await asyncio.gather(*(caller() for _ in range(WORKERS)))
        elapsed = clock() - started
        await client.close()
        return len(latencies) / elapsed, latencies

    return asyncio.run(run())


def _ccxt_floor(key: dict[str, str]) -> float:
    ex = ccxt.kucoin({"apiKey": key["api_key"], "secret": key["secret"], "password": key["passphrase"]})
    _, api, method, path, params = REQUEST
    for _ in range(1000):
        ex.sign(path, api, method, params)
    n = 0
    started = time.perf_counter()
    stop_at = started + DURATION / 2
    while time.perf_counter() < stop_at:
        for _ in range(100):
            ex.sign(path, api, method, params)
        n += 100
    return n / (time.perf_counter() - started)


# ---- 2. remote-signed ccxt call vs in-process keys ----

def _signing_caller(exchange: str, client: SignerClient, cred: str, url: str) -> Any:
    """The old sign path, for the floor: ccxt's class whose ``sign()`` asks the signer for the signed request,
    which the caller then sends itself (what the Sign Center no longer answers for Binance and Bybit)."""
    base = getattr(ccxt, exchange)

    def sign(self: Any, path: str, api: Any = "public", method: str = "GET", params: Any = None) -> Any:
        if "public" in str(api):
            return base.sign(self, path, api, method, params or {})
        return client.sign(cred, exchange, api, method, path, params or {})

    caller = type(f"Signing{base.__name__}", (base,), {"sign": sign})({"apiKey": "-", "secret": "-",
                                                                         "enableRateLimit": False})
    return point_ccxt(caller, url)


def _ccxt_ratio(url: str, exchange: str, key: dict[str, str], sock: Path, cred: str, pause: float = 0.0,
                signing: bool = False) -> dict[str, tuple[float, float]]:
    """Medians (remote-signed, in-process keys) per call; ``signing``: the old sign path instead of forward."""
    local = ccxt_client(exchange, url, key)
    client = SignerClient(socket_path=sock)
    far = (_signing_caller(exchange, client, cred, url) if signing else
           point_ccxt(remote(exchange, cred, client, config={"enableRateLimit": False}), url))
    for ex in (local, far):
        ex.load_markets()
        ex.fetch_balance()

    def balance(ex: Any) -> None:
        ex.fetch_balance()

    def order(ex: Any) -> None:
        placed = ex.create_order("BTC/USDT", "limit", "buy", 0.001, 20000)
        ex.cancel_order(placed["id"], "BTC/USDT")

    results: dict[str, tuple[float, float]] = {}
    for name, call in (("fetch_balance", balance), ("create+cancel order", order)):
        times: dict[int, list[float]] = {0: [], 1: []}
        for i in range(CALL_ROUNDS):
            pair = (local, far) if i % 2 else (far, local)  # alternate who goes first
            for ex in pair:
                if pause:
                    time.sleep(pause)
                t0 = time.perf_counter()
                call(ex)
                times[ex is far].append(time.perf_counter() - t0)
        results[name] = (median(times[1]), median(times[0]))
    client.close()
    return results


# ---- 3. mass revocation ----

def _fill(store: Any, rows: int, now_ms: int) -> None:
    """``rows`` credentials of realistic shape in one transaction: the store's own INSERT statement (compiled
    from its table object) run with executemany on the same connection; random bytes for the sealed fields
    (wrapped DEK 60 B, nonce 12 B, ciphertext 170 B, as ``seal`` makes them) and a random fingerprint. Plain
    tuples: SQLAlchemy's per-row parameter processing of dicts tripled the fill time without changing the file."""
    table = store.credentials
    columns = [c.name for c in table.c]
    statement = str(table.insert().compile(dialect=store.engine.dialect, column_keys=columns))
    year_ms = 365 * 86_400_000
    chunk = 50_000
    with store.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA cache_size=-262144")  # the random fingerprint index; reset below
        for start in range(0, rows, chunk):
            n = min(rows, start + chunk) - start
            blob = os.urandom(n * 262)
            hexes = blob[:n * 20].hex()
            batch = []
            for j in range(n):
                i, fp, o = start + j, hexes[j * 40:(j + 1) * 40], n * 20 + j * 242
                batch.append((f"cred_{i:024x}", OWNER, SANDBOXED[i % len(SANDBOXED)], "kf_" + fp,
                              f"{fp[:4]}…{fp[-4:]}", now_ms - year_ms + i * (year_ms // rows), None, "active", None,
                              1, 1, blob[o:o + 60], blob[o + 60:o + 72], blob[o + 72:o + 242]))
            conn.exec_driver_sql(statement, batch)
        conn.exec_driver_sql("PRAGMA cache_size=-2000")  # SQLite's default again for the timed statements


def _revoke(tmp: Path) -> tuple[float, float, int]:
    from cexlink.signer.engine import SignCenter, SignerConfig

    engine = SignCenter(SignerConfig(tmp / "revoke-data"))
    try:
        now_ms = int(time.time() * 1000)
        t0 = time.perf_counter()
        _fill(engine.store, REVOKE_ROWS, now_ms)
        print(f"  (filled {REVOKE_ROWS:,} rows in {time.perf_counter() - t0:.1f} s)", flush=True)

        def checkpoint() -> None:  # each timed statement starts with an empty WAL
            with engine.store.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

        checkpoint()
        t0 = time.perf_counter()
        with engine.store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE credentials SET expires_at = created_at + 1")
        baseline = time.perf_counter() - t0
        checkpoint()
        t0 = time.perf_counter()
        count = engine.revoke_where(owner=OWNER, created_before=now_ms + 1)
        revoke = time.perf_counter() - t0
    finally:
        engine.close()
    return revoke, baseline, count


PARTS = ("sign", "ccxt", "revoke", "compare")


def main(parts: tuple[str, ...] = PARTS, base: str = compare.BASE) -> None:
    busy = _machine_busy()
    summary = [f"machine: {os.cpu_count()} cores, {busy:.0%} busy with other work just before the run"]
    with tempfile.TemporaryDirectory(prefix="bench-signer-") as tmpname, sandbox_process() as url:
        tmp = Path(tmpname)
        keys = {ex: httpx.post(url + "/sandbox/v1/keys", json={
            "exchange": ex, "ips": ["127.0.0.1"], "balances": {"USDT": "100000000"}}).json() for ex in FORWARDED}
        with signer_process(tmp / "signer-data", tmp / "signer.sock", {ex: url for ex in FORWARDED}) as (sock, pid):
            client = SignerClient(socket_path=sock)
            if "sign" in parts:
                cred = client.store(OWNER, "kucoin", KUCOIN["api_key"], KUCOIN["secret"],
                                    KUCOIN["passphrase"])["credential_id"]
                with bare_signer_process(tmp / "bare.sock", "kucoin", "-", KUCOIN) as bare:
                    summary += _signing(client, cred, sock, pid, KUCOIN, bare)
            if "ccxt" in parts:
                for exchange in FORWARDED:
                    cred = client.store(OWNER, exchange, keys[exchange]["api_key"],
                                        keys[exchange]["secret"])["credential_id"]
                    with bare_signer_process(tmp / f"bare-{exchange}.sock", exchange, url, keys[exchange]) as bare:
                        summary += _ccxt_calls(url, exchange, keys[exchange], sock, cred, bare[0])
            client.close()
        if "revoke" in parts:
            summary += _revocation(tmp)
        if "compare" in parts:
            summary += compare.compare(tmp, base)
    print("summary:")
    for line in summary:
        print("  " + line)


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _machine_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy (anyone's work) over ``seconds``: the load this run shares the machine with."""
    def sample() -> tuple[int, int]:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def _signing(client: SignerClient, cred: str, sock: Path, pid: int, key: dict[str, str],
             bare: tuple[Path, int]) -> list[str]:
    floor = _ccxt_floor(key)
    for _ in range(1000):
        client.sign(cred, *REQUEST)
        client._call("health", {})
    count, elapsed, lat = _sign_loop(client, cred, DURATION / 2, op="health")
    h50, h99 = percentile(lat, 50) * 1e6, percentile(lat, 99) * 1e6
    cpu0 = cpu_seconds(pid, children=True)
    count, elapsed, lat = _sign_loop(client, cred, DURATION)
    cpu_per_sign = (cpu_seconds(pid, children=True) - cpu0) / count * 1e6
    one = count / elapsed
    p50, p99 = percentile(lat, 50) * 1e6, percentile(lat, 99) * 1e6
    report("signer: signs/s, 1 client (UDS)", one, "signs/s", floor, "ccxt in-process sign()", target="≥ 5,000/s")
    report("signer: p50 latency, 1 client", p50, "µs", h50, "health op, same socket")
    report("signer: p99 latency, 1 client", p99, "µs", h99, "health op, same socket", target="< 1,000 µs")
    report("signer: its CPU per signature, 1 client", cpu_per_sign, "µs", 1e6 / floor, "ccxt sign()")
    many, lat8, cpu_per_sign8 = _concurrent_cpu(sock, cred, pid)
    q50, q99 = percentile(lat8, 50) * 1e6, percentile(lat8, 99) * 1e6
    report(f"signer: signs/s, {WORKERS} client processes", many, "signs/s", floor, "ccxt in-process sign()",
           target="≥ 10,000/s")
    report(f"signer: p50 latency, {WORKERS} clients", q50, "µs", p50, "1 client")
    report(f"signer: p99 latency, {WORKERS} clients", q99, "µs", p99, "1 client")
    report(f"signer: its CPU per signature, {WORKERS} clients", cpu_per_sign8, "µs", cpu_per_sign, "1 client")
    floor8, _, cpu_bare = _concurrent_cpu(bare[0], cred, bare[1])
    report(f"bare signer: signs/s, {WORKERS} client processes", floor8, "signs/s", many, "Sign Center")
    report(f"bare signer: its CPU per signature, {WORKERS} clients", cpu_bare, "µs", cpu_per_sign8, "Sign Center")
    piped, latp = _pipelined(sock, cred)
    r50, r99 = percentile(latp, 50) * 1e6, percentile(latp, 99) * 1e6
    report(f"signer: signs/s, {WORKERS} pipelined async callers", piped, "signs/s", many,
           f"{WORKERS} client processes")
    with signer_process(sock.parent / "signer-data", sock.parent / "signer-w2.sock", {}, workers=2) as (sock2, pid2):
        many2, lat2, cpu_w2 = _concurrent_cpu(sock2, cred, pid2)
    report(f"signer: signs/s, {WORKERS} client processes, --workers 2", many2, "signs/s", many, "--workers 1")
    return [f"ccxt in-process sign() (floor): {floor:,.0f}/s ({1e6 / floor:.0f} µs); health op round trip "
            f"p50 {h50:.0f} µs, p99 {h99:.0f} µs",
            f"sign, 1 client: {one:,.0f}/s, p50 {p50:.0f} µs, p99 {p99:.0f} µs — target ≥ 5,000/s and p99 < 1 ms: "
            f"{_met(one >= 5000 and p99 < 1000)}; Sign Center CPU {cpu_per_sign:.0f} µs per signature",
            f"sign, {WORKERS} client processes: {many:,.0f}/s, p50 {q50:.0f} µs, p99 {q99:.0f} µs — "
            f"target ≥ 10,000/s: {_met(many >= 10_000)}; Sign Center CPU {cpu_per_sign8:.0f} µs per signature",
            f"(floor) {WORKERS} client processes, bare signer (ccxt's sign() behind the socket, nothing else): "
            f"{floor8:,.0f}/s; its CPU {cpu_bare:.0f} µs per signature",
            f"(context) {WORKERS} callers pipelined on one AsyncSignerClient: {piped:,.0f}/s, p50 {r50:.0f} µs, "
            f"p99 {r99:.0f} µs",
            f"(context) {WORKERS} client processes, Sign Center with --workers 2: {many2:,.0f}/s, p50 "
            f"{percentile(lat2, 50) * 1e6:.0f} µs; its CPU {cpu_w2:.0f} µs per signature"]


def _ccxt_calls(url: str, exchange: str, key: dict[str, str], sock: Path, cred: str, bare: Path) -> list[str]:
    lines = []
    for pause in (0.0, SPACED_S):
        how = "back to back" if not pause else f"{pause * 1e3:g} ms apart (context)"
        forward = _ccxt_ratio(url, exchange, key, sock, cred, pause)
        floors = ({"bare forward": _ccxt_ratio(url, exchange, key, bare, cred),
                   "bare sign path": _ccxt_ratio(url, exchange, key, bare, cred, signing=True)} if not pause else {})
        for name, (far, near) in forward.items():
            report(f"{exchange} {name}, {how}: forwarded by the Sign Center (median)", far * 1e3, "ms", near * 1e3,
                   "in-process keys", target="" if pause else "ratio ≤ sign path + 0.1")
            line = f"{exchange} {name}, {how}, forwarded/in-process: {far / near:.2f} ({far * 1e3:.2f} vs " \
                   f"{near * 1e3:.2f} ms)"
            if floors:
                bare_far, bare_near = floors["bare forward"][name]
                sign_far, sign_near = floors["bare sign path"][name]
                ratio, sign_ratio = far / near, sign_far / sign_near
                line += (f"; floors: bare forward {bare_far / bare_near:.2f}, bare sign path {sign_ratio:.2f} — "
                         f"forward ≤ sign path + 0.1: {_met(ratio <= sign_ratio + 0.1)}; ≤ 1.2: {_met(ratio <= 1.2)}")
                for floor, (f_far, f_near) in (("bare forward", floors["bare forward"][name]),
                                               ("bare sign path", floors["bare sign path"][name])):
                    report(f"{exchange} {name}, back to back: {floor} (median)", f_far * 1e3, "ms", f_near * 1e3,
                           "in-process keys")
            lines.append(line)
    return lines


def _revocation(tmp: Path) -> list[str]:
    revoke, baseline, revoked = _revoke(tmp)
    report(f"revoke_where: {revoked:,} credentials", revoke, "s", baseline, "full-table 1-column UPDATE",
           target="< 10 s")
    return [f"revoke {revoked:,} credentials: {revoke:.2f} s (trivial full-table UPDATE {baseline:.2f} s) — "
            f"target < 10 s: {_met(revoke < 10 and revoked == REVOKE_ROWS)}"]


if __name__ == "__main__":
    argv = sys.argv[1:]
    rev = compare.BASE
    if "--base" in argv:
        at = argv.index("--base")
        rev = argv[at + 1]
        del argv[at:at + 2]
    main(tuple(argv) or PARTS, rev)
