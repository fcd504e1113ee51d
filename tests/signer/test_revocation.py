"""Revocation stops signing at once, on every replica, and destroys the wrapped data keys (crypto-shredding).
A sealed row copied onto another row does not open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cexlink.errors import SignerRefused
from cexlink.signer.client import SignerClient
from tests.support.signer import start_signer, store


def _sign(client: SignerClient, cred: str) -> dict:
    # Binance is forwarded: the Sign Center signs and sends it (a Binance signature never leaves it)
    return client.forward(cred, "binance", ["private"], "GET", "account", {})


def _refusal(client: SignerClient, cred: str) -> str:
    with pytest.raises(SignerRefused) as refused:
        _sign(client, cred)
    return refused.value.reason


def test_revoke_stops_signing_at_once_and_shreds(new_key, client: SignerClient, signer) -> None:
    cred = store(client, new_key("binance"), "binance")
    assert _sign(client, cred)["status"] == 200  # now cached in the signer's memory
    assert client.revoke(cred) == 1
    assert _refusal(client, cred) == "credential_revoked"
    row = sqlite3.connect(signer.data_dir / "signer.db").execute(
        "SELECT status, wrapped_dek, ciphertext FROM credentials WHERE id = ?", (cred,)).fetchone()
    assert row == ("revoked", None, None)
    assert client.describe(cred)["status"] == "revoked"


def test_revoke_where_created_before(new_key, client: SignerClient) -> None:
    owner = "mass-revocation-owner"
    old = [store(client, new_key("binance"), "binance", owner=owner) for _ in range(3)]
    cutoff = client.describe(old[-1])["created_at"] + 1
    import time

    time.sleep(0.01)
    new = store(client, new_key("binance"), "binance", owner=owner)
    assert client.revoke_where(owner=owner, created_before=cutoff) == 3
    assert [_refusal(client, c) for c in old] == ["credential_revoked"] * 3
    assert _sign(client, new)["status"] == 200
    with pytest.raises(Exception, match="filter"):
        client.revoke_where()  # an empty filter would revoke everything: refused


def test_revocation_reaches_another_replica_at_once(sandbox, new_key, tmp_path: Path) -> None:
    """Two Sign Center processes over one store: a revocation through one stops the other immediately."""
    a = start_signer(tmp_path, sandbox.url, name="replica-a", data_dir=tmp_path / "shared", replica="a")
    b = start_signer(tmp_path, sandbox.url, name="replica-b", data_dir=tmp_path / "shared", replica="b")
    ca, cb = SignerClient(socket_path=a.socket), SignerClient(socket_path=b.socket)
    try:
        cred = store(ca, new_key("binance"), "binance")
        assert _sign(cb, cred)["status"] == 200  # b has it cached
        ca.revoke(cred)
        assert _refusal(cb, cred) == "credential_revoked"
    finally:
        ca.close(), cb.close(), a.stop(), b.stop()


def test_a_copied_ciphertext_row_does_not_open(sandbox, new_key, tmp_path: Path) -> None:
    proc = start_signer(tmp_path, sandbox.url, name="copy")
    client = SignerClient(socket_path=proc.socket)
    try:
        victim = store(client, new_key("binance"), "binance", owner="victim")
        attacker = store(client, new_key("binance"), "binance", owner="attacker")
    finally:
        client.close()
        proc.stop()
    db = sqlite3.connect(proc.data_dir / "signer.db")
    sealed = db.execute("SELECT kek_version, wrapped_dek, nonce, ciphertext FROM credentials WHERE id = ?",
                        (victim,)).fetchone()
    db.execute("UPDATE credentials SET kek_version=?, wrapped_dek=?, nonce=?, ciphertext=? WHERE id=?",
               (*sealed, attacker))
    db.commit()
    db.close()
    proc = start_signer(tmp_path, sandbox.url, name="copy", data_dir=proc.data_dir)
    client = SignerClient(socket_path=proc.socket)
    try:
        assert _refusal(client, attacker) == "credential_corrupt"
        assert _sign(client, victim)["status"] == 200  # the original still opens where it belongs
    finally:
        client.close()
        proc.stop()


def _replicas(tmp_path: Path) -> tuple:
    from cexlink.signer.engine import SignCenter, SignerConfig

    config = dict(data_dir=tmp_path / "shared", rate_per_credential=1e9, burst_per_credential=1e9)
    return SignCenter(SignerConfig(**config, replica="a")), SignCenter(SignerConfig(**config, replica="b"))


def _engine_refusal(engine, cred: str) -> str:
    with pytest.raises(SignerRefused) as refused:
        engine.sign(cred, "binance", ["private"], "GET", "account", {}, forward=True)
    return refused.value.reason


def test_a_revocation_rings_every_replica_before_its_next_signature(new_key, tmp_path: Path) -> None:
    """In-process replicas over one SQLite store: the other replica signs right up to the revocation (no
    periodic look in between) and refuses the very next signature, because the revocation rang the doorbell."""
    a, b = _replicas(tmp_path)
    try:
        key = new_key("binance")
        cred = a.store_credential("o", "binance", key["api_key"], key["secret"])["credential_id"]
        for _ in range(3):
            assert b.sign(cred, "binance", ["private"], "GET", "account", {}, forward=True)["url"]
        assert a.revoke(cred) == 1
        assert _engine_refusal(b, cred) == "credential_revoked"
        assert (tmp_path / "shared" / "signer.db.revocations").stat().st_mode & 0o777 == 0o600
    finally:
        a.close(), b.close()


def test_a_revocation_that_never_rang_still_arrives(new_key, tmp_path: Path) -> None:
    """A revoking process that died between its commit and the ring (here: the store revoked directly): the
    other replica finds it at its periodic look of the store, within FALLBACK_S."""
    import time

    from cexlink.signer.revocations import RevocationWatch

    a, b = _replicas(tmp_path)
    try:
        key = new_key("binance")
        cred = a.store_credential("o", "binance", key["api_key"], key["secret"])["credential_id"]
        assert b.sign(cred, "binance", ["private"], "GET", "account", {}, forward=True)["url"]
        a.store.revoke_where(int(time.time() * 1000), ids=[cred])
        deadline = time.monotonic() + 2 * RevocationWatch.FALLBACK_S
        while time.monotonic() < deadline:
            try:
                b.sign(cred, "binance", ["private"], "GET", "account", {}, forward=True)
            except SignerRefused as refused:
                assert refused.reason == "credential_revoked"
                break
            time.sleep(0.002)
        else:
            pytest.fail("the revocation was not seen within twice FALLBACK_S")
    finally:
        a.close(), b.close()
