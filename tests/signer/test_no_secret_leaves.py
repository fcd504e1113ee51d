"""After a full run — intake, signing, forwarding, trading, refusals, revocation, restart — no secret used appears
in any log, database file or response of the Sign Center or its callers."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import ccxt
import pytest

from cexlink.ccxt import remote
from cexlink.errors import SignerRefused
from cexlink.sandbox.clients import point_ccxt
from cexlink.signer.client import AsyncSignerClient, SignerClient
from tests.support.sandbox import SANDBOXED
from tests.support.signer import start_signer


class RecordingClient(SignerClient):
    """A SignerClient that keeps every answer it receives, to scan them afterwards."""

    answers: list[Any]

    def _call(self, op: str, args: dict[str, Any]) -> Any:
        result = super()._call(op, args)
        self.answers.append(result)
        return result


def test_full_run_leaves_no_secret_behind(sandbox, new_key, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # ccxt logs whole requests at DEBUG: they must hold no secret either
    proc = start_signer(tmp_path, sandbox.url, name="full")
    client = RecordingClient(socket_path=proc.socket)
    client.answers = []
    keys = {ex: new_key(ex, ips=["127.0.0.1"]) for ex in SANDBOXED}
    secrets = [k["secret"] for k in keys.values()] + [keys["okx"]["passphrase"]]
    creds = {}
    try:
        for ex, key in keys.items():
            creds[ex] = client.store("scan-owner", ex, key["api_key"], key["secret"], key.get("passphrase"))[
                "credential_id"]
            trader = point_ccxt(remote(ex, creds[ex], client, config={"enableRateLimit": False}), sandbox.url)
            trader.fetch_balance()
            order = trader.create_order("BTC/USDT", "limit", "buy", 0.01, 30000)
            trader.cancel_order(order["id"], "BTC/USDT")
            trader.create_order("BTC/USDT", "market", "buy", 0.001, 67000)
            trader.fetch_my_trades("BTC/USDT")
            with pytest.raises((ccxt.PermissionDenied, ccxt.ArgumentsRequired)):  # refused or stopped client-side
                trader.withdraw("USDT", 10, "addr")
        with pytest.raises(SignerRefused):  # OKX requests carry the passphrase: never returned, only forwarded
            client.sign(creds["okx"], "okx", ["private"], "GET", "account/balance", {})

        async def async_run() -> None:
            aclient = AsyncSignerClient(proc.socket)
            ex = point_ccxt(remote("okx", creds["okx"], aclient, asynchronous=True,
                                   config={"enableRateLimit": False}), sandbox.url)
            try:
                client.answers.append(await ex.fetch_balance())
            finally:
                await ex.close()
                await aclient.close()

        asyncio.run(async_run())
        client.revoke_where(owner="scan-owner")
    finally:
        client.close()
        proc.stop()
    proc = start_signer(tmp_path, sandbox.url, name="full", data_dir=proc.data_dir)  # a restart reads it all
    proc.stop()

    places: dict[str, bytes] = {str(p): p.read_bytes() for p in proc.data_dir.rglob("*") if p.is_file()}
    places["signer stdout/stderr"] = proc.log.read_bytes()
    places["answers"] = repr(client.answers).encode()
    places["caller logs"] = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert any(name.endswith("signer.db") for name in places) and len(places["answers"]) > 1000
    assert b"Request:" in places["caller logs"]  # ccxt's DEBUG request log was captured
    for secret in secrets:
        for name, content in places.items():
            assert secret.encode() not in content, f"a secret appears in {name}"


CRASHING_COMMAND = """
import sys
from cexlink.cli import app

@app.command("crash")
def crash() -> None:
    secret = sys.stdin.readline().strip()  # a local, as a secret read for intake would be
    raise RuntimeError(f"unexpected, {len(secret)} characters read")

sys.argv = ["cexlink", "crash"]
app()
"""


def test_a_command_that_crashes_does_not_print_its_local_variables() -> None:
    """The CLI's crash report (Typer's rich traceback) leaves local variables out: one may be a secret."""
    secret = "xq7Sec9Lz4Kp2Wm8Rt5V"  # short: a long value would be wrapped or cut in the report's box
    out = subprocess.run([sys.executable, "-c", CRASHING_COMMAND], input=secret + "\n", capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert "RuntimeError" in out.stderr  # the crash is reported...
    assert secret[:10] not in out.stderr + out.stdout  # ...without the value it held
