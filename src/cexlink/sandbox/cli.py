"""``cexlink sandbox …``: run the sandbox exchange and create keys on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import httpx
import typer

app = typer.Typer(help="The sandbox exchange: Binance, OKX and Bybit wire formats on one local URL.",
                  no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one; the URL is printed).")] = 8600,
    state: Annotated[Path | None, typer.Option(help="JSON file that keeps accounts, keys and orders "
                                                    "across restarts.")] = None,
) -> None:
    """Serve the sandbox exchange until interrupted."""
    from .server import serve_forever

    def ready(url: str) -> None:
        typer.echo(f"sandbox exchange listening on {url}", err=False)

    serve_forever(host, port, state, on_ready=ready)


@app.command("new-key")
def new_key(
    url: Annotated[str, typer.Option(help="The sandbox's base URL.")],
    exchange: Annotated[str, typer.Option(help="binance, okx or bybit.")],
    permissions: Annotated[str, typer.Option(help="Comma list of read, spot, margin, futures, options, "
                                                  "withdraw, transfer.")] = "read,spot",
    ip: Annotated[list[str] | None, typer.Option(help="Whitelisted IP (repeat for several).")] = None,
    sub_account: Annotated[bool, typer.Option(help="Create the key on a new sub-account.")] = False,
    expires_in_days: Annotated[float | None, typer.Option(help="Key expires after this many days.")] = None,
    uid: Annotated[str | None, typer.Option(help="Existing account uid (default: a new account).")] = None,
    fund: Annotated[list[str] | None, typer.Option(help="Starting balance as ASSET=AMOUNT (repeatable).")] = None,
) -> None:
    """Create an API key on the sandbox and print it as one JSON object."""
    body: dict[str, object] = {"exchange": exchange, "permissions": permissions, "ips": ip or [],
                               "sub_account": sub_account}
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    if uid is not None:
        body["uid"] = uid
    if fund:
        try:
            body["balances"] = dict(item.split("=", 1) for item in fund)
        except ValueError:
            raise typer.BadParameter("use ASSET=AMOUNT", param_hint="--fund") from None
    try:
        resp = httpx.post(url.rstrip("/") + "/sandbox/v1/keys", json=body, timeout=10)
    except httpx.HTTPError as e:
        typer.echo(f"error: cannot reach the sandbox at {url}: {type(e).__name__}", err=True)
        raise typer.Exit(2) from None
    data = resp.json()
    if resp.status_code >= 400:
        typer.echo(f"error: {data.get('error', resp.text)}", err=True)
        raise typer.Exit(2)
    out = {"api_key": data["api_key"], "secret": data["secret"], "passphrase": data["passphrase"],
           "uid": data["uid"], "exchange": data["exchange"], "permissions": data["permissions"],
           "ips": data["ips"], "expires_at": data["expires_at"]}
    typer.echo(json.dumps(out))
