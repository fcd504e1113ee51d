"""The ``cexlink`` command. Subcommands live beside what they drive (sandbox/cli.py, …)."""

from __future__ import annotations

import typer

from .accounts.cli import app as accounts_app
from .accounts.cli import users_app
from .api.cli import app as audit_app
from .sandbox.cli import app as sandbox_app
from .signer.cli import app as signer_app
from .up import up

# Never the values of local variables in a crash's traceback: one of them may be a secret on its way to the Sign
# Center. (Typer's default today; pinned, so an upgrade cannot turn it on.)
app = typer.Typer(help="cexlink: exchange accounts with secrets kept in an isolated Sign Center.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(signer_app, name="signer")
app.add_typer(accounts_app, name="accounts")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8700) -> None:
    """Serve the REST API (settings from CEXLINK_* environment variables)."""
    from .api.server import serve as run
    from .config import Settings

    run(Settings.from_env(), host, port)
app.command()(up)

if __name__ == "__main__":
    app()
