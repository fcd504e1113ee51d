"""Engines, sessions and migrations for the app database (SQLite by default, PostgreSQL via ``postgresql+psycopg``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cexlink.storage.integrity import translate

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
_MIGRATING = threading.Lock()  # Alembic loads env.py as a module per run; that is not thread-safe in one process


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings the app relies on. SQLite: foreign keys ON (cascades and references are
    enforced only then), WAL (readers do not block the writer), a busy timeout (a second writer waits instead of
    failing at once). PostgreSQL: pre-ping, so a restarted server does not fail the first request."""
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable with WAL except for the last commits on power loss
    cur.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: rows returned by a repository stay readable after the transaction ends.
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error; integrity errors raised at commit become
    storage errors like those raised at flush."""
    session = factory()
    try:
        yield session
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise translate(err) from err
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolation
    return cfg


def migrate(url_or_engine: str | Engine, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` on this database, from the migrations shipped inside the package.
    Processes sharing one PostgreSQL take turns through an advisory lock (env.py)."""
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        cfg = alembic_config()
        with _MIGRATING, engine.begin() as conn:  # the cookbook's "share a connection": env.py runs on it, we commit it
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()
