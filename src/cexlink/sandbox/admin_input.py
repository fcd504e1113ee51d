"""Input checks for the sandbox's admin API: each field's type and range, refused with a 422 naming the field
before anything changes."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from . import permissions
from .ledger import EXCHANGES

MAX_TEXT = 200  # a maintenance title or link, at most
KEY_FLAG_EXCHANGES = {"demo": ("okx",), "frozen": ("okx",)}

__all__ = ["ACCOUNT_FLAGS", "LIMIT_FIELDS", "AdminInputError"]

MAX_AMOUNT, MIN_AMOUNT = Decimal("1e30"), Decimal("1e-30")


class AdminInputError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _decimal(value: Any, field: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise AdminInputError(field, "must be a decimal number") from None
    if not d.is_finite():
        raise AdminInputError(field, "must be a finite number")
    # Bounded so that answers stay numbers a client can read: 1e999999 would be written out in full.
    if abs(d) >= MAX_AMOUNT or (d and abs(d) < MIN_AMOUNT):
        raise AdminInputError(field, f"must be below {MAX_AMOUNT:E} and zero or at least {MIN_AMOUNT:E} in size")
    return d


def _text(value: Any, field: str, default: str | None = "") -> str | None:
    """A string field; ``default`` when absent (null)."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise AdminInputError(field, "must be a string")
    return value


def _flag(value: Any, field: str, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise AdminInputError(field, "must be true or false")
    return value


def _number(value: Any, field: str, kind: type[int] | type[float] = float, minimum: float = 0) -> Any:
    """A JSON number (not a boolean, not a string) of at least ``minimum``, as ``kind``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise AdminInputError(field, f"must be {'an integer' if kind is int else 'a number'}")
    if not minimum <= value < float("inf"):
        raise AdminInputError(field, f"must be at least {minimum} and finite")
    return kind(value)


def _bounded_text(value: Any, field: str, default: str) -> str:
    text = _text(value, field, default) or default
    if len(text) > MAX_TEXT:
        raise AdminInputError(field, f"must be at most {MAX_TEXT} characters")
    return text


def _ips(value: Any) -> list[str]:
    ips = value or []
    if isinstance(ips, str):
        ips = [ip.strip() for ip in ips.split(",") if ip.strip()]
    if not isinstance(ips, list) or not all(isinstance(ip, str) for ip in ips):
        raise AdminInputError("ips", "must be a list of IP addresses")
    return ips


def _uid(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise AdminInputError(field, "must be an account uid (string or integer)")
    return str(value)


def _exchange(value: Any) -> str:
    if value not in EXCHANGES:
        raise AdminInputError("exchange", f"must be one of {', '.join(EXCHANGES)}")
    return str(value)


def _refuse_unknown(body: dict[str, Any], known: Any, why: str) -> None:
    unknown = set(body) - set(known)
    if unknown:
        raise AdminInputError(sorted(unknown)[0], why)


def _native_permissions(exchange: str, words: Any) -> dict[str, Any]:
    """Neutral permission words as the exchange's own, or an error naming the field."""
    try:
        return permissions.native(exchange, permissions.parse(words))
    except ValueError as e:
        raise AdminInputError("permissions", str(e)) from None


# Account flags the admin API sets (PATCH /accounts/...).
ACCOUNT_FLAGS = ("suspended", "kyc_required", "region_restricted")
# Rate-limit settings: each one's JSON type and least value.
LIMIT_FIELDS: dict[str, tuple[type[int] | type[float], float]] = {
    "weight_per_window": (int, 1), "window_seconds": (float, 0.001), "ban_after": (int, 0),
    "ban_seconds": (float, 0),
}


def _key_flag(exchange: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise AdminInputError(name, "must be true or false")
    if value and exchange not in KEY_FLAG_EXCHANGES[name]:
        raise AdminInputError(name, f"only {', '.join(KEY_FLAG_EXCHANGES[name])} keys have it in the sandbox")
    return value


def _optional_ms(value: Any, name: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise AdminInputError(name, "must be epoch milliseconds or null")
    return value
