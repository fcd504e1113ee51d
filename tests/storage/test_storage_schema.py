"""The migrations build exactly the ORM's schema, on SQLite and PostgreSQL, from the installed package."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
import setuptools
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from cexlink.domain.statuses import Status
from cexlink.storage.db import MIGRATIONS, alembic_config, make_engine, migrate
from cexlink.storage.tables import Base


def _diff(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(ctx, Base.metadata))


def _constraints(conn: Connection) -> dict[str, Any]:
    """What autogenerate does not compare: foreign keys with their ON DELETE rules, and CHECK constraint names."""
    insp = inspect(conn)
    out: dict[str, Any] = {}
    for table in Base.metadata.tables:
        fks = {(fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"],
                (fk.get("options") or {}).get("ondelete")) for fk in insp.get_foreign_keys(table)}
        checks = {c["name"] for c in insp.get_check_constraints(table)}
        out[table] = (fks, checks)
    return out


def _model_constraints() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, table in Base.metadata.tables.items():
        fks = {(fk.name, tuple(c.name for c in fk.columns), fk.referred_table.name, fk.ondelete)
               for fk in table.foreign_key_constraints}
        checks = {c.name for c in table.constraints if c.__class__.__name__ == "CheckConstraint"}
        out[name] = (fks, checks)
    return out


def test_migration_matches_metadata(engine: Engine) -> None:
    with engine.connect() as conn:
        assert _diff(conn) == []
        assert _constraints(conn) == _model_constraints()
        # The comparison is not blind: a missing index shows up.
        conn.execute(text("DROP INDEX ix_exchange_accounts_owner_id"))
        assert [d[0] for d in _diff(conn)] == ["add_index"]
        conn.rollback()


def test_migrate_twice_then_down_and_up(db_url: str, engine: Engine) -> None:
    migrate(db_url)  # already at head: nothing to do
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    migrate(engine)
    with engine.connect() as conn:
        assert _diff(conn) == []
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0003"


def test_alembic_command_with_a_url(db_url: str) -> None:
    """The path the ``alembic`` command takes (env.py opens its own engine from the configured URL)."""
    command.upgrade(alembic_config(db_url), "head")
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert _diff(conn) == []
    engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_servers_starting_together_migrate_once(db_url: str) -> None:
    """Several API servers (processes) upgrading one PostgreSQL database at once take turns: an advisory lock."""
    code = "import sys; from cexlink.storage.db import migrate; migrate(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert _diff(conn) == [] and conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    engine.dispose()


def test_migrate_from_threads(db_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(db_url)
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []


def test_database_enforces_closed_sets(engine: Engine) -> None:
    """CHECK constraints hold for any client of the schema, not only the ORM's validators; and the database
    accepts every connection status the code knows (a status added to the enum needs a migration)."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (name, is_admin, created_at) VALUES ('u', false, '2026-01-01')"))
        conn.execute(text(
            "INSERT INTO exchange_accounts (owner_id, exchange, name, exchange_uid, is_sub_account, credential_id, "
            "key_fingerprint, masked_key, permissions, ip_whitelist, connected_via, status, status_message, "
            "status_remedy, balances, warnings, created_at, updated_at) VALUES ((SELECT id FROM users), 'okx', 'n', "
            "'1', false, 'c', 'f', 'm', '[]', '[]', 'api_key', 'ok', '', '', '{}', '[]', '2026-01-01', '2026-01-01')"))
        for status in Status:
            conn.execute(text("UPDATE exchange_accounts SET status = :s"), {"s": status.value})
    refused = [
        "INSERT INTO events (owner_id, time, severity, kind, message, data) "
        "VALUES ((SELECT id FROM users), '2026-01-01', 'loud', 'x', 'm', '{}')",
        "UPDATE exchange_accounts SET status = 'fine'",
        "UPDATE exchange_accounts SET connected_via = 'email'",
    ]
    for sql in refused:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(sql))


def test_sqlite_connection_settings(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.scalar(text("PRAGMA foreign_keys")) == 1
        assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
        assert conn.scalar(text("PRAGMA busy_timeout")) >= 5000
    engine.dispose()


def test_migrations_ship_inside_the_package() -> None:
    """``pip install`` (not only ``-e``) must carry env.py and the versions: they are packages (``__init__.py``),
    found by the same ``find_packages`` the build uses; the revision template is package data."""
    packages = setuptools.find_packages("src")
    assert {"cexlink.storage.migrations", "cexlink.storage.migrations.versions"} <= set(packages)
    assert (MIGRATIONS / "env.py").is_file() and (MIGRATIONS / "versions" / "0001_initial.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
