"""``cexlink up``: everything on one machine with embedded defaults, for trying cexlink out.

The sandbox exchange (in this process), the Sign Center (its own process, Unix socket), the API server over a
SQLite file, a demo user with an API token, and the demo keys on each sandbox exchange connected through the
API (so the Sign Center holds them and the app database does not).
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

from .exchanges.capabilities import SANDBOXED

__all__ = ["DEMO_BALANCES", "up"]

DEMO_BALANCES = {"USDT": "10000", "BTC": "0.5", "ETH": "5"}
EXCHANGES = SANDBOXED  # every exchange the sandbox speaks gets a demo key and a connection


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
    # The checkpoint key beside the Sign Center's data directory, not in it: whoever can write that directory
    # must not be able to sign audit checkpoints.
    args = [sys.executable, "-m", "cexlink.cli", "signer", "serve", "--socket", str(sock), "--data-dir",
            str(data_dir / "signer"), "--checkpoint-key", str(data_dir / "signer-checkpoint.key"),
            "--egress-ip", "127.0.0.1"]  # it sends Binance, OKX and Bybit requests itself: the platform's egress
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


def _start_api(data_dir: Path, sandbox_url: str, sock: Path, port: int) -> Any:
    from .accounts.monitor import monitor_config_from_env
    from .api.server import build_app
    from .config import Settings
    from .serving import ServerThread

    settings = Settings(database_url=f"sqlite:///{data_dir / 'cexlink.db'}", signer_socket=sock,
                        egress_ips=["127.0.0.1"], exchange_urls={ex: sandbox_url for ex in EXCHANGES})
    # The health monitor runs here as under `cexlink serve` (unless CEXLINK_MONITOR=false).
    return ServerThread(build_app(settings, monitor_config_from_env()), "127.0.0.1", port).start()


def _demo_user(data_dir: Path) -> str:
    from .config import Settings
    from .storage.repositories import Users
    from .wiring import open_database

    token_file = data_dir / "demo-token"
    if token_file.exists():
        return token_file.read_text().strip()
    engine, sessions = open_database(Settings(database_url=f"sqlite:///{data_dir / 'cexlink.db'}"))
    with sessions() as db, db.begin():
        users = Users(db)
        user = users.by_name("demo") or users.create("demo")
        token = users.issue_token(user.id, "make up")
    engine.dispose()
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return token


def _cli_setup(data_dir: Path, api_url: str, token: str) -> str:
    """Write the CLI's config file (mode 600) and return the one line that sets the CLI up."""
    from .cli_client import LOCAL_CONFIG, write_config

    path = data_dir / "cli.json"
    write_config(path, api_url, token)
    here = path.resolve() == LOCAL_CONFIG.resolve()  # the CLI reads var/cli.json from this directory
    note = "set up from this directory already" if here else f"or: export CEXLINK_CLI_CONFIG={path.resolve()}"
    return (f"CLI:              export CEXLINK_URL={api_url} CEXLINK_TOKEN={token}   "
            f"({note}; then: cexlink accounts list)")


def up(
    port: Annotated[int, typer.Option(help="Sandbox exchange port.")] = 8600,
    api_port: Annotated[int, typer.Option(help="API server port.")] = 8700,
    data_dir: Annotated[Path, typer.Option(help="Where state files live.")] = Path("var"),
) -> None:
    """Start the sandbox exchange, the Sign Center and the API with a demo user; print the URLs."""
    from .sandbox.server import SandboxServer

    data_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly (children too) on SIGTERM
    sandbox = SandboxServer("127.0.0.1", port, state_file=data_dir / "sandbox-state.json").start()
    demo = _demo_keys(sandbox.url, sandbox.ctx.ledger, data_dir / "demo-keys.json")
    signer, sock = _start_signer(data_dir, sandbox.url)
    api = None
    try:
        token = _demo_user(data_dir)
        api = _start_api(data_dir, sandbox.url, sock, api_port)
        api_url = api.url
        with httpx.Client(base_url=api_url, headers={"authorization": f"Bearer {token}"}, timeout=60) as c:
            connected = {a["exchange_uid"]: a for a in c.get("/api/v1/accounts").json()}
            for exchange, d in demo.items():
                if d["uid"] not in connected:
                    payload = {"exchange": exchange, "name": f"Demo {exchange}", "api_key": d["api_key"],
                               "secret": d["secret"]}
                    if d.get("passphrase"):
                        payload["passphrase"] = d["passphrase"]
                    r = c.post("/api/v1/accounts", json=payload)
                    if r.status_code != 201:
                        typer.echo(f"demo {exchange} connection refused: {r.text}", err=True)
                        continue
                    connected[d["uid"]] = r.json()
        typer.echo(f"cexlink API:      {api_url}   (docs {api_url}/docs, OpenAPI {api_url}/openapi.json)")
        typer.echo(f"demo user token:  {token}   (also in {data_dir / 'demo-token'})")
        typer.echo(f"  try: curl -H 'Authorization: Bearer {token}' {api_url}/api/v1/accounts")
        typer.echo(f"sandbox exchange: {sandbox.url}   (admin API {sandbox.url}/sandbox/v1/health)")
        typer.echo(f"Sign Center:      unix socket {sock} (audit log in {data_dir / 'signer'})")
        typer.echo(_cli_setup(data_dir, api_url, token))
        for exchange, d in demo.items():
            account = connected.get(d["uid"], {})
            typer.echo(f"  demo {exchange:8} uid={d['uid']} account={account.get('id', '-')} "
                       f"status={account.get('status', 'not connected')} key={account.get('masked_key', '-')}")
        typer.echo("Ctrl-C to stop.")
        while sandbox.thread.is_alive() and signer.poll() is None and api.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if api is not None:
            api.stop()
        signer.terminate()
        signer.wait(timeout=15)
        sandbox.stop()
