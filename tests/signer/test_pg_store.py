"""The Sign Center on a PostgreSQL schema (``--store postgresql+psycopg://…``): the same guarantees as on
SQLite — intake, signing, revocation at once across replicas, shredding — on a real server."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from cexlink.errors import SignerRefused
from cexlink.signer.client import SignerClient
from tests.support.signer import start_signer, store


def test_replicas_on_postgres(sandbox, new_key, tmp_path: Path, pg_url) -> None:
    url = pg_url()
    extra = ["--store", url]
    a = start_signer(tmp_path, sandbox.url, name="pg-a", data_dir=tmp_path / "a", replica="a", extra=extra)
    b = start_signer(tmp_path, sandbox.url, name="pg-b", data_dir=tmp_path / "b", replica="b", extra=extra)
    # Replicas share the store and must share the keys that open it: b gets a's KEK and signer keys.
    ca, cb = SignerClient(socket_path=a.socket), SignerClient(socket_path=b.socket)
    try:
        key = new_key("binance", ips=["127.0.0.1"])
        cred = store(ca, key, "binance")
        with pytest.raises(SignerRefused):  # b holds other keys: it cannot open a's credential
            cb.forward(cred, "binance", ["private"], "GET", "account", {})
        b.stop()
        for name in ("kek.json", "signer-keys.json"):
            (tmp_path / "b" / name).write_bytes((tmp_path / "a" / name).read_bytes())
        b = start_signer(tmp_path, sandbox.url, name="pg-b", data_dir=tmp_path / "b", replica="b", extra=extra)
        cb = SignerClient(socket_path=b.socket)
        assert cb.forward(cred, "binance", ["private"], "GET", "account", {})["status"] == 200
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            before = conn.execute("SELECT now()").fetchone()[0]
        assert ca.revoke_where(owner="user-1", exchange="binance") >= 1
        with pytest.raises(SignerRefused) as refused:
            cb.forward(cred, "binance", ["private"], "GET", "account", {})
        assert refused.value.reason == "credential_revoked"
    finally:
        ca.close(), cb.close(), a.stop(), b.stop()
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT status, wrapped_dek, ciphertext FROM cexlink_signer.credentials WHERE id = %s",
                           (cred,)).fetchone()
        assert row == ("revoked", None, None)
        dump = conn.execute("SELECT string_agg(encode(coalesce(ciphertext, ''), 'escape'), '') "
                            "FROM cexlink_signer.credentials").fetchone()[0] or ""
        # The revocation batch was followed by a VACUUM of the table, so the shredded row's old version does not
        # wait for autovacuum as a dead tuple (what may remain after it: README). n_dead_tup is no proof either
        # way: the updating backend may report its dead tuple to the statistics after the VACUUM ran.
        vacuumed = conn.execute("SELECT last_vacuum FROM pg_stat_user_tables WHERE "
                                "schemaname = 'cexlink_signer' AND relname = 'credentials'").fetchone()[0]
    assert key["secret"] not in dump
    assert vacuumed is not None and vacuumed >= before
