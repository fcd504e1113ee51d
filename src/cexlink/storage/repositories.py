"""Repositories over one SQLAlchemy session: every read and write is scoped to its owner.

The caller owns the transaction (``db.session_scope``) so a service can, for instance, replace a key and record
the event atomically. Writes flush at once so a uniqueness conflict surfaces here, as ``Conflict(field)``; the
session is then rolled back. Another owner's row is reported exactly like a missing one (``NotFound``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cexlink.domain.statuses import Status
from cexlink.errors import InputError
from cexlink.storage.consumers import Bots, Deals, Orders, SmartTrades, owned_account
from cexlink.storage.errors import NotFound
from cexlink.storage.integrity import translated
from cexlink.storage.tables import ApiToken, Bot, Deal, Event, ExchangeAccount, Order, SmartTrade, User
from cexlink.storage.types import utcnow

__all__ = ["Accounts", "Bots", "Deals", "Events", "Orders", "Repos", "SmartTrades", "Users", "hash_token"]

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

    def issue_token(self, user_id: int, label: str = "") -> str:
        """A new API token, returned in plaintext this once; only its SHA-256 is kept."""
        self.get(user_id)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with translated(self.s):
            self.s.add(ApiToken(user_id=user_id, token_hash=hash_token(token), label=label, created_at=self.clock()))
            self.s.flush()
        return token

    def user_for_token(self, token: str) -> User | None:
        """The user a live token belongs to, noting when it was used. The lookup is by the hash of a 256-bit
        random token, so an index lookup leaks nothing a timing attacker could use."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = self.s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                                   ApiToken.revoked_at.is_(None)))
        if row is None:
            return None
        now = self.clock()
        # "Last used" to the minute: a database write on every API call would cost more than the call.
        if row.last_used_at is None or (now - _utc(row.last_used_at)).total_seconds() >= LAST_USED_RESOLUTION_S:
            row.last_used_at = now
            self.s.flush()
        return self.s.get(User, row.user_id)

    def tokens(self, user_id: int) -> list[ApiToken]:
        return list(self.s.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))

    def revoke_token(self, user_id: int, token_id: int) -> None:
        row = self.s.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id))
        if row is None:
            raise NotFound("token", token_id)
        if row.revoked_at is None:
            row.revoked_at = self.clock()
            self.s.flush()


# Fields a connection may change after it is made. Not owner, exchange or exchange uid: an Update API Key must
# bring a key of the same exchange account, and a connection never changes hands.
UPDATABLE = frozenset({
    "name", "is_sub_account", "credential_id", "key_fingerprint", "masked_key", "permissions", "ip_whitelist",
    "connected_via", "key_created_at", "key_expires_at", "status", "status_message", "status_remedy", "status_code",
    "last_checked_at", "balances", "warnings",
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
            balances: Mapping[str, Mapping[str, Any]] | None = None, warnings: Sequence[str] = ()) -> ExchangeAccount:
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

    def list_all(self) -> list[ExchangeAccount]:
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

    def delete(self, owner_id: int, account_id: int) -> None:
        """Remove the connection with its bots, deals, SmartTrades and orders (the database cascades); its events
        stay. Whether deleting is allowed (no active consumers) is the service's decision, not this one's."""
        self.get(owner_id, account_id)
        self.s.flush()
        self.s.execute(delete(ExchangeAccount).where(ExchangeAccount.id == account_id,
                                                     ExchangeAccount.owner_id == owner_id))
        self.s.expire_all()  # rows the database removed by cascade must not be served from the identity map

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


