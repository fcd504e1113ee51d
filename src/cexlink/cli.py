"""The ``cexlink`` command. Subcommands live beside what they drive (sandbox/cli.py, …)."""

from __future__ import annotations

import typer

from .sandbox.cli import app as sandbox_app
from .signer.cli import app as signer_app
from .up import up

app = typer.Typer(help="cexlink: exchange accounts with secrets kept in an isolated Sign Center.",
                  no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(signer_app, name="signer")
app.command()(up)

if __name__ == "__main__":
    app()
