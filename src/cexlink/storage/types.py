"""Column types and value checks shared by the tables: UTC datetimes and decimal-string balances."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from cexlink.errors import InputError


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC. SQLite keeps no offset, so values go in as naive UTC and come back
    tagged UTC; PostgreSQL's ``timestamptz`` comes back in the session zone and is normalised. A naive value is
    refused: guessing its zone is how off-by-hours expiry bugs start."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


BALANCE_PARTS = ("free", "used", "total")


def decimal_string(field: str, value: Any) -> str:
    """A finite decimal as its exact string. Floats are refused: 0.1 is not 0.1 once it is a float."""
    if isinstance(value, bool) or isinstance(value, float):
        raise InputError(field, "must be a decimal string or Decimal, not a float")
    try:
        d = value if isinstance(value, Decimal) else Decimal(value) if isinstance(value, str | int) else None
    except InvalidOperation:
        d = None
    if d is None or not d.is_finite():
        raise InputError(field, "must be a finite decimal number")
    return format(d, "f")  # fixed-point: "0.00000001", never "1E-8"


def normalize_balances(value: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, str]]:
    """``{asset: {"free", "used", "total"}}`` with every amount an exact decimal string."""
    out: dict[str, dict[str, str]] = {}
    for asset, parts in (value or {}).items():
        if not isinstance(asset, str) or not asset or not isinstance(parts, Mapping):
            raise InputError("balances", "must map an asset name to {free, used, total}")
        unknown = set(parts) - set(BALANCE_PARTS)
        if unknown:
            raise InputError(f"balances.{asset}", f"unknown parts {sorted(unknown)}; expected {BALANCE_PARTS}")
        out[asset] = {k: decimal_string(f"balances.{asset}.{k}", parts[k]) for k in BALANCE_PARTS if k in parts}
    return out


def string_list(field: str, value: Any) -> list[str]:
    """A list of strings; None is the empty list. A bare string is refused (it would become its characters)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple | set | frozenset) or not all(isinstance(v, str) for v in value):
        raise InputError(field, "must be a list of strings")
    return list(value)
