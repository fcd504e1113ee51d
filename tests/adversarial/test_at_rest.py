"""The Sign Center at rest and as a process, attacked as someone with its disk or its user's shell would:
nothing recoverable after revocation, no file readable by others, no core dump or same-user memory read, and
no destructive operation fooled by an argument of the wrong type. Every Sign Center here is the real
``cexlink signer serve`` process, reached over its Unix socket."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cexlink.signer.client import SignerClient
from cexlink.signer.kek import KeyFileKek
from signer_support import start_signer, store

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
