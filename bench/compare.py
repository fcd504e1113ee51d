"""The Sign Center against its previous code and against its old audit writer, in one run, interleaved.

Three Sign Centers run side by side, each on its own data directory, all signing the same request (KuCoin
``GET accounts``: the previous code answered it with ``sign`` too, its policy allowed it):
- current: this tree's code (audit log appended with ``write(2)`` on ``O_APPEND``);
- current + mmap audit: this tree's code with the memory-mapped audit writer of the base revision
  (mmap_audit.py), so the writers are compared on otherwise equal code;
- base: the base revision's code (default ``BASE``, the commit before the hot-path rework; ``--base REV``),
  from a ``git worktree`` of it, run by the same interpreter and packages.
Each round measures every variant in turn (the order rotating each round): signs/s and the Sign Center's CPU
per signature, with 1 client and with 8 client processes. The medians over the rounds are printed, each with
its ratio to the current code; the spread over rounds says what noise is. Beside them, the two audit writers
alone, in this process: µs per record appended through ``AuditLog`` (batches of 1 and of 8, as one client's
and eight clients' rounds), interleaved, so the writer's own cost is seen without the machine's noise.

Run: ``python -m bench.compare [--base REV]`` (also part of ``python -m bench.signer_rate``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from cexlink.signer.client import SignerClient

from .common import cpu_seconds, median, report, signer_process

BASE = "34ec447"  # the commit before issue 16's work on the Sign Center
ROUNDS = 5
REPO = Path(__file__).resolve().parents[1]


@contextmanager
def base_tree(rev: str) -> Iterator[Path]:
    """A detached ``git worktree`` of ``rev`` (its ``src``), removed on exit."""
    with tempfile.TemporaryDirectory(prefix="bench-base-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(tree), rev],
                       check=True)
        try:
            yield tree / "src"
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)


def _variants(base_src: Path) -> dict[str, dict[str, object]]:
    mapped = base_src / "cexlink" / "signer" / "mapped.py"
    variants: dict[str, dict[str, object]] = {"current": {}}
    if mapped.exists():
        variants["current + mmap audit"] = {"module": "bench.mmap_audit", "env": {"BENCH_MAPPED_PY": str(mapped)}}
    variants["base"] = {"env": {"PYTHONPATH": str(base_src)}}
    return variants


def _append_us(writer: type, tmp: Path, batch: int, records: int = 20_000) -> float:
    """µs per record appended through ``AuditLog`` written by ``writer``, ``batch`` records per write."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cexlink.signer import audit

    saved, audit.AppendFile = audit.AppendFile, writer  # type: ignore[attr-defined]
    try:
        log = audit.AuditLog(tmp / f"append-{writer.__name__}-{batch}.log", b"k" * 32, Ed25519PrivateKey.generate(),
                             time.time, checkpoint_every=10**9, checkpoint_interval_s=3600)
    finally:
        audit.AppendFile = saved  # type: ignore[attr-defined]
    try:
        started = time.perf_counter()
        for _ in range(records // batch):
            with log.batch():
                for _ in range(batch):
                    log.append("sign", "ok", "cred_0123456789abcdef01234567", "kucoin", "GET", "accounts", {})
        return (time.perf_counter() - started) / records * 1e6
    finally:
        log.close()


def _writers(base_src: Path, tmp: Path) -> list[str]:
    from cexlink.signer.appendfile import AppendFile

    spec = importlib.util.spec_from_file_location("bench_mapped", base_src / "cexlink" / "signer" / "mapped.py")
    if spec is None or spec.loader is None:
        return []
    mapped = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mapped)
    got: dict[tuple[str, int], list[float]] = {}
    for r in range(ROUNDS):
        for writer in (AppendFile, mapped.MappedAppendFile)[::1 if r % 2 else -1]:
            for batch in (1, 8):
                got.setdefault((writer.__name__, batch), []).append(_append_us(writer, tmp / f"w{r}", batch))
    lines = []
    for batch in (1, 8):
        plain, mmap = median(got[("AppendFile", batch)]), median(got[("MappedAppendFile", batch)])
        report(f"audit append, batches of {batch}: O_APPEND write(2)", plain, "µs/record", mmap, "mmap")
        lines.append(f"audit append alone, batches of {batch}: O_APPEND {plain:.2f} µs/record, mmap {mmap:.2f} "
                     f"µs/record")
    return lines


def compare(tmp: Path, rev: str = BASE) -> list[str]:
    """Run the comparison; the summary lines."""
    from .signer_rate import DURATION, KUCOIN, OWNER, WORKERS, _concurrent_cpu, _sign_loop

    with base_tree(rev) as base_src, ExitStack() as stack:
        for r in range(ROUNDS):
            (tmp / f"w{r}").mkdir()
        writer_lines = _writers(base_src, tmp)
        centers: dict[str, tuple[SignerClient, str, Path, int]] = {}
        for i, (name, how) in enumerate(_variants(base_src).items()):
            sock, pid = stack.enter_context(signer_process(tmp / f"cmp-data-{i}", tmp / f"cmp-{i}.sock", {},
                                                           **how))  # type: ignore[arg-type]
            client = SignerClient(socket_path=sock)
            stack.callback(client.close)
            cred = client.store(OWNER, "kucoin", KUCOIN["api_key"], KUCOIN["secret"],
                                KUCOIN["passphrase"])["credential_id"]
            for _ in range(1000):
                client.sign(cred, "kucoin", ["private"], "GET", "accounts", {})
            centers[name] = (client, cred, sock, pid)
        rates: dict[str, dict[str, list[float]]] = {n: {k: [] for k in ("1", "1cpu", "8", "8cpu")} for n in centers}
        names = list(centers)
        for r in range(ROUNDS):
            for name in names[r % len(names):] + names[:r % len(names)]:
                client, cred, sock, pid = centers[name]
                cpu0 = cpu_seconds(pid)
                count, elapsed, _ = _sign_loop(client, cred, DURATION)
                rates[name]["1"].append(count / elapsed)
                rates[name]["1cpu"].append((cpu_seconds(pid) - cpu0) / count * 1e6)
                many, _, cpu8 = _concurrent_cpu(sock, cred, pid)
                rates[name]["8"].append(many)
                rates[name]["8cpu"].append(cpu8)
    lines = [f"compare (medians of {ROUNDS} interleaved rounds; base = {rev}):"]
    now = {k: median(v) for k, v in rates["current"].items()}
    for name, got in rates.items():
        for key, label, unit in (("1", "signs/s, 1 client", "signs/s"), ("1cpu", "CPU per signature, 1 client", "µs"),
                                 ("8", f"signs/s, {WORKERS} client processes", "signs/s"),
                                 ("8cpu", f"CPU per signature, {WORKERS} clients", "µs")):
            report(f"compare {name}: {label}", median(got[key]), unit, now[key], "current")
        spread = ", ".join(f"{key} {min(got[key]):,.0f}–{max(got[key]):,.0f}" for key in ("1", "8"))
        lines.append(f"{name}: 1 client {median(got['1']):,.0f}/s ({median(got['1cpu']):.0f} µs CPU/sign), "
                     f"{WORKERS} clients {median(got['8']):,.0f}/s ({median(got['8cpu']):.0f} µs CPU/sign); "
                     f"range over rounds (signs/s): {spread}")
    return lines + writer_lines


def main(rev: str = BASE) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        lines = compare(Path(tmp), rev)
    print("summary:")
    for line in lines:
        print("  " + line)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[args.index("--base") + 1] if "--base" in args else BASE)
