"""``cexlink signer serve --workers N``: worker processes behind one socket share the store, the revocations
and the per-credential rate; each keeps its own audit chain; a dead worker is replaced, and none outlives the
supervisor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cexlink.errors import SignerRefused
from cexlink.signer.client import SignerClient
from tests.support.signer import checkpoint_public_key, start_signer, store

REQUEST = ("binance", ["private"], "GET", "account", {})


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state first, then parent pid); [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _alive(pid: int) -> bool:
    return _stat(pid)[:1] not in ([], ["Z"])


def _children(pid: int) -> set[int]:
    """Live (not zombie) children of ``pid``."""
    return {int(p) for p in os.listdir("/proc") if p.isdigit()
            if (fields := _stat(p))[1:2] == [str(pid)] and fields[0] != "Z"}


def _clients_by_worker(sock: Path, workers: int) -> dict[str, SignerClient]:
    """A connection to each worker: connect until every replica has answered ``health``.

    Bounded by time, not by tries: a replacement worker is a live child for a while before it accepts (it
    opens its store and its audit log first: 12-22 ms here, longer on a loaded machine), and until then every
    connection goes to the worker that is already accepting."""
    by_replica: dict[str, SignerClient] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        client = SignerClient(socket_path=sock)
        replica = client._call("health", {})["replica"]
        if replica in by_replica:
            client.close()
        else:
            by_replica[replica] = client
        if len(by_replica) == workers:
            return by_replica
        time.sleep(0.01)
    raise AssertionError(f"only {sorted(by_replica)} answered")


def test_workers_share_store_revocations_and_rate(sandbox, new_key, tmp_path: Path) -> None:
    proc = start_signer(tmp_path, sandbox.url, extra=["--workers", "2", "--rate-per-credential", "0.001",
                                                      "--burst-per-credential", "6"])
    clients = _clients_by_worker(proc.socket, 2)
    one, two = clients["0.0"], clients["0.1"]
    try:
        cred = store(one, new_key("binance"), "binance")
        for client in (one, two, one, two, one, two):  # one bucket for the credential, whichever worker signs
            assert client.forward(cred, *REQUEST)["status"] == 200
        for client in (one, two):
            with pytest.raises(SignerRefused, match="rate_limited"):
                client.forward(cred, *REQUEST)
        other = store(two, new_key("binance"), "binance")
        assert one.forward(other, *REQUEST)["status"] == 200  # stored by one worker, signed by the other
        assert two.revoke(other) == 1
        with pytest.raises(SignerRefused, match="credential_revoked"):
            one.forward(other, *REQUEST)  # at once, on the worker that had it cached
    finally:
        for client in clients.values():
            client.close()
        proc.stop()
    logs = sorted(p.name for p in proc.data_dir.glob("audit-*.log"))
    assert logs == ["audit-0.0.log", "audit-0.1.log"]
    for name in logs:
        actions = [json.loads(line).get("action") for line in (proc.data_dir / name).read_text().splitlines()]
        assert "forward" in actions
    verify = subprocess.run([sys.executable, "-m", "cexlink.cli", "signer", "audit", "verify", "--data-dir",
                             str(proc.data_dir), "--public-key", checkpoint_public_key(proc.data_dir)],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert [json.loads(line)["ok"] for line in verify.stdout.splitlines()] == [True, True]


def test_a_dead_worker_is_replaced_and_none_outlives_the_supervisor(sandbox, new_key, tmp_path: Path) -> None:
    proc = start_signer(tmp_path, sandbox.url, extra=["--workers", "2"])
    try:
        client = SignerClient(socket_path=proc.socket)
        cred = store(client, new_key("binance"), "binance")
        client.close()
        deadline = time.monotonic() + 20
        while len(workers := _children(proc.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2
        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        while (len(now := _children(proc.proc.pid)) < 2 or victim in now) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert victim not in now and len(now) == 2
        clients = _clients_by_worker(proc.socket, 2)  # both workers answer again, the new one included
        for c in clients.values():
            assert c.forward(cred, *REQUEST)["status"] == 200
            c.close()
        proc.stop(kill=True)  # SIGKILL to the supervisor: its workers die with it
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in now) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(w) for w in now)
    finally:
        proc.stop()


def test_a_worker_that_cannot_start_stops_them_all(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "cexlink.cli", "signer", "serve", "--socket", str(tmp_path / "s.sock"),
                          "--data-dir", str(tmp_path / "data"), "--workers", "2", "--kek", "pkcs11",
                          "--pkcs11-lib", str(tmp_path / "missing.so"), "--pkcs11-token", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "failed to start" in run.stderr
    assert not (tmp_path / "s.sock").exists()
