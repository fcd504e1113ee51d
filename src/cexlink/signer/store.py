"""The Sign Center's own store: sealed credentials, apart from the app database.

A SQLite file by default, or a PostgreSQL schema (``cexlink_signer``) by URL. Rows hold only sealed material:
the wrapped data key, nonce and ciphertext; shredding sets the wrapped data key and ciphertext to NULL.

Shredding leaves no copy behind on SQLite: every connection runs with ``secure_delete`` (freed cell space and
pages are overwritten with zeros, not just unlinked), and after a revocation's commit a
``wal_checkpoint(TRUNCATE)`` writes the shredded pages over the old ones in the main file and empties the WAL,
whose older frames still held them. On PostgreSQL the updated row leaves a dead tuple until VACUUM, which runs
after each revocation batch (outside its transaction); until then the old bytes sit in the table's pages, and
in WAL segments and backups until those are recycled (README, Sign Center).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

from .keystore import Sealed

log = logging.getLogger("cexlink.signer")

PG_SCHEMA = "cexlink_signer"
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")  # the store's files: what SQLite may create beside it


def _tables(schema: str | None) -> tuple[MetaData, Table, Table]:
    md = MetaData(schema=schema)
    credentials = Table(
        "credentials", md,
        Column("id", String(40), primary_key=True),
        Column("owner", String(200), nullable=False, index=True),
        Column("exchange", String(40), nullable=False, index=True),
        Column("key_fingerprint", String(80), nullable=False, index=True),
        Column("masked_key", String(40), nullable=False),
        Column("created_at", BigInteger, nullable=False, index=True),  # epoch ms
        Column("expires_at", BigInteger),
        Column("status", String(16), nullable=False, default="active"),  # active | revoked
        Column("revoked_at", BigInteger),
        Column("version", Integer, nullable=False),
        Column("kek_version", Integer),
        Column("wrapped_dek", LargeBinary),
        Column("nonce", LargeBinary),
        Column("ciphertext", LargeBinary),
    )
    meta = Table("meta", md, Column("name", String(40), primary_key=True), Column("value", BigInteger))
    return md, credentials, meta


@dataclass(frozen=True)
class CredentialRow:
    id: str
    owner: str
    exchange: str
    key_fingerprint: str
    masked_key: str
    created_at: int
    expires_at: int | None
    status: str
    revoked_at: int | None
    version: int
    sealed: Sealed | None  # None once shredded


def _row(r: Any) -> CredentialRow:
    sealed = None
    if r.wrapped_dek is not None and r.ciphertext is not None:
        sealed = Sealed(r.kek_version, bytes(r.wrapped_dek), bytes(r.nonce), bytes(r.ciphertext))
    return CredentialRow(r.id, r.owner, r.exchange, r.key_fingerprint, r.masked_key, r.created_at, r.expires_at,
                         r.status, r.revoked_at, r.version, sealed)


class SignerStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        schema = None if self.is_sqlite else PG_SCHEMA
        if self.is_sqlite:
            _own_files(url.split("///", 1)[1])
        self.engine: Engine = create_engine(url, future=True, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")
        self.md, self.credentials, self.meta = _tables(schema)
        self.md.create_all(self.engine)
        if self.is_sqlite:
            self._purge()  # a process that died between a revocation's commit and its checkpoint
        self._reader: Any = None
        self._get_one = select(self.credentials).where(self.credentials.c.id == bindparam("id"))

    def insert(self, row: CredentialRow) -> None:
        assert row.sealed is not None
        with self.engine.begin() as conn:
            conn.execute(insert(self.credentials).values(
                id=row.id, owner=row.owner, exchange=row.exchange, key_fingerprint=row.key_fingerprint,
                masked_key=row.masked_key, created_at=row.created_at, expires_at=row.expires_at,
                status=row.status, version=row.version, kek_version=row.sealed.kek_version,
                wrapped_dek=row.sealed.wrapped_dek, nonce=row.sealed.nonce, ciphertext=row.sealed.ciphertext))

    def get(self, credential_id: str) -> CredentialRow | None:
        # One long-lived connection for this hot read (a pool checkout per call costs more than the query); the
        # transaction ends at once so the next read sees every commit, revocations included.
        if self._reader is None:
            self._reader = self.engine.connect()
        try:
            r = self._reader.execute(self._get_one, {"id": credential_id}).first()
        finally:
            self._reader.rollback()
        return _row(r) if r is not None else None

    def get_many(self, credential_ids: list[str], chunk: int = 500) -> list[CredentialRow]:
        """The rows of those ids that exist, in chunks of ``chunk`` bound values per statement."""
        c = self.credentials
        rows: list[CredentialRow] = []
        with self.engine.connect() as conn:
            for start in range(0, len(credential_ids), chunk):
                part = credential_ids[start:start + chunk]
                rows += [_row(r) for r in conn.execute(select(c).where(c.c.id.in_(part)))]
        return rows

    def find_active_by_fingerprint(self, fingerprint: str) -> list[CredentialRow]:
        c = self.credentials
        with self.engine.connect() as conn:
            rows = conn.execute(select(c).where(and_(c.c.key_fingerprint == fingerprint, c.c.status == "active")))
            return [_row(r) for r in rows]

    def revoke_where(self, now_ms: int, ids: list[str] | None = None, owner: str | None = None,
                     exchange: str | None = None, created_before: int | None = None) -> int:
        """Mark matching active credentials revoked and destroy their wrapped data keys; return the count."""
        c = self.credentials
        conds = [c.c.status == "active"]
        if ids is not None:
            conds.append(c.c.id.in_(ids))
        if owner is not None:
            conds.append(c.c.owner == owner)
        if exchange is not None:
            conds.append(c.c.exchange == exchange)
        if created_before is not None:
            conds.append(c.c.created_at < created_before)
        with self.engine.begin() as conn:
            result = conn.execute(update(c).where(and_(*conds)).values(
                status="revoked", revoked_at=now_ms, wrapped_dek=None, ciphertext=None, nonce=None))
            self._bump(conn, "revocation_epoch")
        self._purge()
        return int(result.rowcount or 0)

    def _purge(self) -> None:
        """After a revocation's commit: leave no old copy of the shredded rows in the store's files (SQLite) or
        its table pages (PostgreSQL), as far as the database can see to it."""
        if self.is_sqlite:
            with self.engine.connect() as conn:
                # Busy (1) while a reader still holds an old snapshot, after waiting busy_timeout for it. The
                # revocation stands either way; the next revocation or start checkpoints again.
                for _ in range(3):
                    row = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
                    if row is None or not row[0]:
                        return
                log.warning("the store's WAL could not be emptied after a revocation; retried at the next one")
                return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM {PG_SCHEMA}.credentials")

    def iter_sealed(self, batch: int = 1000) -> Iterator[CredentialRow]:
        c = self.credentials
        last = ""
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(select(c).where(and_(c.c.id > last, c.c.wrapped_dek.is_not(None)))
                                    .order_by(c.c.id).limit(batch)).all()
            if not rows:
                return
            for r in rows:
                yield _row(r)
            last = rows[-1].id

    def update_wrap(self, credential_id: str, kek_version: int, wrapped_dek: bytes) -> None:
        c = self.credentials
        with self.engine.begin() as conn:
            conn.execute(update(c).where(and_(c.c.id == credential_id, c.c.wrapped_dek.is_not(None)))
                         .values(kek_version=kek_version, wrapped_dek=wrapped_dek))

    def count(self, status: str | None = None) -> int:
        from sqlalchemy import func

        c = self.credentials
        q = select(func.count()).select_from(c)
        if status:
            q = q.where(c.c.status == status)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def _bump(self, conn: Any, name: str) -> None:
        m = self.meta
        updated = conn.execute(update(m).where(m.c.name == name).values(value=m.c.value + 1)).rowcount
        if not updated:
            conn.execute(insert(m).values(name=name, value=1))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self.engine.dispose()

    def revocation_epoch(self) -> int:
        m = self.meta
        with self.engine.connect() as conn:
            v = conn.execute(select(m.c.value).where(m.c.name == "revocation_epoch")).scalar()
        return int(v or 0)


def _own_files(path: str) -> None:
    """The store's files readable by the Sign Center's user only: created 0600 before SQLite opens them (it
    gives the WAL and -shm the main file's mode), and tightened when an older start left them wider."""
    if path in ("", ":memory:"):
        return
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for suffix in SQLITE_SUFFIXES:
        try:
            if os.stat(path + suffix).st_mode & 0o077:
                os.chmod(path + suffix, 0o600)
        except FileNotFoundError:
            pass


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA secure_delete=ON")  # a shredded row's bytes are zeroed, not left in free space
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")  # an acknowledged intake survives a crash (the SIGKILL test)
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
