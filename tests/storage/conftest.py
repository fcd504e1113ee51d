"""Storage tests run on a SQLite file and on a real PostgreSQL server (tests/support/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cexlink.storage.db import make_engine, make_session_factory, migrate, session_scope
from cexlink.storage.repositories import Repos
from tests.support.clock import Clock
from tests.support.storage import START, Tx


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return str(request.getfixturevalue("pg_url")())


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    migrate(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def tx(factory: sessionmaker[Session], clock: Clock) -> Tx:
    """``with tx() as r:`` — one committed transaction with every repository."""

    @contextmanager
    def run() -> Iterator[Repos]:
        with session_scope(factory) as session:
            yield Repos(session, clock.datetime)

    return run
