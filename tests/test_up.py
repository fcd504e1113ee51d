"""``cexlink up`` as a new user runs it: everything starts, the chain works, Ctrl-C stops it all."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path


def run_up(data_dir: Path) -> tuple[list[str], subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "cexlink.cli", "up", "--port", "0", "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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


def test_up_starts_sandbox_and_sign_center_and_stops_cleanly(tmp_path: Path) -> None:
    lines, proc = run_up(tmp_path)
    try:
        text = "\n".join(lines)
        assert "sandbox exchange: http://127.0.0.1:" in text
        assert "Sign Center: unix socket" in text
        assert "remote-signed check: Binance demo balance 10000 USDT" in text, text
    finally:
        assert stop(proc) == 0
    assert not (tmp_path / "signer.sock").exists()  # the Sign Center stopped with it
    secrets_file = tmp_path / "demo-keys.json"
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"

    again, proc = run_up(tmp_path)  # a second start reuses the demo keys and credentials
    try:
        assert [ln for ln in again if "credential=" in ln] == [ln for ln in lines if "credential=" in ln]
    finally:
        stop(proc)
