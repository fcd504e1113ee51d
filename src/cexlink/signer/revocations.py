"""Whether any process revoked a credential since this one last looked: asked before every signature, so it
must be cheap (a doorbell on one host, a throttled epoch read on PostgreSQL)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from .doorbell import Doorbell
from .store import PG_SCHEMA, SignerStore


class RevocationWatch:
    """Tells, before a signature, whether any process revoked something since the last look, cheaply.

    SQLite: every replica shares the store's file, hence its host. A revocation rings a doorbell beside that file
    (``<store>.revocations``, doorbell.py) after its commit, and a replica reads the bell before every signature
    — a memory read. When it has rung, or at the latest every ``FALLBACK_S`` (a revoking process that died
    between its commit and the ring), the replica looks at the store: ``PRAGMA data_version`` on a private
    connection, which changes when any other connection commits, then the revocation epoch.
    PostgreSQL: replicas may be on other hosts; the epoch row is read over a private autocommit connection at
    most every ``RECHECK_S`` (and before the first signature after a pause).
    A revocation answers only ``SETTLE_S`` after its commit, so by the time a caller hears "revoked", every
    replica's next signature comes after a look that sees it — at once, as far as any caller can tell — and a
    signature already under way when it rang has been answered.
    """

    RECHECK_S = 0.001
    SETTLE_S = 2 * RECHECK_S
    FALLBACK_S = 0.05

    def __init__(self, store: SignerStore) -> None:
        self.store = store
        self.epoch = store.revocation_epoch()
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None
        self._bell: Doorbell | None = None
        self._rung = 0
        self._version: int | None = None
        self._looked_at = -1.0
        if store.is_sqlite:
            path = store.url.split("///", 1)[1]
            self._bell = Doorbell(Path(path + ".revocations"))
            self._rung = self._bell.rung()
            self._sqlite = sqlite3.connect(path, check_same_thread=False)
            self._version = self._sqlite.execute("PRAGMA data_version").fetchone()[0]
        else:
            import psycopg

            url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._pg = psycopg.connect(url, autocommit=True)
            self._pg_query = (f"SELECT value FROM {PG_SCHEMA}.meta WHERE name = 'revocation_epoch'")

    def ring(self) -> None:
        """After a revocation's commit: every replica on this host looks before its next signature."""
        if self._bell is not None:
            self._bell.ring()

    def changed(self) -> bool:
        now = time.monotonic()
        if self._bell is not None:
            rung = self._bell.rung()  # read before the store: a ring after this read is seen next time
            if rung == self._rung and now - self._looked_at < self.FALLBACK_S:
                return False
            self._rung = rung
        elif now - self._looked_at < self.RECHECK_S:
            return False
        self._looked_at = now  # taken before the read: the read sees every commit made before this instant
        if self._sqlite is not None:
            version = self._sqlite.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version:
                return False
            self._version = version
            epoch = self.store.revocation_epoch()
        else:
            row = self._pg.execute(self._pg_query, prepare=True).fetchone()
            epoch = int(row[0]) if row else 0
        if epoch != self.epoch:
            self.epoch = epoch
            return True
        return False

    def close(self) -> None:
        for conn in (self._sqlite, self._pg):
            if conn is not None:
                conn.close()
        if self._bell is not None:
            self._bell.close()
