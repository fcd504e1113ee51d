"""The app database: users, API tokens, exchange accounts (connections), events, and a connection's consumers.

Never a secret here: an account keeps the Sign Center's credential id, a key fingerprint and a masked key.
Amounts are decimal strings (JSON) or Numeric, never floats; datetimes are aware UTC (``UTCDateTime``).

Deleting an exchange account removes its bots, deals, SmartTrades and orders (``ON DELETE CASCADE`` in the
database, so it holds for any client of the schema). Events keep ``account_id`` as a plain integer, not a
foreign key: the user's event log must outlive the account it speaks of ("connection deleted — delete the key
on the exchange too", "key revoked"), and a SET NULL would erase which account that was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from cexlink.domain.statuses import Status
from cexlink.errors import InputError
from cexlink.storage.types import UTCDateTime, normalize_balances, string_list, utcnow

# Deterministic constraint names: the migration spells the same ones, and IntegrityErrors are mapped by them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CONNECTED_VIA = ("api_key", "fast_connect")
SEVERITIES = ("info", "warning", "critical")
BOT_STATUSES = ("enabled", "disabled", "error")
TRADE_STATUSES = ("active", "error", "completed", "failed", "cancelled")  # deals and SmartTrades
ORDER_STATUSES = ("open", "closed", "canceled")  # ccxt's words
ACCOUNT_STATUSES = tuple(s.value for s in Status)


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=column)


def _check(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = value.value if isinstance(value, Status) else value
    if text not in allowed:
        raise InputError(field, f"must be one of {', '.join(allowed)}")
    return str(text)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex; the token is never stored
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # None: until revoked


class AuditAnchor(Base):
    """A Sign Center audit checkpoint head as the API server fetched it: the anchor outside the Sign Center's
    data directory that ``signer audit verify --anchor`` checks a log against. Every head is kept (history of
    what the log claimed when); the newest per log, by ``seq``, is the anchor."""

    __tablename__ = "audit_anchors"
    __table_args__ = (UniqueConstraint("log", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log: Mapped[str] = mapped_column(String(200))  # the log's name (one per Sign Center replica)
    seq: Mapped[int] = mapped_column(BigInteger)  # the last record the checkpoint covers
    hash: Mapped[str] = mapped_column(String(128))  # the chain's head hash at seq
    time: Mapped[int] = mapped_column(BigInteger)  # the checkpoint's own time, ms since the epoch
    sig: Mapped[str] = mapped_column(String(512))  # Ed25519 signature (base64) over (seq, hash, time)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExchangeAccount(Base):
    __tablename__ = "exchange_accounts"
    __table_args__ = (
        # One exchange account (exchange + uid) is connected once; one API key serves one connection.
        UniqueConstraint("exchange", "exchange_uid"),
        Index("ix_exchange_accounts_owner_id", "owner_id"),
        _one_of("status", ACCOUNT_STATUSES),
        _one_of("connected_via", CONNECTED_VIA),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No cascade from users: a user's credentials must be shredded in the Sign Center before the user goes.
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    exchange: Mapped[str] = mapped_column(String(32))  # ccxt id
    name: Mapped[str] = mapped_column(String(200))
    exchange_uid: Mapped[str] = mapped_column(String(128))
    is_sub_account: Mapped[bool] = mapped_column(Boolean, default=False)
    credential_id: Mapped[str] = mapped_column(String(128), unique=True)
    key_fingerprint: Mapped[str] = mapped_column(String(128), unique=True)
    masked_key: Mapped[str] = mapped_column(String(64))
    permissions: Mapped[list[str]] = mapped_column(default=list)  # in the exchange's words
    ip_whitelist: Mapped[list[str]] = mapped_column(default=list)
    connected_via: Mapped[str] = mapped_column(String(16), default="api_key")
    key_created_at: Mapped[datetime | None]
    key_expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(32), default=Status.OK.value)
    status_message: Mapped[str] = mapped_column(Text, default="")
    status_remedy: Mapped[str] = mapped_column(Text, default="")
    status_code: Mapped[str | None] = mapped_column(String(64))  # the exchange's own code, for support
    last_checked_at: Mapped[datetime | None]
    balances: Mapped[dict[str, Any]] = mapped_column(default=dict)  # asset -> {free, used, total} as strings
    warnings: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The health monitor's schedule (accounts/monitor.py): when to check next, how many transient failures in a
    # row (backoff), and a lease a worker holds while it checks (so two workers never check one account at once).
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    check_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_until: Mapped[datetime | None]
    balances_read_at: Mapped[datetime | None]  # when ``balances`` were read: older than last_checked_at = stale
    key_state: Mapped[str] = mapped_column(String(16), default="ok", server_default="ok")  # ok|expire_soon|expired
    key_notices: Mapped[list[str] | None] = mapped_column(default=list)  # lifecycle events raised (kinds)

    @validates("status")
    def _status(self, _key: str, value: Any) -> str:
        return _check("status", value, ACCOUNT_STATUSES)

    @validates("connected_via")
    def _connected_via(self, _key: str, value: Any) -> str:
        return _check("connected_via", value, CONNECTED_VIA)

    @validates("balances")
    def _balances(self, _key: str, value: Any) -> dict[str, dict[str, str]]:
        return normalize_balances(value)

    @validates("key_created_at", "key_expires_at", "last_checked_at", "created_at", "updated_at", "next_check_at",
               "claimed_until", "balances_read_at")
    def _aware(self, key: str, value: datetime | None) -> datetime | None:
        # Refused here, naming the field, rather than deep in a flush (UTCDateTime refuses it there too).
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise InputError(key, "must be a timezone-aware (UTC) datetime")
        return value

    @validates("permissions", "ip_whitelist", "warnings")
    def _lists(self, key: str, value: Any) -> list[str]:
        return string_list(key, value)


INCIDENT_CAUSES = ("status_endpoint", "transient_failures", "canary")  # exchange-wide evidence only


class Incident(Base):
    """An exchange-wide trouble, from exchange-wide evidence only (never from counting key refusals). Open while
    ``ended_at`` is NULL; the process that sees the evidence end closes it. Shared by every process."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_exchange_ended_at", "exchange", "ended_at"),
                      _one_of("cause", INCIDENT_CAUSES))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange: Mapped[str] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what was seen: status answer, failures, ...
    message: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]  # the evidence was last seen then: transient evidence lapses after a while
    ended_at: Mapped[datetime | None]


class IncidentAccount(Base):
    """A connection an incident touched (a transient failure seen on it while the incident lasted)."""

    __tablename__ = "incident_accounts"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # no foreign key: history outlives it
    status: Mapped[str] = mapped_column(String(32))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_owner_id_time", "owner_id", "time"),
        Index("ix_events_account_id", "account_id"),
        _one_of("severity", SEVERITIES),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(Integer)  # deliberately no foreign key: see module docstring
    time: Mapped[datetime] = mapped_column(default=utcnow)
    severity: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))  # status_changed, key_updated, connected, deleted, ...
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    @validates("severity")
    def _severity(self, _key: str, value: Any) -> str:
        return _check("severity", value, SEVERITIES)


def _account_fk() -> Any:
    return ForeignKey("exchange_accounts.id", ondelete="CASCADE")


class Bot(Base):
    __tablename__ = "bots"
    __table_args__ = (Index("ix_bots_account_id", "account_id"), _one_of("status", BOT_STATUSES))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk())
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    strategy: Mapped[str] = mapped_column(String(32), default="dca")
    status: Mapped[str] = mapped_column(String(16), default="enabled")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @validates("status")
    def _status(self, _key: str, value: Any) -> str:
        return _check("status", value, BOT_STATUSES)


class Deal(Base):
    __tablename__ = "deals"
    __table_args__ = (Index("ix_deals_account_id", "account_id"), Index("ix_deals_bot_id", "bot_id"),
                      _one_of("status", TRADE_STATUSES))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(_account_fk())
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @validates("status")
    def _status(self, _key: str, value: Any) -> str:
        return _check("status", value, TRADE_STATUSES)


class SmartTrade(Base):
    __tablename__ = "smart_trades"
    __table_args__ = (Index("ix_smart_trades_account_id", "account_id"), _one_of("status", TRADE_STATUSES))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk())
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    symbol: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @validates("status")
    def _status(self, _key: str, value: Any) -> str:
        return _check("status", value, TRADE_STATUSES)


class Order(Base):
    """A platform order on the exchange. Losing its deal or SmartTrade leaves it pointing at nothing (SET NULL):
    exactly what a leftover order is."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("account_id", "exchange_order_id"),
        _one_of("status", ORDER_STATUSES),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk())
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"), index=True)
    smart_trade_id: Mapped[int | None] = mapped_column(ForeignKey("smart_trades.id", ondelete="SET NULL"),
                                                       index=True)
    exchange_order_id: Mapped[str] = mapped_column(String(128))
    symbol: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @validates("status")
    def _status(self, _key: str, value: Any) -> str:
        return _check("status", value, ORDER_STATUSES)
