"""Alembic environment for the app database. ``cexlink.storage.db.migrate(url)`` runs it on its own connection;
the ``alembic`` command works too with ``-x url=...`` or ``CEXLINK_DATABASE_URL``."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, text

from cexlink.storage.db import make_engine
from cexlink.storage.tables import Base

target_metadata = Base.metadata
# Several API servers may start at once on one PostgreSQL: they take turns upgrading, holding this lock.
PG_LOCK_ID = 0x636578_6C6E6B  # "cexlnk"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters by table copy
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_LOCK_ID})
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    url = url or os.environ.get("CEXLINK_DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set CEXLINK_DATABASE_URL")
    return url


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()
