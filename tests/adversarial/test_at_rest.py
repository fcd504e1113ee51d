"""The Sign Center at rest and as a process, attacked as someone with its disk or its user's shell would:
nothing recoverable after revocation, no file readable by others, no core dump or same-user memory read, and
no destructive operation fooled by an argument of the wrong type. Every Sign Center here is the real
``cexlink signer serve`` process, reached over its Unix socket."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cexlink.errors import InputError
from cexlink.signer.client import SignerClient
from cexlink.signer.kek import KeyFileKek
from tests.support.sandbox import SANDBOXED
from tests.support.signer import SignerProcess, start_signer, store

WRAPPED = 12 + 32 + 16  # a wrapped data key: nonce, AES-256 key, GCM tag (kek.py)
REQUEST = ("binance", ["private"], "GET", "account", {})


def _sealed(data_dir: Path) -> dict[str, tuple[bytes, bytes, bytes]]:
    """What an attacker with the disk reads from the store: per credential, its wrapped key, nonce, ciphertext."""
    with sqlite3.connect(f"file:{data_dir / 'signer.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT id, wrapped_dek, nonce, ciphertext FROM credentials "
                          "WHERE wrapped_dek IS NOT NULL").fetchall()
    db.close()
    return {r[0]: (bytes(r[1]), bytes(r[2]), bytes(r[3])) for r in rows}


def _files(data_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in data_dir.iterdir() if p.is_file()}


def _data_keys_recovered(data_dir: Path) -> set[bytes]:
    """The attack with the KEK file in hand: try to unwrap every 60-byte window of every file in the data
    directory (main file, WAL, -shm, free pages, whatever else lies there) under every KEK version."""
    kek = KeyFileKek(data_dir / "kek.json")
    versions = range(kek.min_version, kek.current + 1)
    found = set()
    for content in _files(data_dir).values():
        content = content.rstrip(b"\0")  # a running audit log's reserve: megabytes of NULs ahead of its end
        for offset in range(len(content) - WRAPPED + 1):
            window = content[offset:offset + WRAPPED]
            for version in versions:
                try:
                    found.add(kek.unwrap(version, window))
                except Exception:  # noqa: BLE001,S112 - not a wrapped key at this offset
                    continue
    return found


def _signs(client: SignerClient, cred: str) -> bool:
    return bool(client.forward(cred, *REQUEST)["status"] == 200)


def test_revocation_leaves_no_copy_in_any_store_file(sandbox, new_key, tmp_path: Path) -> None:
    proc = start_signer(tmp_path, sandbox.url, name="shred")
    client = SignerClient(socket_path=proc.socket)
    try:
        one = store(client, new_key("binance", ips=["127.0.0.1"]), "binance", owner="alice")
        owned = [store(client, new_key(ex, ips=["127.0.0.1"]), ex, owner="bob") for ex in ("okx", "bybit")]
        kept = store(client, new_key("binance", ips=["127.0.0.1"]), "binance", owner="carol")
        assert _signs(client, one) and _signs(client, kept)
        before = _sealed(proc.data_dir)
        assert set(before) == {one, *owned, kept}
        # The attack works while the credentials are live: every data key is found in the store's files.
        assert len(_data_keys_recovered(proc.data_dir)) == 4

        assert client.revoke(one) == 1
        assert client.revoke_where(owner="bob") == 2
        blobs = {cred: before[cred] for cred in (one, *owned)}
        files = _files(proc.data_dir)
        assert "signer.db" in files
        leftovers = [(cred, part, name) for cred, parts in blobs.items() for part, blob in zip(
            ("wrapped_dek", "nonce", "ciphertext"), parts, strict=True) for name, content in files.items()
            if blob in content]
        assert leftovers == []
        # The KEK alone now opens only the credential still active; the kept one's bytes are still found,
        # so the scan above would have seen the others.
        assert any(before[kept][0] in content for content in files.values())
        assert len(_data_keys_recovered(proc.data_dir)) == 1
        assert _signs(client, kept)
    finally:
        client.close()
        proc.stop()
    # Stopped, the files as a backup would copy them: still nothing.
    files = _files(proc.data_dir)
    assert not [cred for cred in (one, *owned) for blob in before[cred] for c in files.values() if blob in c]


# ---- the data directory's modes ----

def _launch(tmp: Path, name: str, data_dir: Path, extra: tuple[str, ...] = (), prefix: tuple[str, ...] = (),
            umask: int = -1, sandbox_url: str | None = None) -> SignerProcess:
    """``cexlink signer serve`` as start_signer runs it, under ``prefix`` (setpriv) and the caller's ``umask``."""
    sock, log = tmp / f"{name}.sock", tmp / f"{name}.log"
    urls = [a for ex in SANDBOXED for a in ("--exchange-url", f"{ex}={sandbox_url}")] \
        if sandbox_url else []
    args = [*prefix, sys.executable, "-m", "cexlink.cli", "signer", "serve", "--socket", str(sock), "--data-dir",
            str(data_dir), *urls, *extra]
    proc = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT, umask=umask)
    deadline = time.monotonic() + 30
    while b"sign center ready" not in (log.read_bytes() if log.exists() else b""):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"signer did not start: {log.read_text()}")
        time.sleep(0.02)
    return SignerProcess(proc, sock, data_dir, log)


def _modes(data_dir: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in [data_dir, *data_dir.iterdir()] if not p.is_socket()}


def test_a_pre_created_wide_data_dir_is_locked_down(sandbox, new_key, tmp_path: Path) -> None:
    """An operator's ``mkdir`` (0755) holding a store copied back from a backup (0644), and a caller whose umask
    is 000: after start, and after the Sign Center has written its WAL, the directory is 0700 and every file
    in it 0600."""
    data_dir = tmp_path / "restored"
    first = _launch(tmp_path, "first", data_dir)
    first.stop()
    assert (data_dir / "signer.db").exists()
    os.chmod(data_dir, 0o755)
    for p in data_dir.iterdir():
        if p.is_file():
            os.chmod(p, 0o644)
    (data_dir / "signer.db-wal").write_bytes(b"")  # a WAL left beside the copy
    os.chmod(data_dir / "signer.db-wal", 0o666)
    assert stat.S_IMODE((data_dir / "signer.db").stat().st_mode) == 0o644

    proc = _launch(tmp_path, "restored", data_dir, umask=0, sandbox_url=sandbox.url)
    client = SignerClient(socket_path=proc.socket)
    try:
        cred = store(client, new_key("binance", ips=["127.0.0.1"]), "binance")
        assert _signs(client, cred)  # the store, its WAL and -shm, the audit log are all written by now
        modes = _modes(data_dir)
        assert {"signer.db", "signer.db-wal", "signer.db-shm", "kek.json", "signer-keys.json"} <= set(modes)
        assert modes.pop("restored") == 0o700
        assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
        assert stat.S_IMODE(proc.socket.stat().st_mode) == 0o600
    finally:
        client.close()
        proc.stop()
    fresh = tmp_path / "fresh"  # created by the Sign Center itself under umask 000
    proc = _launch(tmp_path, "fresh", fresh, umask=0)
    proc.stop()
    assert {name: mode for name, mode in _modes(fresh).items() if mode != 0o600} == {"fresh": 0o700}


# ---- no core dump, no memory read by the same user ----

NO_CAPS = ("setpriv", "--bounding-set=-all", "--inh-caps=-all") if os.geteuid() == 0 else ()


def _same_user_reads(pid: int) -> dict[str, str]:
    """An attacker running as the same user without privileges (as root here: no capabilities, so neither
    CAP_SYS_PTRACE nor a superset of the target's) opens the process's environment and memory."""
    said = {}
    for name in ("environ", "mem"):
        out = subprocess.run([*NO_CAPS, "cat", f"/proc/{pid}/{name}"], capture_output=True, text=True, timeout=10)
        said[name] = "denied" if "Permission denied" in out.stderr else "opened"
    return said


def _core_limit(pid: int) -> str:
    line = next(x for x in Path(f"/proc/{pid}/limits").read_text().splitlines() if x.startswith("Max core"))
    return " ".join(line.split()[4:6])  # "Max core file size  <soft>  <hard>  bytes"


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_no_core_dump_and_no_memory_read_by_the_same_user(tmp_path: Path) -> None:
    # The control: an ordinary process of the same user, started the same way, is open to the attacker.
    control = subprocess.Popen([*NO_CAPS, "sleep", "60"])
    try:
        time.sleep(0.2)
        assert _same_user_reads(control.pid)["environ"] == "opened"
    finally:
        control.kill()
        control.wait()
    proc = _launch(tmp_path, "hardened", tmp_path / "hardened-data", extra=("--workers", "2"), prefix=NO_CAPS)
    try:
        workers = _children(proc.proc.pid)
        assert len(workers) == 2
        for pid in (proc.proc.pid, *workers):
            assert _core_limit(pid) == "0 0"
            assert _same_user_reads(pid) == {"environ": "denied", "mem": "denied"}
    finally:
        proc.stop()


# ---- destructive operations and the types of their arguments ----

BAD_CALLS = [  # (operation, arguments as a caller's JSON would carry them, the field named)
    ("revoke_where", {"created_before": "2026-01-01"}, "created_before"),  # a string sorts after every integer
    ("revoke_where", {"created_before": 1.5e15}, "created_before"),
    ("revoke_where", {"created_before": True}, "created_before"),
    ("revoke_where", {"created_before": 2**64}, "created_before"),
    ("revoke_where", {"ids": "cred_x"}, "ids"),
    ("revoke_where", {"ids": [1, 2]}, "ids"),
    ("revoke_where", {"ids": [["cred_x"]]}, "ids"),
    ("revoke_where", {"owner": ["victim"]}, "owner"),
    ("revoke_where", {"owner": ""}, "owner"),
    ("revoke_where", {"exchange": {"$ne": "x"}}, "exchange"),
    ("revoke", {"credential_id": ["cred_x"]}, "credential_id"),
    ("rotate_kek", {"retire_old": "no"}, "retire_old"),  # a true value in Python
    ("rotate_kek", {"retire_old": 1}, "retire_old"),
    ("store", {"expires_at": "x"}, "expires_at"),
    ("store", {"expires_at": -1}, "expires_at"),
    ("store", {"owner": 7}, "owner"),
    ("store", {"exchange": ["binance"]}, "exchange"),
    ("store", {"api_key": 12345}, "api_key"),
]


def test_destructive_operations_refuse_wrong_types_and_change_nothing(sandbox, new_key, tmp_path: Path) -> None:
    proc = start_signer(tmp_path, sandbox.url, name="types")
    client = SignerClient(socket_path=proc.socket)
    try:
        key = new_key("binance", ips=["127.0.0.1"])
        creds = [store(client, new_key("binance", ips=["127.0.0.1"]), "binance", owner=f"user-{i}")
                 for i in range(3)]
        intake = {"owner": "user-9", "exchange": "binance", "api_key": key["api_key"], "secret": key["secret"],
                  "passphrase": None, "expires_at": None}
        refused = []
        for op, args, _ in BAD_CALLS:
            full = {**intake, **args} if op == "store" else args
            with pytest.raises(InputError) as bad:
                getattr(client, op)(**full)  # the client passes values through as JSON, as any caller may
            refused.append((op, bad.value.field))
            assert key["secret"] not in str(bad.value)
        assert refused == [(op, field) for op, _, field in BAD_CALLS]
        for cred in creds:  # nothing was revoked, no KEK version retired, nothing stored
            assert client.describe(cred)["status"] == "active"
            assert client.describe(cred)["kek_version"] == 1
            assert _signs(client, cred)
        with sqlite3.connect(f"file:{proc.data_dir / 'signer.db'}?mode=ro", uri=True) as db:
            assert db.execute("SELECT count(*) FROM credentials").fetchone()[0] == 3
        db.close()
        # The same operations with the right types still work.
        assert client.rotate_kek(retire_old=True)["min_version"] == 2
        assert _signs(client, creds[0])
        assert client.revoke_where(ids=[creds[0]]) == 1
        assert [client.describe(c)["status"] for c in creds] == ["revoked", "active", "active"]
    finally:
        client.close()
        proc.stop()
