"""``cexlink accounts …`` and ``cexlink users …``: the same service layer as the REST API, from a terminal.

The caller is identified by an API token (``--token`` or ``CEXLINK_TOKEN``), as over HTTP. Secrets are never
taken as plain arguments (they would land in shell history and process lists): they are prompted for without
echo, or read from a file or standard input (``--secret-file -``).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import Settings
from ..errors import CexlinkError, InputError

__all__ = ["app", "connect", "create_user", "delete", "list_", "refresh", "show", "tokens_app", "tokens_create",
           "tokens_list", "tokens_revoke", "update_key", "users_app"]

app = typer.Typer(help="Exchange accounts (connections): connect, update-key, refresh, list, show, delete.",
                  no_args_is_help=True)
users_app = typer.Typer(help="Platform users and their API tokens.", no_args_is_help=True)

Token = Annotated[str, typer.Option(envvar="CEXLINK_TOKEN", help="Your API token (or CEXLINK_TOKEN).")]


def _out(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _fail(code: int, body: dict[str, Any]) -> None:
    typer.echo(json.dumps(body, indent=2), err=True)
    raise typer.Exit(code)


def _run(token: str, action: Callable[[Any, int], Awaitable[Any] | Any]) -> None:
    """Build the service from settings, resolve the token to a user, run one action, map errors to exits."""
    from ..accounts.service import AccountRefused
    from ..storage.errors import NotFound
    from ..storage.repositories import Users
    from ..wiring import build_service, close_service

    async def main() -> Any:
        service = build_service(Settings.from_env())
        try:
            with service.sessions() as db, db.begin():
                user = Users(db).user_for_token(token) if token else None
            if user is None:
                _fail(3, {"detail": "a valid API token is required (--token or CEXLINK_TOKEN)"})
            result = action(service, user.id)  # type: ignore[union-attr]
            return await result if asyncio.iscoroutine(result) else result
        finally:
            await close_service(service)

    try:
        _out(asyncio.run(main()))
    except InputError as e:
        _fail(2, {"detail": [{"loc": ["body", e.field], "msg": e.message}]})
    except AccountRefused as e:
        _fail(4, e.as_json())
    except NotFound:
        _fail(5, {"detail": "no such exchange account"})
    except CexlinkError as e:
        _fail(1, {"detail": f"{type(e).__name__}: {e}"})


def _secret(value_file: Path | None, prompt: str, required: bool = True) -> str | None:
    if value_file is not None:
        text = sys.stdin.read() if str(value_file) == "-" else value_file.read_text()
        return text.strip() or None
    if not required:
        return None
    return typer.prompt(prompt, hide_input=True)


SecretFile = Annotated[Path | None, typer.Option(help="Read the secret from this file ('-' for stdin); "
                                                      "default: prompt without echo.")]
PassFile = Annotated[Path | None, typer.Option(help="Read the passphrase from this file ('-' for stdin).")]


@app.command()
def connect(token: Token, exchange: Annotated[str, typer.Option(help="ccxt id: binance, okx, bybit, …")],
            name: Annotated[str, typer.Option(help="A name for this connection.")],
            api_key: Annotated[str, typer.Option(help="The API key (not secret).")],
            secret_file: SecretFile = None, passphrase_file: PassFile = None,
            passphrase: Annotated[bool, typer.Option(help="Prompt for a passphrase (OKX, KuCoin).")] = False) -> None:
    """Connect an exchange account by API key; the key is checked on the spot."""
    secret = _secret(secret_file, "Secret")
    phrase = _secret(passphrase_file, "Passphrase", required=passphrase)
    _run(token, lambda s, uid: s.connect(uid, exchange, name, api_key, secret, phrase))


@app.command("update-key")
def update_key(token: Token, account_id: Annotated[int, typer.Argument(help="The connection's id.")],
               api_key: Annotated[str, typer.Option(help="The new API key.")], secret_file: SecretFile = None,
               passphrase_file: PassFile = None,
               passphrase: Annotated[bool, typer.Option(help="Prompt for a passphrase.")] = False) -> None:
    """Replace the key of a connection in place: bots, deals, history and statistics stay."""
    secret = _secret(secret_file, "Secret")
    phrase = _secret(passphrase_file, "Passphrase", required=passphrase)
    _run(token, lambda s, uid: s.update_key(uid, account_id, api_key, secret, phrase))


@app.command()
def refresh(token: Token, account_id: Annotated[int | None, typer.Argument(help="One connection (default: all of "
                                                                                "yours).")] = None) -> None:
    """Re-probe a connection (or all of yours): permissions, IPs, balances, status."""
    if account_id is None:
        _run(token, lambda s, uid: s.refresh_many(uid))
    else:
        _run(token, lambda s, uid: s.refresh(uid, account_id))


@app.command("list")
def list_(token: Token) -> None:
    """Your connections."""
    _run(token, lambda s, uid: s.list(uid))


@app.command()
def show(token: Token, account_id: int) -> None:
    """One connection."""
    _run(token, lambda s, uid: s.show(uid, account_id))


@app.command()
def delete(token: Token, account_id: int) -> None:
    """Delete a connection (refused while bots, deals, SmartTrades or orders are active)."""
    _run(token, lambda s, uid: s.delete(uid, account_id))


@users_app.command("create")
def create_user(name: str, admin: Annotated[bool, typer.Option(help="An administrator.")] = False) -> None:
    """Create a user and print its first API token (shown once)."""
    from ..storage.repositories import Users
    from ..wiring import open_database

    _engine, sessions = open_database(Settings.from_env())
    with sessions() as db, db.begin():
        users = Users(db)
        if users.by_name(name) is not None:
            _fail(2, {"detail": [{"loc": ["name"], "msg": "a user with this name exists"}]})
        user = users.create(name, is_admin=admin)
        token = users.issue_token(user.id, "cli")
        _out({"user_id": user.id, "name": name, "token": token})


tokens_app = typer.Typer(help="API tokens: list, create (shown once), revoke. Yours; an administrator's: anyone's.",
                         no_args_is_help=True)
users_app.add_typer(tokens_app, name="tokens")


def _run_db(token: str, action: Callable[[Any, Any], Any]) -> None:
    """Resolve the token to a user, run one action in one transaction of the app database, map errors to exits
    (the same codes as ``_run``). Tokens need no Sign Center."""
    from ..accounts.service import AccountRefused
    from ..storage.db import make_engine, make_session_factory, migrate
    from ..storage.errors import NotFound
    from ..storage.repositories import Users

    engine = make_engine(Settings.from_env().database_url)
    try:
        migrate(engine)
        with make_session_factory(engine)() as db, db.begin():
            user = Users(db).user_for_token(token) if token else None
            if user is None:
                _fail(3, {"detail": "a valid API token is required (--token or CEXLINK_TOKEN)"})
            _out(action(db, user))
    except InputError as e:
        _fail(2, {"detail": [{"loc": ["body", e.field], "msg": e.message}]})
    except AccountRefused as e:
        _fail(4, e.as_json())
    except NotFound as e:
        _fail(5, {"detail": f"no such {e.what}"})
    finally:
        engine.dispose()


UserId = Annotated[int | None, typer.Option(help="Administrators: another user's tokens (default: yours; list: "
                                                 "everyone's for an administrator).")]


@tokens_app.command("list")
def tokens_list(token: Token, user_id: UserId = None) -> None:
    """Tokens with their label, creation, last use, expiry and status (never the token itself)."""
    from .tokens import list_tokens

    _run_db(token, lambda db, me: list_tokens(db, me.id, me.is_admin, user_id))


@tokens_app.command("create")
def tokens_create(token: Token, label: Annotated[str, typer.Option(help="What the token is for.")] = "",
                  expires_in_days: Annotated[float | None, typer.Option(help="Refused after this many days "
                                                                             "(default: until revoked).")] = None,
                  user_id: UserId = None) -> None:
    """A new token, printed this once: only its hash is stored."""
    from .tokens import create_token

    _run_db(token, lambda db, me: create_token(db, me.id, me.is_admin, label, expires_in_days, user_id))


@tokens_app.command("revoke")
def tokens_revoke(token: Token, token_id: Annotated[int, typer.Argument(help="The token's id (from list).")]) -> None:
    """Revoke a token: refused at once by every API server."""
    from .tokens import revoke_token

    _run_db(token, lambda db, me: revoke_token(db, me.id, me.is_admin, token_id))
