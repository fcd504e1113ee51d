"""Why the sandbox refuses a request, independent of any exchange's wording.

The ledger and the shared checks raise ``Reject(Reason.X, **detail)``; each dialect renders it from its own
table of (HTTP status, code, message), so every wire format lives in data, one table per exchange. A reason a
dialect has no row for is answered with that dialect's BAD_PARAM row. A refusal only one exchange has words for
carries its own row: ``Reject(Reason.BAD_PARAM, spec=ErrorSpec(...))``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    # authentication
    MISSING_KEY = "missing_key"  # no API-key header
    KEY_FORMAT = "key_format"  # header present, not a well-formed key
    WRONG_ENVIRONMENT = "wrong_environment"  # key of the demo environment used on live, or the reverse
    INVALID_KEY = "invalid_key"  # unknown or deleted key
    MISSING_SIGNATURE = "missing_signature"
    BAD_SIGNATURE = "bad_signature"
    MISSING_TIMESTAMP = "missing_timestamp"
    BAD_TIMESTAMP = "bad_timestamp"  # not parseable
    TIMESTAMP_OUTSIDE_WINDOW = "timestamp_outside_window"  # too old for the window
    TIMESTAMP_AHEAD = "timestamp_ahead"  # from the future (> 1 s ahead)
    RECV_WINDOW_TOO_LARGE = "recv_window_too_large"
    MISSING_PASSPHRASE = "missing_passphrase"
    BAD_PASSPHRASE = "bad_passphrase"
    IP_NOT_WHITELISTED = "ip_not_whitelisted"
    NO_PERMISSION = "no_permission"
    KEY_EXPIRED = "key_expired"
    KEY_FROZEN = "key_frozen"  # OKX: frozen by the exchange
    TRADING_EXPIRED = "trading_expired"  # Binance: trading right lapsed on a key without IP restriction
    AGREEMENT_REQUIRED = "agreement_required"
    # account
    ACCOUNT_SUSPENDED = "account_suspended"
    REGION_RESTRICTED = "region_restricted"
    KYC_REQUIRED = "kyc_required"
    # trading
    INSUFFICIENT_BALANCE = "insufficient_balance"
    UNKNOWN_ORDER = "unknown_order"
    CANCEL_REJECTED = "cancel_rejected"  # cancel of an order that is unknown or no longer open
    BAD_SYMBOL = "bad_symbol"
    FILTER_PRICE = "filter_price"
    FILTER_LOT_SIZE = "filter_lot_size"  # not a multiple of the step (or above the maximum)
    FILTER_MIN_QTY = "filter_min_qty"  # below the minimum size (the ledger folds this into FILTER_LOT_SIZE)
    FILTER_MARKET_LOT_SIZE = "filter_market_lot_size"
    FILTER_NOTIONAL = "filter_notional"
    DUPLICATE_ORDER = "duplicate_order"
    WOULD_TAKE = "would_take"  # a post-only (maker-only) order would cross the book
    # order parameters outside their enumeration (detail: param); dialects without a row answer as BAD_PARAM
    BAD_SIDE = "bad_side"
    BAD_ORDER_TYPE = "bad_order_type"
    BAD_TIME_IN_FORCE = "bad_time_in_force"
    BATCH_TOO_LARGE = "batch_too_large"  # detail: limit
    # request shape
    MISSING_PARAM = "missing_param"  # detail: param
    BAD_PARAM = "bad_param"  # detail: param
    NOT_FOUND = "not_found"  # no such path
    # platform
    MAINTENANCE = "maintenance"
    RATE_LIMITED = "rate_limited"  # detail: limit, interval, retry_after
    IP_BANNED = "ip_banned"  # detail: until (ms)


class Reject(Exception):
    """An exchange-side refusal. ``detail`` fills the dialect's message template (param names, ids, times)."""

    def __init__(self, reason: Reason, **detail: Any) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.detail = detail
