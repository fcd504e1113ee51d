"""``cexlink audit …``: the audit anchors the API server keeps in the app database."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from ..config import Settings

app = typer.Typer(help="Audit anchors: the Sign Center's checkpoint heads kept in the app database.",
                  no_args_is_help=True)


@app.command("anchors")
def anchors(out: Annotated[Path | None, typer.Option(help="Write the anchor file here (0600) instead of "
                                                          "printing it.")] = None) -> None:
    """The newest checkpoint head of each Sign Center audit log, as ``{"heads": [...]}``: the file that
    ``cexlink signer audit verify --anchor FILE`` checks the log against."""
    from ..storage.db import make_engine, make_session_factory, migrate
    from ..storage.repositories import AuditAnchors

    engine = make_engine(Settings.from_env().database_url)
    try:
        migrate(engine)
        with make_session_factory(engine)() as db:
            heads = AuditAnchors(db).newest()
    finally:
        engine.dispose()
    text = json.dumps({"heads": heads}, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    typer.echo(json.dumps({"written": str(out), "logs": len(heads)}))
