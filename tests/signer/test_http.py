"""The Sign Center for remote callers: HTTP with a bearer token, the same operations and answers; TLS required
beyond loopback, and a token that is neither guessable nor readable by others."""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cexlink.errors import InputError, SignerRefused, SignerUnavailable
from cexlink.signer.client import SignerClient
from tests.support.net import free_port
from tests.support.signer import start_signer, store


def _token_file(tmp_path: Path, token: str | None = None, mode: int = 0o600) -> tuple[Path, str]:
    token = token or secrets.token_urlsafe(32)
    path = tmp_path / "token"
    path.write_text(token + "\n")
    path.chmod(mode)
    return path, token


def _serve(tmp_path: Path, *args: str) -> tuple[int, str]:
    """``cexlink signer serve`` with these options, expected to refuse them before serving anything: its exit
    status and what it printed, as one line of words (the usage error's box wraps long messages)."""
    out = subprocess.run([sys.executable, "-m", "cexlink.cli", "signer", "serve", "--socket",
                          str(tmp_path / "refused.sock"), "--data-dir", str(tmp_path / "refused-data"), *args],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "1000"})
    return out.returncode, " ".join((out.stdout + out.stderr).replace("│", " ").split())


def _self_signed(tmp_path: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cexlink sign center")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(name))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "signer.crt", tmp_path / "signer.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


def test_http_with_token(sandbox, new_key, tmp_path: Path) -> None:
    token_file, token = _token_file(tmp_path)
    port = free_port()
    proc = start_signer(tmp_path, sandbox.url, name="http",
                        extra=["--http", f"127.0.0.1:{port}", "--token-file", str(token_file)])
    url = f"http://127.0.0.1:{port}"
    client = SignerClient(url=url, token=token)
    try:
        cred = store(client, new_key("bybit", ips=["127.0.0.1"]), "bybit")
        assert client.forward(cred, "bybit", ["private"], "GET", "v5/account/wallet-balance",
                              {"accountType": "UNIFIED"})["status"] == 200
        with pytest.raises(SignerRefused) as refused:
            client.forward(cred, "bybit", ["private"], "POST", "v5/asset/withdraw/create", {})
        assert refused.value.reason == "withdrawal_forbidden"
        with pytest.raises(InputError) as bad:
            client.store("o", "bybit", "short", "x")
        assert bad.value.field == "api_key"
        with pytest.raises(SignerUnavailable, match="bearer token required"):
            SignerClient(url=url, token="wrong-token").describe(cred)
        with pytest.raises(ValueError, match="token"):
            SignerClient(url=url, token="")
    finally:
        client.close()
        proc.stop()
    assert proc.proc.returncode == 0  # SIGTERM stops both servers cleanly


@pytest.mark.parametrize(("token", "mode", "message"), [
    ("t0k3n-for-tests-only", 0o600, "holds 20 base64 characters; a token needs at least 43"),
    ("ab" * 31, 0o600, "holds 62 hex digits; a token needs at least 64"),
    (secrets.token_urlsafe(32), 0o644, "is mode 644: it must be readable by its owner only"),
    (secrets.token_urlsafe(32), 0o640, "is mode 640"),
    ("two words " + secrets.token_urlsafe(32), 0o600, "must hold one token"),
])
def test_a_weak_or_readable_token_file_is_refused(tmp_path: Path, token: str, mode: int, message: str) -> None:
    token_file, _ = _token_file(tmp_path, token, mode)
    status, said = _serve(tmp_path, "--http", f"127.0.0.1:{free_port()}", "--token-file", str(token_file))
    assert status == 2, said
    assert "--token-file" in said and str(token_file) in said and message in said
    assert token.split()[-1] not in said  # named by its file, never quoted
    assert not (tmp_path / "refused.sock").exists()  # nothing was served


def test_a_strong_token_passes_in_hex_or_base64(tmp_path: Path, sandbox) -> None:
    for i, token in enumerate((secrets.token_hex(32), secrets.token_urlsafe(32))):
        token_file, _ = _token_file(tmp_path, token)
        port = free_port()
        proc = start_signer(tmp_path, None, name=f"strong-{i}",
                            extra=["--http", f"127.0.0.1:{port}", "--token-file", str(token_file)])
        client = SignerClient(url=f"http://127.0.0.1:{port}", token=token)
        try:
            with pytest.raises(InputError):  # answered: the token was taken
                client.describe("cred_none")
        finally:
            client.close()
            proc.stop()


@pytest.mark.parametrize(("args", "option", "message"), [
    (["--http", "0.0.0.0:{port}"], "--http", "0.0.0.0 is not a loopback address: remote callers need TLS"),
    (["--http", "[::]:{port}"], "--http", ":: is not a loopback address"),
    (["--http", "signer.internal:{port}"], "--http", "signer.internal is not a loopback address"),
    (["--http", "127.0.0.1:{port}", "--tls-cert", "{cert}"], "--tls-key", "give both --tls-cert and --tls-key"),
    (["--http", "0.0.0.0:{port}", "--tls-cert", "{key}", "--tls-key", "{key}"], "--tls-cert", "cannot load"),
    (["--http", "127.0.0.1:http"], "--http", "use HOST:PORT"),
])
def test_http_beyond_loopback_without_tls_is_a_usage_error(tmp_path: Path, args: list[str], option: str,
                                                           message: str) -> None:
    token_file, _ = _token_file(tmp_path)
    cert, key = _self_signed(tmp_path)
    filled = [a.format(port=free_port(), cert=cert, key=key) for a in args]
    status, said = _serve(tmp_path, *filled, "--token-file", str(token_file))
    assert status == 2, said
    assert option in said and message in said
    assert "Traceback" not in said


def test_tls_end_to_end_with_a_self_signed_certificate(sandbox, new_key, tmp_path: Path) -> None:
    """Beyond loopback with TLS: the client that trusts the certificate gets answers; one that does not, or
    that speaks plain HTTP, gets nothing (and never sends its token in clear)."""
    token_file, token = _token_file(tmp_path)
    cert, key = _self_signed(tmp_path)
    port = free_port()
    proc = start_signer(tmp_path, sandbox.url, name="tls", extra=[
        "--http", f"0.0.0.0:{port}", "--token-file", str(token_file), "--tls-cert", str(cert), "--tls-key",
        str(key)])
    url = f"https://127.0.0.1:{port}"
    client = SignerClient(url=url, token=token, verify=cert)
    try:
        cred = store(client, new_key("binance", ips=["127.0.0.1"]), "binance")
        assert client.forward(cred, "binance", ["private"], "GET", "account", {})["status"] == 200
        assert client.describe(cred)["status"] == "active"
        untrusting = SignerClient(url=url, token=token)  # the system's CAs: the self-signed cert is refused
        with pytest.raises(SignerUnavailable, match="ConnectError"):
            untrusting.describe(cred)
        untrusting.close()
        plain = SignerClient(url=f"http://127.0.0.1:{port}", token=token)
        with pytest.raises(SignerUnavailable):
            plain.describe(cred)
        plain.close()
    finally:
        client.close()
        proc.stop()
    assert proc.proc.returncode == 0
