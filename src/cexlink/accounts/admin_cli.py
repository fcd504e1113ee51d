"""``cexlink admin …``: operations over every user's connections, for administrators (an admin's API token)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from ..config import Settings
from ..errors import AccountRefused, CexlinkError, InputError

__all__ = ["app", "revoke_keys"]

app = typer.Typer(help="Administration over every user's connections (an administrator's token).",
                  no_args_is_help=True)

CREATED_BEFORE_HELP = (
    "Revoke every key the platform RECEIVED before this moment (its intake in the Sign Center), not the key's "
    "creation date on the exchange: a leak of the platform's store exposes exactly the keys it held then. ISO 8601 "
    "with a time zone (2022-12-28T00:00:00Z) or epoch milliseconds; not in the future.")


def _fail(code: int, error: str, message: str, remedy: str = "", field: str | None = None) -> None:
    typer.echo(json.dumps({"error": error, "message": message, "remedy": remedy, "field": field}, indent=2),
               err=True)
    raise typer.Exit(code)


@app.command("revoke-keys")
def revoke_keys(
    created_before: Annotated[str, typer.Option("--created-before", help=CREATED_BEFORE_HELP)],
    exchange: Annotated[str | None, typer.Option(help="Only keys of this exchange (ccxt id).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count per exchange and per user; change nothing.")]
    = False,
    batch_size: Annotated[int, typer.Option(help="Users per transaction.")] = 500,
    pause: Annotated[float, typer.Option(help="Seconds between batches, to spare a busy database.")] = 0.0,
    token: Annotated[str, typer.Option(envvar="CEXLINK_TOKEN", help="An administrator's API token.")] = "",
) -> None:
    """The hard reset: the Sign Center stops signing every matching key and shreds it at once; their accounts
    go to revoked, their deals and SmartTrades to error, and each user gets one event with the steps to take.
    Killed or failed halfway, run it again with the same parameters: it resumes and does nothing twice."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..storage.repositories import Users
    from ..wiring import build_service, close_service
    from .reset import HardReset, ResetParams

    async def main() -> dict[str, Any]:
        service = build_service(Settings.from_env())
        try:
            with service.sessions() as db, db.begin():
                user = Users(db).user_for_token(token) if token else None
                admin = (user.id, user.is_admin) if user is not None else None
            if admin is None or not admin[1]:
                _fail(3, "forbidden", "The hard reset needs an administrator's API token.",
                      "Pass an administrator's token with --token or CEXLINK_TOKEN.", "token")
            params = ResetParams.check(created_before, exchange)
            reset = HardReset(service.sessions, service.signer, service.settings.egress_ips,
                              batch_users=batch_size, pause_s=pause)
            if dry_run:
                return await reset.dry_run(params)
            columns = (TextColumn("revoking: users"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=Console(stderr=True)) as bar:  # stdout stays the JSON answer
                task = bar.add_task("users", total=None)
                return await reset.run(admin[0], params,  # type: ignore[index]
                                       lambda done, total: bar.update(task, completed=done, total=total))
        finally:
            await close_service(service)

    try:
        typer.echo(json.dumps(asyncio.run(main()), indent=2))
    except InputError as e:
        _fail(2, "invalid_input", f"{e.field}: {e.message}", "Correct it and run again.", e.field)
    except AccountRefused as e:
        _fail(4, e.reason, e.message, e.remedy, e.field)
    except CexlinkError as e:
        _fail(1, type(e).__name__, str(e), "Run again once the Sign Center and the database answer.")
