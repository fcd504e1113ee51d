"""``cexlink up`` as a new user runs it: everything starts, the chain works, Ctrl-C stops it all."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _as_from_a_terminal() -> None:
    # A terminal's foreground job gets Ctrl-C with SIGINT at its default; a runner started as a background job
    # of a non-interactive shell passes SIGINT on ignored, and Python then installs no KeyboardInterrupt for it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_up(data_dir: Path) -> tuple[list[str], subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "cexlink.cli", "up", "--port", "0", "--api-port", "0",
                             "--data-dir", str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_as_from_a_terminal)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("Ctrl-C"):
            break
    return lines, proc


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=30)


def test_up_starts_everything_and_stops_cleanly(tmp_path: Path) -> None:
    lines, proc = run_up(tmp_path)
    try:
        text = "\n".join(lines)
        api_url = next(ln.split()[2] for ln in lines if ln.startswith("cexlink API:"))
        token = next(ln.split()[3] for ln in lines if ln.startswith("demo user token:"))
        assert "sandbox exchange: http://127.0.0.1:" in text and "Sign Center: " in text
        demo = [ln for ln in lines if ln.strip().startswith("demo ") and "uid=" in ln]
        assert len(demo) == 3 and all("status=ok" in ln for ln in demo), text
        accounts = httpx.get(api_url + "/api/v1/accounts", headers={"authorization": f"Bearer {token}"}).json()
        assert sorted(a["exchange"] for a in accounts) == ["binance", "bybit", "okx"]
        assert all(a["balances"]["USDT"]["free"] == "10000" for a in accounts)
    finally:
        assert stop(proc) == 0
    assert not (tmp_path / "signer.sock").exists()  # the Sign Center stopped with it
    assert oct((tmp_path / "demo-keys.json").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "demo-token").stat().st_mode & 0o777) == "0o600"

    again, proc = run_up(tmp_path)  # a second start keeps the user, its token and its connections
    try:
        assert [ln.split(" key=")[0] for ln in again if "uid=" in ln] == \
            [ln.split(" key=")[0] for ln in lines if "uid=" in ln]
        assert next(ln for ln in again if ln.startswith("demo user token:")).split()[3] == token
    finally:
        stop(proc)
