"""The hard reset: revoke every key the platform took in before a moment, at once, and tell each user what to do.

What "created before T" means: the moment the platform *received* the key (its intake in the Sign Center, the
credential's ``created_at``), not the key's creation on the exchange. A leak of the platform's key store exposes
exactly the keys it held at the time; a key made on the exchange years ago but connected after T was never there,
and a key replaced by Update API Key after T is a new credential. The Sign Center is the only party that knows
every intake time (the app database's ``key_created_at`` is the exchange's word and often unknown), so the
revocation is one ``revoke_where(created_before=T, exchange=X)`` there, and the accounts it hit are found by
asking it (``describe_many``, a batch at a time) about each account's credential.

The run, resumable at any point (SIGKILL included) and doing each thing once:
1. a record of the reset (an event of kind ``hard_reset`` on the administrator who started it: the parameters,
   the phase, a cursor and the counts), so a rerun with the same parameters resumes it;
2. the Sign Center stops signing every matching credential and shreds it (one operation, idempotent: it only
   touches active credentials, so a rerun after a kill revokes nothing twice); the record notes it is done;
3. users in batches (by owner id): their matching accounts go to ``revoked`` with the platform's message, their
   active deals and SmartTrades to ``error``, and each user gets ONE event listing their accounts, the symptoms
   and the steps — all of a batch with its cursor in one transaction, so a kill redoes a whole batch or none.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from ..domain.statuses import Status, render
from ..errors import AccountRefused, InputError
from ..exchanges import capabilities
from ..storage.tables import Deal, Event, ExchangeAccount, SmartTrade, User

__all__ = ["EVENT_KIND", "RECORD_KIND", "STEPS", "SYMPTOMS", "HardReset", "ResetParams", "parse_moment"]

RECORD_KIND = "hard_reset"  # the administrator's record of one reset (its progress in ``data``)
EVENT_KIND = "keys_revoked"  # the one event each affected user gets
CODE = "hard_reset"  # an affected account's status_code: "hard_reset:<record id>", for support
SYMPTOMS = ("unrealized PnL (UPNL) stops updating", "deals and SmartTrades fail to start or to close",
            "balances do not load")
STEPS = ("On {exchange}, delete the old API key (API Management).",
         "Create a new API key restricted to these IPs: {ips}.",
         "Here, use Update API Key on '{name}' and paste the new key{fast}.")
DESCRIBE_AT_ONCE = 2000  # credentials per describe_many call
IN_CHUNK = 5000  # ids per IN (...) list: well under any database's bound-parameter limit


def parse_moment(field: str, value: Any) -> int:
    """Epoch milliseconds from an integer (ms) or an ISO 8601 text (a time zone required; ``Z`` allowed)."""
    if isinstance(value, int) and not isinstance(value, bool):
        ms = value
    elif isinstance(value, str) and value.strip().isdigit():
        ms = int(value.strip())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(field, "must be epoch milliseconds or an ISO 8601 time, e.g. 2022-12-28T00:00:00Z"
                             ) from None
        if moment.tzinfo is None:
            raise InputError(field, "needs a time zone (e.g. Z or +00:00)")
        ms = int(moment.timestamp() * 1000)
    else:
        raise InputError(field, "must be epoch milliseconds or an ISO 8601 time")
    if not 0 < ms < 2**53:
        raise InputError(field, "is out of range")
    return ms


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ResetParams:
    created_before: int  # epoch ms, compared with the credential's intake time in the Sign Center
    exchange: str | None = None

    @classmethod
    def check(cls, created_before: Any, exchange: Any = None) -> ResetParams:
        ms = parse_moment("created_before", created_before)
        if exchange is not None:
            cap = capabilities.get(exchange) if isinstance(exchange, str) else None
            if cap is None:
                raise InputError("exchange", "unknown exchange; GET /api/v1/exchanges lists them")
            exchange = cap.id
        return cls(ms, exchange)

    def as_json(self) -> dict[str, Any]:
        return {"created_before": self.created_before, "exchange": self.exchange}


Progress = Callable[[int, int], None]  # (users done, users in all)


class HardReset:
    """``dry_run`` counts; ``run`` revokes and tells. ``batch_users`` users per transaction; ``pause_s`` between
    batches (to spare a busy database)."""

    def __init__(self, sessions: sessionmaker[Session], signer: Any, egress_ips: Sequence[str],
                 clock: Callable[[], float] = time.time, batch_users: int = 500, pause_s: float = 0.0) -> None:
        if not isinstance(batch_users, int) or batch_users < 1:
            raise InputError("batch_size", "must be a positive integer")
        if pause_s < 0:
            raise InputError("pause", "must not be negative")
        self.sessions, self.signer, self.ips = sessions, signer, list(egress_ips)
        self.clock, self.batch_users, self.pause_s = clock, batch_users, pause_s

    # ---- which accounts match ----

    def _accounts(self, db: Session, params: ResetParams, owners: Sequence[int] | None = None) -> list[Any]:
        q = select(ExchangeAccount.id, ExchangeAccount.owner_id, ExchangeAccount.exchange, ExchangeAccount.name,
                   ExchangeAccount.credential_id, ExchangeAccount.status, ExchangeAccount.status_code)
        if params.exchange is not None:
            q = q.where(ExchangeAccount.exchange == params.exchange)
        if owners is not None:
            q = q.where(ExchangeAccount.owner_id.in_(owners))
        return list(db.execute(q.order_by(ExchangeAccount.owner_id, ExchangeAccount.id)))

    async def _matching(self, rows: Sequence[Any], params: ResetParams) -> list[Any]:
        """The rows whose credential the Sign Center took in before T (on the exchange asked for); a row whose
        credential the Sign Center does not have (an orphan) has nothing there to revoke."""
        out = []
        for start in range(0, len(rows), DESCRIBE_AT_ONCE):
            chunk = rows[start:start + DESCRIBE_AT_ONCE]
            known = (await self.signer.describe_many([r.credential_id for r in chunk]))["credentials"]
            out += [r for r in chunk if (d := known.get(r.credential_id)) is not None
                    and d["created_at"] < params.created_before
                    and (params.exchange is None or d["exchange"] == params.exchange)]
        return out

    @staticmethod
    def _told(row: Any) -> bool:
        """Revoked and told by an earlier hard reset: not revoked or told twice."""
        return bool(row.status == Status.REVOKED.value and (row.status_code or "").startswith(CODE + ":"))

    # ---- dry run ----

    async def dry_run(self, params: ResetParams) -> dict[str, Any]:
        """What a run would do, changing nothing: matching accounts per exchange and per user, their deals and
        SmartTrades that would go to error. (Credentials no account points at are revoked too, uncounted.)"""
        with self.sessions() as db:
            rows = self._accounts(db, params)
        matching = [r for r in await self._matching(rows, params) if not self._told(r)]
        ids = [r.id for r in matching]
        with self.sessions() as db:
            owners = {r.owner_id for r in matching}
            names = {uid: name for uid, name in db.execute(select(User.id, User.name).where(User.id.in_(owners)))}
            deals = _count_live(db, Deal, ids)
            trades = _count_live(db, SmartTrade, ids)
        per_user = Counter(names[r.owner_id] for r in matching)
        return {"dry_run": True, **params.as_json(), "created_before_iso": _iso(params.created_before),
                "accounts": len(matching), "users": len(per_user),
                "by_exchange": dict(sorted(Counter(r.exchange for r in matching).items())),
                "by_user": dict(sorted(per_user.items())), "deals": deals, "smart_trades": trades}

    # ---- the run ----

    def _record(self, db: Session, admin_id: int, params: ResetParams) -> Event:
        """The unfinished reset to resume, or a new one. Another unfinished reset with other parameters must be
        finished first: two interleaved resets could not each say what they did."""
        for record in db.scalars(select(Event).where(Event.kind == RECORD_KIND).order_by(Event.id.desc())):
            if record.data.get("state") == "done":
                break
            if (record.data.get("created_before"), record.data.get("exchange")) == \
                    (params.created_before, params.exchange):
                return record
            raise AccountRefused(
                "reset_unfinished", f"Another hard reset is unfinished (created_before "
                f"{_iso(record.data['created_before'])}, exchange {record.data.get('exchange') or 'all'}).",
                "Run that reset again with its parameters to finish it, then this one.", "created_before")
        if params.created_before > int(self.clock() * 1000):
            # Only keys already taken in: a moment in the future would also catch keys connected during the run.
            raise InputError("created_before", "must not be in the future")
        record = Event(owner_id=admin_id, account_id=None, severity="critical", kind=RECORD_KIND,
                       message=self._summary(params, "started"), time=self._now(),
                       data={**params.as_json(), "state": "revoking", "cursor": 0, "revoked": None,
                             "accounts": 0, "users": 0, "deals": 0, "smart_trades": 0})
        db.add(record)
        db.flush()
        return record

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    @staticmethod
    def _summary(params: ResetParams, state: str) -> str:
        where = f" on {params.exchange}" if params.exchange else ""
        return f"Hard reset of every API key received before {_iso(params.created_before)}{where}: {state}."

    async def run(self, admin_id: int, params: ResetParams, progress: Progress | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        with self.sessions() as db, db.begin():
            record = self._record(db, admin_id, params)
            rid, data = record.id, dict(record.data)
        resumed = data["state"] != "revoking" or data["cursor"] > 0
        if data["state"] == "revoking":
            # Nothing else changes until the keys cannot sign; if the Sign Center fails here, run again.
            data["revoked"] = await self.signer.revoke_where(created_before=params.created_before,
                                                             exchange=params.exchange)
            data["state"], data["signing_stopped_at"] = "accounts", _iso(int(self.clock() * 1000))
            self._save(rid, params, data)
        signing_stopped = time.perf_counter() - started
        with self.sessions() as db:
            total = self._owners_count(db, params)
            done = self._owners_count(db, params, upto=data["cursor"])
        if progress:
            progress(done, total)
        while data["state"] == "accounts":
            with self.sessions() as db:
                owners = self._next_owners(db, params, data["cursor"])
            if not owners:
                data["state"], data["finished_at"] = "done", _iso(int(self.clock() * 1000))
                self._save(rid, params, data)
                break
            await self._batch(rid, params, data, owners)
            done += len(owners)
            if progress:
                progress(done, total)
            if self.pause_s:
                await asyncio.sleep(self.pause_s)
        return {"reset_id": rid, "resumed": resumed, **params.as_json(),
                "created_before_iso": _iso(params.created_before),
                **{k: data[k] for k in ("revoked", "accounts", "users", "deals", "smart_trades", "state")},
                "signing_stopped_s": round(signing_stopped, 3), "seconds": round(time.perf_counter() - started, 3)}

    def _save(self, rid: int, params: ResetParams, data: dict[str, Any], db: Session | None = None) -> None:
        state = {"accounts": "signing stopped, accounts being updated", "done":
                 f"done: {data['revoked']} credentials revoked, {data['accounts']} accounts of {data['users']} users"
                 }.get(data["state"], data["state"])
        values = {"data": dict(data), "message": self._summary(params, state)}
        if db is not None:
            db.execute(update(Event).where(Event.id == rid).values(**values))
            return
        with self.sessions() as own, own.begin():
            own.execute(update(Event).where(Event.id == rid).values(**values))

    def _owners_query(self, params: ResetParams) -> Any:
        q = select(ExchangeAccount.owner_id).distinct()
        return q if params.exchange is None else q.where(ExchangeAccount.exchange == params.exchange)

    def _owners_count(self, db: Session, params: ResetParams, upto: int | None = None) -> int:
        q = self._owners_query(params)
        if upto is not None:
            q = q.where(ExchangeAccount.owner_id <= upto)
        return int(db.scalar(select(func.count()).select_from(q.subquery())) or 0)

    def _next_owners(self, db: Session, params: ResetParams, cursor: int) -> list[int]:
        q = self._owners_query(params).where(ExchangeAccount.owner_id > cursor)
        return list(db.scalars(q.order_by(ExchangeAccount.owner_id).limit(self.batch_users)))

    async def _batch(self, rid: int, params: ResetParams, data: dict[str, Any], owners: list[int]) -> None:
        with self.sessions() as db:
            rows = [r for r in self._accounts(db, params, owners) if not self._told(r)]
        matching = await self._matching(rows, params)
        with self.sessions() as db, db.begin():
            hit = self._revoke_accounts(db, rid, params, matching)
            deals = _to_error(db, Deal, [r.id for r in hit])
            trades = _to_error(db, SmartTrade, [r.id for r in hit])
            by_owner: dict[int, list[Any]] = defaultdict(list)
            for r in hit:
                by_owner[r.owner_id].append(r)
            if by_owner:
                db.execute(insert(Event), [self._event(rid, params, owner, accounts)
                                           for owner, accounts in by_owner.items()])
            data.update(cursor=owners[-1], accounts=data["accounts"] + len(hit), users=data["users"] + len(by_owner),
                        deals=data["deals"] + deals, smart_trades=data["smart_trades"] + trades)
            self._save(rid, params, data, db)

    def _revoke_accounts(self, db: Session, rid: int, params: ResetParams, matching: list[Any]) -> list[Any]:
        """Matching accounts to ``revoked``, by credential id: an account whose key a user replaced meanwhile
        (Update API Key) keeps its new key's status. Returns the rows changed."""
        by_exchange: dict[str, list[str]] = defaultdict(list)
        for r in matching:
            by_exchange[r.exchange].append(r.credential_id)
        now = self._now()
        for exchange, creds in by_exchange.items():
            message, remedy = self._texts(exchange, params)
            for chunk in _chunks(creds):
                db.execute(update(ExchangeAccount).where(ExchangeAccount.credential_id.in_(chunk))
                           .values(status=Status.REVOKED.value, status_message=message, status_remedy=remedy,
                                   status_code=f"{CODE}:{rid}", updated_at=now)
                           .execution_options(synchronize_session=False))
        creds = [r.credential_id for r in matching]
        hit: list[Any] = []
        for chunk in _chunks(creds):
            hit += db.execute(select(ExchangeAccount.id, ExchangeAccount.owner_id, ExchangeAccount.exchange,
                                     ExchangeAccount.name, ExchangeAccount.masked_key)
                              .where(ExchangeAccount.credential_id.in_(chunk),
                                     ExchangeAccount.status_code == f"{CODE}:{rid}"))
        return sorted(hit, key=lambda r: r.id)

    def _texts(self, exchange: str, params: ResetParams) -> tuple[str, str]:
        cap = capabilities.get(exchange)
        name = cap.name if cap else exchange
        message, remedy = render(Status.REVOKED, name, self.ips,
                                 detail=f"a hard reset of every key it received before {_iso(params.created_before)}")
        if cap is not None and cap.fast_connect:
            remedy += f" Or use Fast Connect: it creates the new key on {name} for you."
        return message, remedy

    def _event(self, rid: int, params: ResetParams, owner: int, accounts: list[Any]) -> dict[str, Any]:
        ips = ", ".join(self.ips) or "(none configured)"
        listed, steps = [], []
        for a in accounts:
            cap = capabilities.get(a.exchange)
            name = cap.name if cap else a.exchange
            fast = " (or use Fast Connect, which creates the key for you)" if cap is not None and cap.fast_connect \
                else ""
            listed.append({"id": a.id, "name": a.name, "exchange": a.exchange, "masked_key": a.masked_key})
            steps.append({"account_id": a.id, "steps": [s.format(exchange=name, ips=ips, name=a.name, fast=fast)
                                                        for s in STEPS]})
        names = ", ".join(f"'{a.name}' ({a.exchange})" for a in accounts)
        text = (f"The platform revoked the API keys of {len(accounts)} of your connections: {names}. Until you "
                f"replace them: {'; '.join(SYMPTOMS)}. For each connection: "
                + " ".join(f"[{a['name']}] " + " ".join(s["steps"]) for a, s in zip(listed, steps, strict=True)))
        return {"owner_id": owner, "account_id": None, "time": self._now(), "severity": "critical",
                "kind": EVENT_KIND, "message": text,
                "data": {"reset_id": rid, "created_before": params.created_before, "accounts": listed,
                         "symptoms": list(SYMPTOMS), "steps": steps}}


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i:i + IN_CHUNK] for i in range(0, len(items), IN_CHUNK)]


def _to_error(db: Session, model: Any, account_ids: Sequence[int]) -> int:
    """Active deals (or SmartTrades) of these accounts to ``error``; they resume after Update API Key."""
    count = 0
    for chunk in _chunks(account_ids):
        result = db.execute(update(model).where(model.account_id.in_(chunk), model.status == "active")
                            .values(status="error").execution_options(synchronize_session=False))
        count += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return count


def _count_live(db: Session, model: Any, account_ids: Sequence[int]) -> int:
    return sum(int(db.scalar(select(func.count()).select_from(model)
                             .where(model.account_id.in_(chunk), model.status == "active")) or 0)
               for chunk in _chunks(account_ids))
