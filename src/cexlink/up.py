"""``cexlink up``: everything on one machine with embedded defaults, for trying cexlink out."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

DEMO_BALANCES = {"USDT": "10000", "BTC": "0.5", "ETH": "5"}


def up(
    port: Annotated[int, typer.Option(help="Sandbox exchange port.")] = 8600,
    data_dir: Annotated[Path, typer.Option(help="Where state files live.")] = Path("var"),
) -> None:
    """Start the sandbox exchange with a demo account on each exchange and print the URL and demo keys."""
    from .sandbox.server import SandboxServer

    data_dir.mkdir(parents=True, exist_ok=True)
    state = data_dir / "sandbox-state.json"
    sandbox = SandboxServer("127.0.0.1", port, state_file=state).start()
    demo_file = data_dir / "demo-keys.json"
    demo = json.loads(demo_file.read_text()) if demo_file.exists() else {}
    for exchange in ("binance", "okx", "bybit"):
        if exchange not in demo or not sandbox.ctx.ledger.find_key(exchange, demo[exchange]["api_key"]):
            r = httpx.post(f"{sandbox.url}/sandbox/v1/keys", json={
                "exchange": exchange, "permissions": "read,spot", "ips": ["127.0.0.1"],
                "label": "demo", "balances": DEMO_BALANCES}, timeout=10)
            r.raise_for_status()
            d = r.json()
            demo[exchange] = {k: d[k] for k in ("api_key", "secret", "passphrase", "uid")}
    demo_file.write_text(json.dumps(demo, indent=2))
    demo_file.chmod(0o600)
    typer.echo(f"sandbox exchange: {sandbox.url}")
    typer.echo(f"  Binance {sandbox.url}/api/v3  ·  OKX {sandbox.url}/api/v5  ·  Bybit {sandbox.url}/v5")
    typer.echo(f"  admin API {sandbox.url}/sandbox/v1/health")
    typer.echo(f"demo keys (sandbox only, whitelisted for 127.0.0.1): {demo_file}")
    for exchange, d in demo.items():
        extra = f" passphrase={d['passphrase']}" if d.get("passphrase") else ""
        typer.echo(f"  {exchange:8} uid={d['uid']} api_key={d['api_key']} secret={d['secret']}{extra}")
    typer.echo("Ctrl-C to stop.")
    try:
        while sandbox.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
