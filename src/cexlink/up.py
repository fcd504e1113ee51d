"""``cexlink up``: everything on one machine with embedded defaults, for trying cexlink out.

The sandbox exchange (in this process), the Sign Center (its own process, Unix socket), demo keys on each
sandbox exchange handed to the Sign Center, and a remote-signed ccxt call to show the chain works.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

DEMO_BALANCES = {"USDT": "10000", "BTC": "0.5", "ETH": "5"}
EXCHANGES = ("binance", "okx", "bybit")


def _demo_keys(sandbox_url: str, ledger: Any, demo_file: Path) -> dict[str, dict[str, Any]]:
    demo = json.loads(demo_file.read_text()) if demo_file.exists() else {}
    for exchange in EXCHANGES:
        if exchange not in demo or not ledger.find_key(exchange, demo[exchange]["api_key"]):
            r = httpx.post(f"{sandbox_url}/sandbox/v1/keys", json={
                "exchange": exchange, "permissions": "read,spot", "ips": ["127.0.0.1"],
                "label": "demo", "balances": DEMO_BALANCES}, timeout=10)
            r.raise_for_status()
            d = r.json()
            demo[exchange] = {k: d[k] for k in ("api_key", "secret", "passphrase", "uid")}
    demo_file.write_text(json.dumps(demo, indent=2))
    demo_file.chmod(0o600)
    return demo


def _start_signer(data_dir: Path, sandbox_url: str) -> tuple[subprocess.Popen[bytes], Path]:
    sock = data_dir / "signer.sock"
    sock.unlink(missing_ok=True)
    args = [sys.executable, "-m", "cexlink.cli", "signer", "serve", "--socket", str(sock), "--data-dir",
            str(data_dir / "signer")]
    for exchange in EXCHANGES:
        args += ["--exchange-url", f"{exchange}={sandbox_url}"]
    log = (data_dir / "signer.log").open("ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise typer.Exit(f"the Sign Center did not start; see {data_dir / 'signer.log'}")  # type: ignore[arg-type]
        time.sleep(0.05)
    return proc, sock


def up(
    port: Annotated[int, typer.Option(help="Sandbox exchange port.")] = 8600,
    data_dir: Annotated[Path, typer.Option(help="Where state files live.")] = Path("var"),
) -> None:
    """Start the sandbox exchange and the Sign Center with demo keys; print the URLs."""
    from .ccxt import remote
    from .sandbox.clients import point_ccxt
    from .sandbox.server import SandboxServer
    from .signer.client import SignerClient

    data_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly (children too) on SIGTERM
    sandbox = SandboxServer("127.0.0.1", port, state_file=data_dir / "sandbox-state.json").start()
    demo = _demo_keys(sandbox.url, sandbox.ctx.ledger, data_dir / "demo-keys.json")
    signer, sock = _start_signer(data_dir, sandbox.url)
    client = SignerClient(socket_path=sock)
    credentials_file = data_dir / "demo-credentials.json"
    creds = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
    try:
        for exchange, d in demo.items():
            if creds.get(exchange, {}).get("api_key_masked") != d["api_key"][:4] + "…" + d["api_key"][-4:] or \
                    client.describe(creds[exchange]["credential_id"])["status"] != "active":
                stored = client.store("demo", exchange, d["api_key"], d["secret"], d.get("passphrase"))
                creds[exchange] = {"credential_id": stored["credential_id"], "api_key_masked": stored["masked_key"]}
        credentials_file.write_text(json.dumps(creds, indent=2))
        check = point_ccxt(remote("binance", creds["binance"]["credential_id"], client), sandbox.url)
        usdt = check.fetch_balance()["USDT"]["free"]

        typer.echo(f"sandbox exchange: {sandbox.url}")
        typer.echo(f"  Binance {sandbox.url}/api/v3  ·  OKX {sandbox.url}/api/v5  ·  Bybit {sandbox.url}/v5")
        typer.echo(f"  admin API {sandbox.url}/sandbox/v1/health")
        typer.echo(f"Sign Center: unix socket {sock} (audit log in {data_dir / 'signer'})")
        typer.echo(f"demo keys on the sandbox (whitelisted for 127.0.0.1): {data_dir / 'demo-keys.json'}")
        for exchange, d in demo.items():
            typer.echo(f"  {exchange:8} uid={d['uid']} key={creds[exchange]['api_key_masked']} "
                       f"credential={creds[exchange]['credential_id']}")
        typer.echo(f"remote-signed check: Binance demo balance {usdt:g} USDT, signed by the Sign Center")
        typer.echo("Ctrl-C to stop.")
        while sandbox.thread.is_alive() and signer.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
        signer.terminate()
        signer.wait(timeout=15)
        sandbox.stop()
