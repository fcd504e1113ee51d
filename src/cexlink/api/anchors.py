"""The audit anchor: the API server fetches the Sign Center's newest signed checkpoint heads every few seconds
and keeps each new one in the app database (``audit_anchors``), outside the Sign Center's data directory. An
attacker who rewrites, truncates or empties the Sign Center's log then still has to match heads held here;
``cexlink audit anchors`` exports them for ``cexlink signer audit verify --anchor``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ..errors import CexlinkError, InputError
from ..storage.repositories import AuditAnchors
from ..storage.types import utcnow

log = logging.getLogger(__name__)

ANCHOR_INTERVAL_S = 2.0  # the Sign Center checkpoints at least every second while signing goes on


class AnchorFetcher:
    def __init__(self, signer: Any, sessions: sessionmaker[Session], interval_s: float = ANCHOR_INTERVAL_S,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.signer, self.sessions, self.interval_s, self.clock = signer, sessions, interval_s, clock
        self.last_error: str | None = None  # for operators and tests: why the last fetch failed, if it did

    async def _heads(self) -> Any:
        op = getattr(self.signer, "audit_heads", None)
        # The Sign Center's clients gain ``audit_heads`` alongside the op; until then, the op by name.
        answer = await (op() if op is not None else self.signer._call("audit_heads", {}))
        heads = answer.get("heads") if isinstance(answer, dict) else None
        if not isinstance(heads, list):
            raise InputError("heads", "the Sign Center's audit_heads answer has no list of heads")
        return heads

    def _store(self, heads: list[Any]) -> int:
        with self.sessions() as db, db.begin():
            return AuditAnchors(db, self.clock).add_new(heads)

    async def fetch_once(self) -> int:
        """Fetch the heads and store the new ones; how many were new."""
        heads = await self._heads()
        return await asyncio.to_thread(self._store, heads)  # off the event loop: SQLite may wait for a writer

    async def run(self) -> None:
        while True:
            try:
                await self.fetch_once()
                self.last_error = None
            except Exception as e:  # Sign Center down, op missing, malformed head, database busy: next time
                # Our errors carry no secret material; anyone else's is named by its type only.
                error = f"{type(e).__name__}: {e}" if isinstance(e, CexlinkError) else type(e).__name__
                if error != self.last_error:  # once per kind of failure, not every few seconds
                    log.warning("audit anchor not fetched: %s", error)
                self.last_error = error
            await asyncio.sleep(self.interval_s)
