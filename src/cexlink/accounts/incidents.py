"""Exchange incidents, declared only from exchange-wide evidence and kept in the app database.

A key-specific answer (invalid key, revoked, expired, permission, IP, withdrawals enabled) is the key's, however
many accounts get it at once: it is never counted into an incident (the December 2022 mass revocation looked
exactly like "many accounts failing alike", and those keys were bad). The evidence that declares one:

    status_endpoint     the exchange's own status endpoint says maintenance (ccxt ``fetch_status``)
    canary              a public call (no key) fails with a transient class (5xx, timeout, maintenance, limit)
    transient_failures  several connections of the exchange checked with a transient status within a window

Each ends by itself when its evidence does: the status endpoint says normal, the canary answers, the transient
failures stop (a connection of the exchange checks ok, or none is seen for ``quiet_s``). Rows live in the
database, so every process (API servers, workers, the CLI) tells the same story.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ..domain.statuses import Status
from ..storage.repositories import Accounts
from ..storage.tables import ExchangeAccount, Incident, IncidentAccount

__all__ = ["EVIDENCE_STATUSES", "IncidentRules", "Incidents", "incident_json"]

# The transient statuses that speak of the exchange, not of one key. Not UNKNOWN (we do not understand it) nor
# CLOCK_SKEW (our clock), and never a Sign Center failure (the platform's, handled before this).
EVIDENCE_STATUSES = frozenset({Status.EXCHANGE_UNAVAILABLE, Status.EXCHANGE_MAINTENANCE, Status.RATE_LIMITED})

MESSAGES = {
    "status_endpoint": "{exchange} reports maintenance on its status endpoint{detail}.",
    "canary": "{exchange}'s public API fails ({detail}): an exchange-wide problem.",
    "transient_failures": "{exchange} fails for {detail} connections at once (unavailable, maintenance or rate "
                          "limits): an exchange-wide problem.",
}


@dataclass(frozen=True)
class IncidentRules:
    min_accounts: int = 3  # distinct connections with transient failures within the window ...
    window_s: float = 300.0  # ... make a transient_failures incident
    quiet_s: float = 300.0  # no transient failure for this long: that incident is over


def incident_json(row: Incident, accounts: int) -> dict[str, Any]:
    def iso(d: datetime | None) -> str | None:
        return None if d is None else d.astimezone(UTC).isoformat()

    return {"id": row.id, "exchange": row.exchange, "cause": row.cause, "message": row.message,
            "evidence": row.evidence, "started_at": iso(row.started_at), "last_seen_at": iso(row.last_seen_at),
            "ended_at": iso(row.ended_at), "accounts": accounts}


class Incidents:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], float] = time.time,
                 rules: IncidentRules | None = None) -> None:
        self.sessions, self.clock, self.rules = sessions, clock, rules or IncidentRules()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # ---- rows ----

    @staticmethod
    def _open(db: Session, exchange: str, cause: str | None = None) -> list[Incident]:
        q = select(Incident).where(Incident.exchange == exchange, Incident.ended_at.is_(None))
        return list(db.scalars(q if cause is None else q.where(Incident.cause == cause)))

    def _start(self, db: Session, exchange: str, cause: str, detail: str, evidence: dict[str, Any]) -> Incident:
        now = self._now()
        row = Incident(exchange=exchange, cause=cause, evidence=evidence, started_at=now, last_seen_at=now,
                       message=MESSAGES[cause].format(exchange=exchange, detail=detail))
        db.add(row)
        db.flush()
        return row

    def _end(self, db: Session, rows: list[Incident]) -> int:
        now = self._now()
        for row in rows:
            row.ended_at = now
            # At once after an incident ends: every connection of the exchange is re-checked by the monitor.
            Accounts(db).due_now(row.exchange, now)
        db.flush()
        return len(rows)

    def _touch(self, db: Session, row: Incident, account_id: int, status: Status) -> None:
        now = self._now()
        link = db.get(IncidentAccount, (row.id, account_id))
        if link is None:
            db.add(IncidentAccount(incident_id=row.id, account_id=account_id, status=status.value,
                                   first_seen_at=now, last_seen_at=now))
        else:
            link.status, link.last_seen_at = status.value, now
        db.flush()

    def _seen(self, exchange: str, cause: str, failing: bool, detail: str, evidence: dict[str, Any]) -> str:
        """One piece of exchange-level evidence: open (or keep) the incident while it fails, end it when not."""
        with self.sessions() as db, db.begin():
            open_rows = self._open(db, exchange, cause)
            if not failing:
                return "ended" if self._end(db, open_rows) else "none"
            if open_rows:
                for row in open_rows:
                    row.last_seen_at, row.evidence = self._now(), evidence
                return "ongoing"
            self._start(db, exchange, cause, detail, evidence)
            return "started"

    # ---- evidence ----

    def status_seen(self, exchange: str, status: str, info: Any = None) -> str:
        """What the exchange's status endpoint said (ccxt's ``fetch_status()['status']``: ok | maintenance | …)."""
        detail = f": {status}" if status != "maintenance" else ""
        return self._seen(exchange, "status_endpoint", status != "ok", detail,
                          {"status": status, "info": info if isinstance(info, dict | list) else None})

    def canary_seen(self, exchange: str, failure: Status | None, detail: str = "") -> str:
        """A public call's outcome: None when it answered; a transient failure class when it did not."""
        failing = failure is not None and failure in EVIDENCE_STATUSES
        return self._seen(exchange, "canary", failing, failure.value if failure else "",
                          {"status": failure.value if failure else "ok", "detail": detail[:300]})

    def account_checked(self, db: Session, exchange: str, account_id: int, status: Status) -> None:
        """Called in the transaction that wrote a connection's new status. Transient statuses count towards (and
        join) the exchange's incidents; an ok check ends a transient_failures one. Key-specific statuses do
        neither: they are the key's."""
        if status is Status.OK:
            self._end(db, self._open(db, exchange, "transient_failures"))
            return
        if status not in EVIDENCE_STATUSES:
            return
        now = self._now()
        horizon = now - timedelta(seconds=self.rules.window_s)
        failing = list(db.scalars(select(ExchangeAccount.id).where(
            ExchangeAccount.exchange == exchange, ExchangeAccount.last_checked_at >= horizon,
            ExchangeAccount.status.in_([s.value for s in EVIDENCE_STATUSES]))))
        open_rows = self._open(db, exchange)
        transient = [r for r in open_rows if r.cause == "transient_failures"]
        if not transient and len(set(failing) | {account_id}) >= self.rules.min_accounts:
            row = self._start(db, exchange, "transient_failures", str(len(set(failing) | {account_id})),
                              {"accounts": len(set(failing) | {account_id}), "window_s": self.rules.window_s})
            open_rows.append(row)
            for other in set(failing) - {account_id}:
                self._touch(db, row, other, status)
        for row in open_rows:
            if row.cause == "transient_failures":
                row.last_seen_at = now
            self._touch(db, row, account_id, status)

    def sweep(self) -> int:
        """End transient_failures incidents nobody has seen evidence of for ``quiet_s``."""
        horizon = self._now() - timedelta(seconds=self.rules.quiet_s)
        with self.sessions() as db, db.begin():
            stale = list(db.scalars(select(Incident).where(Incident.ended_at.is_(None),
                                                           Incident.cause == "transient_failures",
                                                           Incident.last_seen_at < horizon)))
            return self._end(db, stale)

    # ---- reading ----

    def active(self, exchange: str | None = None) -> list[dict[str, Any]]:
        with self.sessions() as db:
            q = select(Incident).where(Incident.ended_at.is_(None))
            rows = list(db.scalars((q if exchange is None else q.where(Incident.exchange == exchange))
                                   .order_by(Incident.id)))
            return [incident_json(r, self._count(db, r.id)) for r in rows]

    def history(self, exchange: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first, ended ones included."""
        with self.sessions() as db:
            q = select(Incident)
            rows = list(db.scalars((q if exchange is None else q.where(Incident.exchange == exchange))
                                   .order_by(Incident.id.desc()).limit(limit)))
            return [incident_json(r, self._count(db, r.id)) for r in rows]

    def accounts(self, incident_id: int) -> list[int]:
        with self.sessions() as db:
            return list(db.scalars(select(IncidentAccount.account_id)
                                   .where(IncidentAccount.incident_id == incident_id)
                                   .order_by(IncidentAccount.account_id)))

    @staticmethod
    def _count(db: Session, incident_id: int) -> int:
        return int(db.scalar(select(func.count()).select_from(IncidentAccount)
                             .where(IncidentAccount.incident_id == incident_id)) or 0)
