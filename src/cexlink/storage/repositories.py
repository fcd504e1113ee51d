"""Repositories over one SQLAlchemy session: every read and write is scoped to its owner.

The caller owns the transaction (``db.session_scope``) so a service can, for instance, replace a key and record
the event atomically. Writes flush at once so a uniqueness conflict surfaces here, as ``Conflict(field)``; the
session is then rolled back. Another owner's row is reported exactly like a missing one (``NotFound``).
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from cexlink.domain.statuses import Status
from cexlink.errors import InputError
from cexlink.storage.consumers import Bots, Deals, Orders, SmartTrades, owned_account
from cexlink.storage.errors import NotFound
from cexlink.storage.integrity import translated
from cexlink.storage.tables import ApiToken, AuditAnchor, Bot, Deal, Event, ExchangeAccount, Order, SmartTrade, User
from cexlink.storage.types import utcnow

__all__ = ["Accounts", "AuditAnchors", "Bots", "Deals", "Events", "Orders", "Repos", "SmartTrades", "Users",
           "hash_token"]

Clock = Callable[[], datetime]
TOKEN_PREFIX = "cxl_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


LAST_USED_RESOLUTION_S = 60


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Users:
    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.s, self.clock = session, clock

    def create(self, name: str, is_admin: bool = False) -> User:
        user = User(name=name, is_admin=is_admin, created_at=self.clock())
        with translated(self.s):
            self.s.add(user)
            self.s.flush()
        return user

    def get(self, user_id: int) -> User:
        user = self.s.get(User, user_id)
        if user is None:
            raise NotFound("user", user_id)
        return user

    def by_name(self, name: str) -> User | None:
        return self.s.scalar(select(User).where(User.name == name))

    def issue_token(self, user_id: int, label: str = "", expires_at: datetime | None = None) -> str:
        """A new API token, returned in plaintext this once; only its SHA-256 is kept. ``expires_at`` (aware):
        refused from then on; None: valid until revoked."""
        return self.issue(user_id, label, expires_at)[0]

    def issue(self, user_id: int, label: str = "", expires_at: datetime | None = None) -> tuple[str, ApiToken]:
        """``issue_token`` with the stored row (its id, to list or revoke it later)."""
        self.get(user_id)
        if not isinstance(label, str) or len(label) > 200:
            raise InputError("label", "must be text of at most 200 characters")
        if expires_at is not None and (not isinstance(expires_at, datetime) or expires_at.tzinfo is None):
            raise InputError("expires_at", "must be a timezone-aware (UTC) datetime")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(user_id=user_id, token_hash=hash_token(token), label=label, created_at=self.clock(),
                       expires_at=expires_at)
        with translated(self.s):
            self.s.add(row)
            self.s.flush()
        return token, row

    def user_for_token(self, token: str) -> User | None:
        """The user a live token belongs to, noting when it was used. The lookup is by the hash of a 256-bit
        random token, so an index lookup leaks nothing a timing attacker could use. Read from the database on
        every call (no cache): a token revoked or expired is refused at once by every API process."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = self.s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                                   ApiToken.revoked_at.is_(None)))
        if row is None:
            return None
        now = self.clock()
        if row.expires_at is not None and _utc(row.expires_at) <= now:
            return None
        # "Last used" to the minute: a database write on every API call would cost more than the call.
        if row.last_used_at is None or (now - _utc(row.last_used_at)).total_seconds() >= LAST_USED_RESOLUTION_S:
            row.last_used_at = now
            self.s.flush()
        return self.s.get(User, row.user_id)

    def tokens(self, user_id: int | None = None) -> list[ApiToken]:
        """One user's tokens (None: everyone's, for administrators), oldest first."""
        q = select(ApiToken) if user_id is None else select(ApiToken).where(ApiToken.user_id == user_id)
        return list(self.s.scalars(q.order_by(ApiToken.id)))

    def token(self, user_id: int | None, token_id: int) -> ApiToken:
        """One token of the user (None: of anyone); another user's is not found, exactly like a missing one."""
        q = select(ApiToken).where(ApiToken.id == token_id)
        row = self.s.scalar(q if user_id is None else q.where(ApiToken.user_id == user_id))
        if row is None:
            raise NotFound("token", token_id)
        return row

    def revoke_token(self, user_id: int | None, token_id: int) -> ApiToken:
        row = self.token(user_id, token_id)
        if row.revoked_at is None:
            row.revoked_at = self.clock()
            self.s.flush()
        return row


# Fields a connection may change after it is made. Not owner, exchange or exchange uid: an Update API Key must
# bring a key of the same exchange account, and a connection never changes hands.
UPDATABLE = frozenset({
    "name", "is_sub_account", "credential_id", "key_fingerprint", "masked_key", "permissions", "ip_whitelist",
    "connected_via", "key_created_at", "key_expires_at", "status", "status_message", "status_remedy", "status_code",
    "last_checked_at", "balances", "warnings", "next_check_at", "check_failures", "claimed_until", "balances_read_at",
    "key_state", "key_notices",
})


class Accounts:
    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.s, self.clock = session, clock

    def add(self, owner_id: int, *, exchange: str, name: str, exchange_uid: str, credential_id: str,
            key_fingerprint: str, masked_key: str, is_sub_account: bool = False,
            permissions: Sequence[str] = (), ip_whitelist: Sequence[str] = (), connected_via: str = "api_key",
            key_created_at: datetime | None = None, key_expires_at: datetime | None = None,
            status: Status | str = Status.OK, status_message: str = "", status_remedy: str = "",
            status_code: str | None = None, last_checked_at: datetime | None = None,
            balances: Mapping[str, Mapping[str, Any]] | None = None, warnings: Sequence[str] = (),
            balances_read_at: datetime | None = None, next_check_at: datetime | None = None,
            check_failures: int = 0) -> ExchangeAccount:
        """A new connection; ``Conflict("exchange_uid")`` if that exchange account is already connected (by
        anyone), ``Conflict("key_fingerprint")`` if the key serves another connection."""
        now = self.clock()
        account = ExchangeAccount(
            owner_id=owner_id, exchange=exchange, name=name, exchange_uid=exchange_uid, is_sub_account=is_sub_account,
            credential_id=credential_id, key_fingerprint=key_fingerprint, masked_key=masked_key,
            permissions=permissions, ip_whitelist=ip_whitelist, connected_via=connected_via,
            key_created_at=key_created_at, key_expires_at=key_expires_at, status=status,
            status_message=status_message, status_remedy=status_remedy, status_code=status_code,
            last_checked_at=last_checked_at, balances=balances, warnings=warnings,
            balances_read_at=balances_read_at, next_check_at=next_check_at, check_failures=check_failures,
            created_at=now, updated_at=now)
        with translated(self.s):
            self.s.add(account)
            self.s.flush()
        return account

    def get(self, owner_id: int, account_id: int) -> ExchangeAccount:
        return owned_account(self.s, owner_id, account_id)

    def list(self, owner_id: int) -> list[ExchangeAccount]:
        return list(self.s.scalars(select(ExchangeAccount).where(ExchangeAccount.owner_id == owner_id)
                                   .order_by(ExchangeAccount.id)))

    def list_all(self) -> builtins.list[ExchangeAccount]:
        """Every connection of every owner: for administrators and background work only."""
        return list(self.s.scalars(select(ExchangeAccount).order_by(ExchangeAccount.id)))

    def by_exchange_uid(self, exchange: str, exchange_uid: str) -> ExchangeAccount | None:
        """Unscoped, to refuse a second connection of one exchange account: tell the user it is connected,
        never to whom."""
        return self.s.scalar(select(ExchangeAccount).where(ExchangeAccount.exchange == exchange,
                                                           ExchangeAccount.exchange_uid == exchange_uid))

    def by_fingerprint(self, key_fingerprint: str) -> ExchangeAccount | None:
        return self.s.scalar(select(ExchangeAccount).where(ExchangeAccount.key_fingerprint == key_fingerprint))

    def update(self, owner_id: int, account_id: int, /, **fields: Any) -> ExchangeAccount:
        unknown = sorted(set(fields) - UPDATABLE)
        if unknown:
            raise InputError(unknown[0], "cannot be changed on an existing connection")
        account = self.get(owner_id, account_id)
        for key, value in fields.items():
            setattr(account, key, value)  # the model's validators check and normalise
        account.updated_at = self.clock()
        with translated(self.s):
            self.s.flush()
        return account

    def swap_credential(self, owner_id: int, account_id: int, old_credential_id: str, /,
                        **fields: Any) -> ExchangeAccount | None:
        """Compare-and-swap the connection's credential: only while it still holds ``old_credential_id``.
        Returns None when another change (a parallel Update API Key, a Delete) got there first: a plain
        read-then-write would let two updates both "win" and leave a live credential nothing points at.
        ``fields`` must name the new ``credential_id``; the rest is applied in the same transaction."""
        if "credential_id" not in fields:
            raise InputError("credential_id", "is required to swap a credential")
        unknown = sorted(set(fields) - UPDATABLE)
        if unknown:
            raise InputError(unknown[0], "cannot be changed on an existing connection")
        swap = {k: fields.pop(k) for k in ("credential_id", "key_fingerprint", "masked_key") if k in fields}
        stmt = (update(ExchangeAccount)
                .where(ExchangeAccount.id == account_id, ExchangeAccount.owner_id == owner_id,
                       ExchangeAccount.credential_id == old_credential_id)
                .values(**swap, updated_at=self.clock())
                .execution_options(synchronize_session=False))
        with translated(self.s):
            swapped = self.s.execute(stmt).rowcount  # type: ignore[attr-defined]
        if swapped != 1:
            return None
        self.s.expire_all()  # the row changed under any copy this session holds
        return self.update(owner_id, account_id, **fields)

    def delete(self, owner_id: int, account_id: int) -> None:
        """Remove the connection with its bots, deals, SmartTrades and orders (the database cascades); its events
        stay. Whether deleting is allowed (no active consumers) is the service's decision, not this one's."""
        self.get(owner_id, account_id)
        self.s.flush()
        self.s.execute(delete(ExchangeAccount).where(ExchangeAccount.id == account_id,
                                                     ExchangeAccount.owner_id == owner_id))
        self.s.expire_all()  # rows the database removed by cascade must not be served from the identity map

    def claim_due(self, now: datetime, lease: timedelta, limit: int) -> builtins.list[ExchangeAccount]:
        """Connections due for a check (``next_check_at`` passed, none unscheduled) and not leased by another
        worker, oldest due first; each gets a lease until ``now + lease`` in this transaction. PostgreSQL: ``FOR
        UPDATE SKIP LOCKED``, so workers running this at once take disjoint rows; SQLite has one writer anyway."""
        due = (select(ExchangeAccount)
               .where(or_(ExchangeAccount.next_check_at.is_(None), ExchangeAccount.next_check_at <= now),
                      or_(ExchangeAccount.claimed_until.is_(None), ExchangeAccount.claimed_until <= now))
               .order_by(ExchangeAccount.next_check_at.is_(None).desc(), ExchangeAccount.next_check_at,
                         ExchangeAccount.id)
               .limit(limit).with_for_update(skip_locked=True))
        rows = list(self.s.scalars(due))
        for row in rows:
            row.claimed_until = now + lease
        self.s.flush()
        return rows

    def due_now(self, exchange: str, now: datetime) -> int:
        """Check every connection of ``exchange`` at once (an incident there has just ended)."""
        stmt = (update(ExchangeAccount).where(ExchangeAccount.exchange == exchange).values(next_check_at=now)
                .execution_options(synchronize_session=False))
        return int(self.s.execute(stmt).rowcount)  # type: ignore[attr-defined]

    def active_consumers(self, owner_id: int, account_id: int) -> dict[str, int]:
        """What still uses the connection: enabled bots, active or error deals and SmartTrades, open orders."""
        self.get(owner_id, account_id)
        live = ("active", "error")

        def count(model: Any, *where: Any) -> int:
            return int(self.s.scalar(select(func.count()).select_from(model)
                                     .where(model.account_id == account_id, *where)) or 0)

        return {"bots": count(Bot, Bot.status == "enabled"), "deals": count(Deal, Deal.status.in_(live)),
                "smart_trades": count(SmartTrade, SmartTrade.status.in_(live)),
                "open_orders": count(Order, Order.status == "open")}


class Events:
    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.s, self.clock = session, clock

    def add(self, owner_id: int, account_id: int | None, severity: str, kind: str, message: str,
            data: Mapping[str, Any] | None = None, time: datetime | None = None) -> Event:
        """An event for the owner, about one account or none. The account may be gone (its "deleted" event comes
        after it), but may not be another owner's."""
        if account_id is not None:
            other = self.s.scalar(select(ExchangeAccount.owner_id).where(ExchangeAccount.id == account_id))
            if other is not None and other != owner_id:
                raise NotFound("exchange account", account_id)
        event = Event(owner_id=owner_id, account_id=account_id, severity=severity, kind=kind, message=message,
                      data=dict(data or {}), time=time or self.clock())
        with translated(self.s):
            self.s.add(event)
            self.s.flush()
        return event

    def list(self, owner_id: int, account_id: int | None = None, limit: int = 100) -> list[Event]:
        """Newest first."""
        q = select(Event).where(Event.owner_id == owner_id)
        if account_id is not None:
            q = q.where(Event.account_id == account_id)
        return list(self.s.scalars(q.order_by(Event.time.desc(), Event.id.desc()).limit(limit)))


HEAD_FIELDS = ("log", "seq", "hash", "time", "sig")


class AuditAnchors:
    """The Sign Center's checkpoint heads kept in the app database (see ``tables.AuditAnchor``)."""

    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.s, self.clock = session, clock

    @staticmethod
    def check(head: Any) -> dict[str, Any]:
        """A head as the Sign Center sends it, checked field by field (a malformed one is refused, naming the
        field, rather than stored as an anchor that no verification could use)."""
        if not isinstance(head, Mapping):
            raise InputError("heads", "each head must be an object with log, seq, hash, time, sig")
        kinds: dict[str, type] = {"log": str, "seq": int, "hash": str, "time": int, "sig": str}
        limits = {"log": 200, "hash": 128, "sig": 512}
        for name, kind in kinds.items():
            value = head.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise InputError(f"heads.{name}", f"must be {'an integer' if kind is int else 'text'}")
            checked: Any = value  # of ``kind`` now (isinstance against a variable type narrows to object)
            if kind is int and not 0 <= checked < 2**63:
                raise InputError(f"heads.{name}", "must be between 0 and 2^63-1")
            if kind is str and not 0 < len(checked) <= limits[name]:
                raise InputError(f"heads.{name}", f"must be 1 to {limits[name]} characters")
        return {k: head[k] for k in HEAD_FIELDS}

    def add_new(self, heads: Sequence[Any]) -> int:
        """Store the heads not stored yet (by log and seq); returns how many were new."""
        added = 0
        for head in map(self.check, heads):
            seen = self.s.scalar(select(AuditAnchor.id).where(AuditAnchor.log == head["log"],
                                                              AuditAnchor.seq == head["seq"]))
            if seen is None:
                with translated(self.s):
                    self.s.add(AuditAnchor(**head, fetched_at=self.clock()))
                    self.s.flush()
                added += 1
        return added

    def newest(self) -> list[dict[str, Any]]:
        """The newest head of each log (highest seq), by log name: the anchor file's ``heads``."""
        top = (select(AuditAnchor.log, func.max(AuditAnchor.seq).label("seq"))
               .group_by(AuditAnchor.log).subquery())
        rows = self.s.scalars(select(AuditAnchor).join(top, (AuditAnchor.log == top.c.log)
                                                       & (AuditAnchor.seq == top.c.seq)).order_by(AuditAnchor.log))
        return [{k: getattr(r, k) for k in HEAD_FIELDS} for r in rows]

    def count(self, log: str | None = None) -> int:
        q = select(func.count()).select_from(AuditAnchor)
        return int(self.s.scalar(q if log is None else q.where(AuditAnchor.log == log)) or 0)


class Repos:
    """All repositories over one session (one transaction)."""

    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.session = session
        self.users = Users(session, clock)
        self.accounts = Accounts(session, clock)
        self.events = Events(session, clock)
        self.bots = Bots(session, clock)
        self.deals = Deals(session, clock)
        self.smart_trades = SmartTrades(session, clock)
        self.orders = Orders(session, clock)
        self.anchors = AuditAnchors(session, clock)


