"""The Sign Center for remote callers: HTTP with a bearer token, the same operations and answers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from signer_support import start_signer, store

from cexlink.errors import InputError, SignerRefused, SignerUnavailable
from cexlink.signer.client import SignerClient


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_with_token(sandbox, new_key, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t0k3n-for-tests-only\n")
    port = _port()
    proc = start_signer(tmp_path, sandbox.url, name="http",
                        extra=["--http", f"127.0.0.1:{port}", "--token-file", str(token_file)])
    url = f"http://127.0.0.1:{port}"
    client = SignerClient(url=url, token="t0k3n-for-tests-only")
    try:
        cred = store(client, new_key("bybit", ips=["127.0.0.1"]), "bybit")
        answer = client.forward(cred, "bybit", ["private"], "GET", "v5/account/wallet-balance",
                                {"accountType": "UNIFIED"})
        assert answer["status"] == 200 and '"retCode":0' in answer["body"].replace(" ", "")
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
