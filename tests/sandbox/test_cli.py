"""The sandbox as a user runs it: ``cexlink sandbox serve`` and ``cexlink sandbox new-key``, in processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cexlink.sandbox.clients import ccxt_client

CLI = [sys.executable, "-m", "cexlink.cli"]

pytestmark = pytest.mark.slow  # each test starts `cexlink sandbox serve` processes: ~25 s in all


def start(state: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([*CLI, "sandbox", "serve", "--port", "0", "--state", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    assert "listening on http://" in line, (line, proc.stderr.read() if proc.stderr else "")
    return proc, line.rsplit(" ", 1)[1].strip()


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=15)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    state = tmp_path / "sandbox.json"
    proc, url = start(state)
    yield proc, url, state
    if proc.poll() is None:
        stop(proc)


def new_key(url: str, *args: str) -> dict:
    out = subprocess.run([*CLI, "sandbox", "new-key", "--url", url, *args], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_new_key_prints_one_json_object(served: tuple) -> None:
    _, url, _ = served
    okx = new_key(url, "--exchange", "okx", "--permissions", "read,spot", "--ip", "127.0.0.1", "--ip", "10.1.2.3")
    assert set(okx) >= {"api_key", "secret", "passphrase", "uid"}
    assert okx["passphrase"] and okx["ips"] == ["127.0.0.1", "10.1.2.3"]
    assert okx["permissions"] == {"perm": ["read_only", "trade"]}
    bybit = new_key(url, "--exchange", "bybit", "--sub-account", "--expires-in-days", "3")
    assert bybit["passphrase"] is None and bybit["expires_at"]


def test_new_key_bad_input_names_the_option(served: tuple) -> None:
    _, url, _ = served
    out = subprocess.run([*CLI, "sandbox", "new-key", "--url", url, "--exchange", "binance", "--permissions",
                          "read,fly"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "permissions" in out.stderr and "fly" in out.stderr


def test_state_survives_a_restart(served: tuple) -> None:
    proc, url, state = served
    key = new_key(url, "--exchange", "binance", "--fund", "USDT=5000", "--fund", "BTC=1")
    ex = ccxt_client("binance", url, key)
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000)
    stop(proc)
    assert oct(os.stat(state).st_mode & 0o777) == "0o600"
    proc2, url2 = start(state)
    try:
        ex2 = ccxt_client("binance", url2, key)
        balance = ex2.fetch_balance()
        assert balance["USDT"]["used"] == pytest.approx(300.0)
        assert [o["id"] for o in ex2.fetch_open_orders("BTC/USDT")] == [order["id"]]
        ex2.cancel_order(order["id"], "BTC/USDT")
        assert ex2.fetch_balance()["USDT"]["free"] == pytest.approx(5000.0)
        again = new_key(url2, "--exchange", "binance")  # counters continue: no uid or order id reused
        assert again["uid"] != key["uid"]
    finally:
        stop(proc2)
