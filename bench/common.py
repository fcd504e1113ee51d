"""Helpers shared by the benchmarks: the sandbox, the Sign Center and the bare signer in their own processes,
percentiles, result lines."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from cexlink.exchanges.capabilities import SANDBOXED


@contextmanager
def _child(args: list[str], stdin: str | None = None, stop_timeout: float = 10.0,
           env: dict[str, str] | None = None) -> Iterator[tuple[int, str]]:
    """A server in a child process (its own core and GIL): yields its pid and the first line it printed;
    terminated on exit. ``stdin`` is written to it first (a key that must not be in the command line); ``env``
    is added to this process's environment."""
    proc = subprocess.Popen(args, stdin=subprocess.PIPE if stdin else None, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **env} if env else None)
    try:
        if stdin and proc.stdin:
            proc.stdin.write(stdin)
            proc.stdin.flush()
        yield proc.pid, proc.stdout.readline() if proc.stdout else ""
    finally:
        proc.terminate()
        proc.wait(timeout=stop_timeout)


@contextmanager
def sandbox_process() -> Iterator[str]:
    """``cexlink sandbox serve`` in a child process; yields its URL."""
    with _child([sys.executable, "-m", "cexlink.cli", "sandbox", "serve", "--port", "0"]) as (_, line):
        url = line.rsplit(" ", 1)[1].strip()
        for exchange in SANDBOXED:  # the benchmark measures serving, not rate limiting
            httpx.post(url + "/sandbox/v1/limits", json={"exchange": exchange, "enabled": False})
        httpx.post(url + "/sandbox/v1/walk", json={"volatility": "0"})
        yield url


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def report(name: str, value: float, unit: str, baseline: float | None = None, baseline_name: str = "",
           target: str = "") -> None:
    line = f"{name:<48} {value:>12,.1f} {unit}"
    if baseline:
        line += f"   | baseline {baseline_name}: {baseline:,.1f} {unit}, ratio {value / baseline:.2f}"
    if target:
        line += f"   | target {target}"
    print(line, flush=True)


median = statistics.median


def proc_stat(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first, then parent pid); [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU time so far of a process (and, with ``children``, of its children alive now: a Sign
    Center's workers)."""
    pids = [str(pid)]
    if children:
        pids += [p for p in os.listdir("/proc") if p.isdigit() and proc_stat(p)[1:2] == [str(pid)]]
    ticks = sum(int(f[11]) + int(f[12]) for f in map(proc_stat, pids) if f)
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def signer_process(data_dir: Path, sock: Path, exchange_urls: dict[str, str], workers: int = 1,
                   module: str = "cexlink.cli", env: dict[str, str] | None = None) -> Iterator[tuple[Path, int]]:
    """``cexlink signer serve`` in its own process(es), per-credential rate limits out of the way; yields
    (socket path, pid of the process or of the workers' supervisor). ``module`` runs the CLI (a variant's
    launcher), ``env`` is added to the environment (``PYTHONPATH``: another revision's code)."""
    args = [sys.executable, "-m", module, "signer", "serve", "--socket", str(sock), "--data-dir",
            str(data_dir), "--rate-per-credential", "1e9", "--burst-per-credential", "1e9", "--workers", str(workers)]
    for name, url in exchange_urls.items():
        args += ["--exchange-url", f"{name}={url}"]
    with _child(args, stop_timeout=15.0, env=env) as (pid, line):
        if "ready" not in line or not sock.exists():
            raise RuntimeError(f"the Sign Center did not start: {line!r}")
        yield sock, pid


@contextmanager
def bare_signer_process(sock: Path, exchange: str, url: str, key: dict[str, str]) -> Iterator[tuple[Path, int]]:
    """bare_signer.py in its own process, the floor the Sign Center is measured against; yields (socket, pid).
    ``url`` "-" leaves the exchange's own URLs (nothing is sent: the signing rate)."""
    key_line = json.dumps({"api_key": key["api_key"], "secret": key["secret"],
                           "passphrase": key.get("passphrase")}) + "\n"
    with _child([sys.executable, "-m", "bench.bare_signer", str(sock), exchange, url], stdin=key_line) as (pid, line):
        if "ready" not in line:
            raise RuntimeError("the bare signer did not start")
        yield sock, pid
