"""``cexlink accounts …`` and ``cexlink users tokens …``: a client of the REST API, for people and scripts.

Server and token: ``--url``/``CEXLINK_URL`` and ``--token``/``CEXLINK_TOKEN``, else the config file ``cexlink up``
writes (see ``cli_client.py``), so it works from any machine and answers exactly what the API answers. Output is a
table by default, the API's JSON with ``--json``; an error is one line with its remedy on stderr and a non-zero
exit (``cli_client.EXIT_CODES``). Secrets are never taken as plain arguments (they would land in shell history and
process lists): they are prompted for without echo, or read from a file or standard input (``--secret-file -``).

``cexlink users create`` is the operator's command on the server itself (the API has no route to create users):
it writes the app database named by ``CEXLINK_DATABASE_URL``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from ..cli_client import ApiClient, ApiError, exit_code, resolve_config

__all__ = ["app", "connect", "create_user", "delete", "events", "list_", "needs_action", "refresh", "show",
           "tokens_app", "tokens_create", "tokens_list", "tokens_revoke", "update_key", "users_app"]

app = typer.Typer(help="Exchange accounts (connections): list, show, connect, update-key, refresh, delete, events.",
                  no_args_is_help=True)
users_app = typer.Typer(help="Platform users and their API tokens.", no_args_is_help=True)

Token = Annotated[str | None, typer.Option(envvar="CEXLINK_TOKEN", show_default=False,
                                           help="Your API token (or CEXLINK_TOKEN, or the CLI config file).")]
Url = Annotated[str | None, typer.Option(envvar="CEXLINK_URL", show_default=False,
                                         help="The cexlink API (or CEXLINK_URL, or the CLI config file).")]
Json = Annotated[bool, typer.Option("--json", help="The API's JSON answer, for scripts.")]


def _console() -> Console:
    # A pipe gets a wide table rather than one cut at 80 columns (a person may grep it).
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _fail(error: ApiError) -> NoReturn:
    typer.echo(error.line(), err=True)
    raise typer.Exit(exit_code(error))


def _call(url: str | None, token: str | None, as_json: bool, request: Callable[[ApiClient], Any],
          render: Callable[[Any], None]) -> None:
    """One API request: JSON out with --json, else the rendering; an error as one line and its exit code."""
    try:
        with ApiClient(resolve_config(url, token)) as api:
            data = request(api)
    except ApiError as e:
        _fail(e)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        render(data)


# ---- rendering ----

# A connection status -> what the user has to do, in a few words (the full remedy is in `accounts show`).
# Transient statuses need nothing from the user: the platform retries.
NEEDS_ACTION: dict[str, str] = {
    "ok": "", "invalid_api_key": "Update API Key", "insufficient_permissions": "Fix key permissions",
    "ip_not_whitelisted": "Whitelist the platform's IPs", "agreement_required": "Accept the API agreement",
    "key_expired": "New key, then Update API Key", "revoked": "New key, then Update API Key",
    "account_suspended": "Lift the exchange's restriction", "exchange_maintenance": "", "rate_limited": "",
    "clock_skew": "", "exchange_unavailable": "", "unknown": "Refresh later",
}
KEY_STATE_ACTION = {"expire_soon": "Rotate the key soon", "expired": "Rotate the key"}


def needs_action(account: dict[str, Any]) -> str:
    action = NEEDS_ACTION.get(account.get("status", ""), "See `accounts show`")
    return action or KEY_STATE_ACTION.get(account.get("key_state") or "", "") or "-"


def _balances(account: dict[str, Any]) -> str:
    balances = account.get("balances") or {}
    text = ", ".join(f"{asset} {amounts.get('total', amounts.get('free', '?'))}"
                     for asset, amounts in sorted(balances.items())) or "-"
    return text + (" (stale)" if balances and account.get("balances_stale") else "")


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    text = str(value)
    if ISO_TIME.fullmatch(text):  # a time: to the second, in UTC as the API gives it
        return text[:10] + " " + text[11:19] + " UTC"
    return text


ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)")


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    _console().print(table)


def _accounts(accounts: list[dict[str, Any]]) -> None:
    if not accounts:
        typer.echo("No exchange accounts yet: connect one with `cexlink accounts connect`.")
        return
    _table("Exchange accounts", ["ID", "Exchange", "Name", "Status", "Needs action", "Key", "Balances", "Checked"],
           [[a["id"], a["exchange"], a["name"], a["status"], needs_action(a), a.get("masked_key"), _balances(a),
             a.get("last_checked_at")] for a in accounts])


ACCOUNT_FIELDS = [("Exchange", "exchange"), ("Name", "name"), ("Exchange uid", "exchange_uid"),
                  ("Status", "status"), ("Message", "status_message"), ("Remedy", "status_remedy"),
                  ("Key", "masked_key"), ("Key state", "key_state"), ("Key created", "key_created_at"),
                  ("Key expires", "key_expires_at"), ("Permissions", "permissions"), ("IP whitelist", "ip_whitelist"),
                  ("Connected via", "connected_via"), ("Last checked", "last_checked_at"),
                  ("Next check", "next_check_at"), ("Balances read", "balances_read_at"), ("Warnings", "warnings")]


def _account(a: dict[str, Any]) -> None:
    rows = [[label, ", ".join(map(str, a[key])) if isinstance(a.get(key), list) else a.get(key)]
            for label, key in ACCOUNT_FIELDS if key in a]
    rows.insert(4, ["Needs action", needs_action(a)])
    rows.append(["Balances", _balances(a)])
    _table(f"Exchange account {a['id']}", ["Field", "Value"], rows)


def _refreshed(summary: dict[str, Any]) -> None:
    statuses = ", ".join(f"{status} {n}" for status, n in sorted(summary.get("statuses", {}).items())) or "none"
    typer.echo(f"Refreshed {summary.get('refreshed', 0)} account(s): {statuses}.")


def _deleted(answer: dict[str, Any]) -> None:
    typer.echo("Deleted." if answer.get("deleted") else "Not deleted.")
    if answer.get("cancelled_orders"):
        typer.echo("Cancelled on the exchange: " + ", ".join(map(str, answer["cancelled_orders"])) + ".")
    for key in ("open_orders_unchecked", "reminder"):
        if answer.get(key):
            typer.echo(answer[key])


def _events(events: list[dict[str, Any]]) -> None:
    if not events:
        typer.echo("No events.")
        return
    _table("Events", ["Time", "Severity", "Kind", "Account", "Message"],
           [[e["time"], e["severity"], e["kind"], e.get("account_id"), e["message"]] for e in events])


def _tokens(tokens: list[dict[str, Any]]) -> None:
    _table("API tokens", ["ID", "User", "Label", "Status", "Created", "Last used", "Expires"],
           [[t["id"], t["user_id"], t["label"], t["status"], t.get("created_at"), t.get("last_used_at"),
             t.get("expires_at")] for t in tokens])


def _created_token(t: dict[str, Any]) -> None:
    _tokens([t])
    typer.echo(f"Token (shown this once; store it now): {t['token']}")


# ---- secrets: never from argv ----

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
AccountId = Annotated[int, typer.Argument(help="The connection's id (from `accounts list`).")]


def _key_body(api_key: str, secret_file: Path | None, passphrase_file: Path | None, passphrase: bool
              ) -> dict[str, Any]:
    body: dict[str, Any] = {"api_key": api_key, "secret": _secret(secret_file, "Secret")}
    phrase = _secret(passphrase_file, "Passphrase", required=passphrase)
    if phrase:
        body["passphrase"] = phrase
    return body


# ---- accounts ----

@app.command("list")
def list_(token: Token = None, url: Url = None, as_json: Json = False) -> None:
    """Your connections: status, what needs doing, masked key, balances."""
    _call(url, token, as_json, lambda api: api.call("GET", "/accounts"), _accounts)


@app.command()
def show(account_id: AccountId, token: Token = None, url: Url = None, as_json: Json = False) -> None:
    """One connection, with its message and remedy."""
    _call(url, token, as_json, lambda api: api.call("GET", f"/accounts/{account_id}"), _account)


@app.command()
def connect(exchange: Annotated[str, typer.Option(help="ccxt id: binance, okx, bybit, …")],
            name: Annotated[str, typer.Option(help="A name for this connection.")],
            api_key: Annotated[str, typer.Option(help="The API key (not secret).")],
            secret_file: SecretFile = None, passphrase_file: PassFile = None,
            passphrase: Annotated[bool, typer.Option(help="Prompt for a passphrase (OKX, KuCoin).")] = False,
            token: Token = None, url: Url = None, as_json: Json = False) -> None:
    """Connect an exchange account by API key; the key is checked on the spot."""
    body = {"exchange": exchange, "name": name, **_key_body(api_key, secret_file, passphrase_file, passphrase)}
    _call(url, token, as_json, lambda api: api.call("POST", "/accounts", json_body=body), _account)


@app.command("update-key")
def update_key(account_id: AccountId, api_key: Annotated[str, typer.Option(help="The new API key.")],
               secret_file: SecretFile = None, passphrase_file: PassFile = None,
               passphrase: Annotated[bool, typer.Option(help="Prompt for a passphrase.")] = False,
               token: Token = None, url: Url = None, as_json: Json = False) -> None:
    """Replace the key of a connection in place: bots, deals, history and statistics stay."""
    body = _key_body(api_key, secret_file, passphrase_file, passphrase)
    _call(url, token, as_json, lambda api: api.call("PUT", f"/accounts/{account_id}/api-key", json_body=body),
          _account)


@app.command()
def refresh(account_id: Annotated[int | None, typer.Argument(help="One connection (default: all of yours).")] = None,
            all_: Annotated[bool, typer.Option("--all", help="All of your connections (the default).")] = False,
            all_users: Annotated[bool, typer.Option("--all-users", help="Administrators: every user's.")] = False,
            token: Token = None, url: Url = None, as_json: Json = False) -> None:
    """Re-probe a connection (or all of yours): permissions, IPs, balances, status."""
    if account_id is not None and (all_ or all_users):
        _fail(ApiError(422, "invalid_input", "give an account id or --all/--all-users, not both",
                       "Drop the id to refresh them all, or drop --all to refresh one.", "account_id"))
    if account_id is not None:
        _call(url, token, as_json, lambda api: api.call("POST", f"/accounts/{account_id}/refresh"), _account)
    else:
        params = {"all": "true"} if all_users else None
        _call(url, token, as_json, lambda api: api.call("POST", "/accounts/refresh", params=params), _refreshed)


@app.command()
def delete(account_id: AccountId,
           yes: Annotated[bool, typer.Option("--yes", help="Confirm without being asked.")] = False,
           cancel_orders: Annotated[bool, typer.Option("--cancel-orders", help="Cancel the platform's orders still "
                                                       "open on the exchange (funds locked) with the delete.")] = False,
           token: Token = None, url: Url = None, as_json: Json = False) -> None:
    """Delete a connection with its bots and history (refused while bots, deals, SmartTrades or orders are active).

    Without --yes the API first says what would be deleted (nothing is), and you are asked."""
    params = {"confirm": "true", **({"cancel_orders": "true"} if cancel_orders else {})}

    def request(api: ApiClient) -> Any:
        if not yes:
            try:
                return api.call("DELETE", f"/accounts/{account_id}", params={**params, "confirm": "false"})
            except ApiError as e:
                if e.error != "confirmation_required":
                    raise
                typer.echo(e.message, err=True)  # what goes with it, in the API's words
                if not typer.confirm("Delete it all?", default=False, err=True):
                    raise ApiError(0, "not_confirmed", "nothing deleted", "Answer y, or pass --yes.", "yes") from None
        return api.call("DELETE", f"/accounts/{account_id}", params=params)

    _call(url, token, as_json, request, _deleted)


@app.command()
def events(account_id: Annotated[int | None, typer.Argument(help="One connection's (default: all yours).")] = None,
           token: Token = None, url: Url = None, as_json: Json = False) -> None:
    """What you must be told: key revoked, status changed, key due for rotation, incidents."""
    path = "/events" if account_id is None else f"/accounts/{account_id}/events"
    _call(url, token, as_json, lambda api: api.call("GET", path), _events)


# ---- users ----

@users_app.command("create")
def create_user(name: str, admin: Annotated[bool, typer.Option(help="An administrator.")] = False,
                as_json: Json = False) -> None:
    """On the server: create a user and print its first API token (shown once). Writes CEXLINK_DATABASE_URL."""
    from ..config import Settings
    from ..errors import CexlinkError
    from ..storage.repositories import Users
    from ..wiring import open_database

    try:
        _engine, sessions = open_database(Settings.from_env())
        with sessions() as db, db.begin():
            users = Users(db)
            if users.by_name(name) is not None:
                _fail(ApiError(422, "invalid_input", f"name: a user named {name!r} exists",
                               "Choose another name, or create a token for that user with `cexlink users tokens "
                               "create`.", "name"))
            user = users.create(name, is_admin=admin)
            token = users.issue_token(user.id, "cli")
    except CexlinkError as e:  # a setting missing or malformed: its message names the variable
        _fail(ApiError(0, "config_error", str(e), "Fix that setting and run the command again."))
    answer = {"user_id": user.id, "name": name, "token": token}
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
    else:
        typer.echo(f"Created user {name!r} (id {user.id}{', administrator' if admin else ''}).")
        typer.echo(f"API token (shown this once): {token}")


tokens_app = typer.Typer(help="API tokens: list, create (shown once), revoke. Yours; an administrator's: anyone's.",
                         no_args_is_help=True)
users_app.add_typer(tokens_app, name="tokens")

UserId = Annotated[int | None, typer.Option(help="Administrators: another user's tokens (default: yours; list: "
                                                 "everyone's for an administrator).")]


@tokens_app.command("list")
def tokens_list(user_id: UserId = None, token: Token = None, url: Url = None, as_json: Json = False) -> None:
    """Tokens with their label, creation, last use, expiry and status (never the token itself)."""
    params = {"user_id": user_id} if user_id is not None else None
    _call(url, token, as_json, lambda api: api.call("GET", "/tokens", params=params), _tokens)


@tokens_app.command("create")
def tokens_create(label: Annotated[str, typer.Option(help="What the token is for.")] = "",
                  expires_in_days: Annotated[float | None, typer.Option(help="Refused after this many days "
                                                                             "(default: until revoked).")] = None,
                  user_id: UserId = None, token: Token = None, url: Url = None, as_json: Json = False) -> None:
    """A new token, printed this once: only its hash is stored."""
    body = {"label": label, "expires_in_days": expires_in_days, "user_id": user_id}
    _call(url, token, as_json, lambda api: api.call("POST", "/tokens", json_body=body), _created_token)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="The token's id (from list).")],
                  token: Token = None, url: Url = None, as_json: Json = False) -> None:
    """Revoke a token: refused at once by every API server."""
    _call(url, token, as_json, lambda api: api.call("DELETE", f"/tokens/{token_id}"), lambda t: _tokens([t]))
