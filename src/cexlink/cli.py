"""The ``cexlink`` command. Subcommands live beside what they drive (sandbox/cli.py, …).

Each group is imported only when it is run (or listed by ``--help``): ``cexlink serve`` must not load the
sandbox exchange, nor the API process the Sign Center's internals.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from .up import up

__all__ = ["SUBCOMMANDS", "app", "serve", "worker"]

# subcommand -> the module and Typer app that implement it
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sandbox": ("cexlink.sandbox.cli", "app"),
    "signer": ("cexlink.signer.cli", "app"),
    "accounts": ("cexlink.accounts.cli", "app"),
    "users": ("cexlink.accounts.cli", "users_app"),
    "audit": ("cexlink.api.cli", "app"),
    "admin": ("cexlink.accounts.admin_cli", "app"),
}


class _LazyGroup(TyperGroup):
    """The top-level group: the commands defined here, plus SUBCOMMANDS built on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *SUBCOMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in SUBCOMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attr = SUBCOMMANDS[cmd_name]
        command = typer.main.get_group(getattr(importlib.import_module(module), attr))
        command.name = cmd_name
        return command


# Never the values of local variables in a crash's traceback: one of them may be a secret on its way to the Sign
# Center. (Typer's default today; pinned, so an upgrade cannot turn it on.)
app = typer.Typer(help="cexlink: exchange accounts with secrets kept in an isolated Sign Center.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False, cls=_LazyGroup)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8700) -> None:
    """Serve the REST API (settings from CEXLINK_* environment variables)."""
    from .api.server import serve as run
    from .config import Settings

    run(Settings.from_env(), host, port)


@app.command()
def worker(once: bool = typer.Option(False, help="one round, printed as JSON, then exit")) -> None:
    """Run the health monitor alone: re-check connections, retry transient statuses, end incidents. Several
    workers share the work on PostgreSQL; on SQLite run one (and CEXLINK_MONITOR=false on the API servers)."""
    import asyncio
    import json
    import os

    from .accounts.monitor import Monitor, monitor_config_from_env
    from .config import Settings
    from .wiring import build_service, close_service

    config = monitor_config_from_env({**os.environ, "CEXLINK_MONITOR": "true"})  # the switch is for `serve`
    assert config is not None

    async def main() -> None:
        service = build_service(Settings.from_env())
        monitor = Monitor(service, config)
        try:
            if once:
                typer.echo(json.dumps(await monitor.run_once()))
            else:
                await monitor.run()
        finally:
            await monitor.close()
            await close_service(service)

    asyncio.run(main())


app.command()(up)

if __name__ == "__main__":
    app()
