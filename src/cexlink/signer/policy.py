"""The signing policy: default deny, an allowlist of reading and spot-trading endpoints per exchange.

A request is described as ccxt describes it to ``sign()``: (api, method, path), the api as its whole path
(``["private", "spot"]`` is ``private/spot``). Anything that moves funds out or sideways (withdrawals,
transfers), touches sub-accounts or manages keys is refused with its own reason code even where an allowlist
entry would match; everything not on the list is refused as not allowed.

An operator adds endpoints for other exchanges (or more for these) with a policy file
(``cexlink signer serve --policy-file``), read by ``allowlists``: an entry the policy would never sign is
refused there, when the Sign Center starts, rather than ignored at signing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import ccxt

from ..errors import InputError, SignerRefused
from . import families
from .buckets import Buckets
from .wire import api_path  # re-exported: the engine and the families table name requests with it

__all__ = ["MAX_CLOCK_OFFSET_MS", "READ_TRADE", "SUPPORTED", "Endpoint", "Policy", "Reason", "Refused", "allowlists",
           "api_path", "forbidden"]


class Reason(StrEnum):
    CREDENTIAL_UNKNOWN = "credential_unknown"
    CREDENTIAL_REVOKED = "credential_revoked"
    CREDENTIAL_EXPIRED = "credential_expired"
    CREDENTIAL_CORRUPT = "credential_corrupt"  # does not open under its binding: tampered or moved
    KEK_RETIRED = "kek_retired"
    EXCHANGE_MISMATCH = "exchange_mismatch"
    ENDPOINT_NOT_ALLOWED = "endpoint_not_allowed"
    WITHDRAWAL_FORBIDDEN = "withdrawal_forbidden"
    TRANSFER_FORBIDDEN = "transfer_forbidden"
    SUBACCOUNT_FORBIDDEN = "subaccount_forbidden"
    KEY_MANAGEMENT_FORBIDDEN = "key_management_forbidden"
    PAYMENT_FORBIDDEN = "payment_forbidden"  # gift cards, Pay, C2C/P2P: funds leave the account another way
    POSITION_MOVE_FORBIDDEN = "position_move_forbidden"  # positions moved to another account
    PARAMETER_FORBIDDEN = "parameter_forbidden"  # a parameter that would override the Sign Center's clock or auth
    PATH_REWRITTEN = "path_rewritten"  # the request sign() produced is not the allowlisted one (method/path/query)
    EGRESS_NOT_ALLOWED = "egress_not_allowed"  # forward asked to leave from an address not configured
    RECV_WINDOW_TOO_LARGE = "recv_window_too_large"
    CLOCK_OFFSET_TOO_LARGE = "clock_offset_too_large"
    RATE_LIMITED = "rate_limited"
    AUDIT_UNAVAILABLE = "audit_unavailable"
    FORWARD_REQUIRED = "forward_required"  # the signed request carries secret material: only forward sends it


class Refused(SignerRefused):
    """The Sign Center will not sign this request; ``reason`` is a ``Reason`` value, a str as in ``SignerRefused``
    (the enum names the codes; the exception carries the code)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(reason.value, message)


Endpoint = tuple[str, str, str]  # (api path, METHOD, path)

# Forbidden families (families.py: ccxt's whole tree classified for the five built-in exchanges, name patterns
# for the rest), checked first so that a refusal says what the request would have done.
FAMILY_REASON: dict[str, Reason] = {
    "withdrawal": Reason.WITHDRAWAL_FORBIDDEN, "transfer": Reason.TRANSFER_FORBIDDEN,
    "subaccount": Reason.SUBACCOUNT_FORBIDDEN, "key_management": Reason.KEY_MANAGEMENT_FORBIDDEN,
    "payment": Reason.PAYMENT_FORBIDDEN, "position_move": Reason.POSITION_MOVE_FORBIDDEN,
}

# (api, method, path) allowed per exchange: reading the account and spot trading.
READ_TRADE: dict[str, frozenset[Endpoint]] = {
    "binance": frozenset({
        ("private", "GET", "account"), ("private", "GET", "order"), ("private", "POST", "order"),
        ("private", "DELETE", "order"), ("private", "POST", "order/test"), ("private", "GET", "openOrders"),
        ("private", "DELETE", "openOrders"), ("private", "GET", "allOrders"), ("private", "GET", "myTrades"),
        ("private", "GET", "account/commission"), ("private", "GET", "rateLimit/order"),
        ("sapi", "GET", "account/apiRestrictions"), ("sapi", "GET", "account/status"),
        ("sapi", "GET", "account/apiTradingStatus"), ("sapi", "GET", "capital/config/getall"),
        ("sapi", "GET", "asset/tradeFee"),
    }),
    "okx": frozenset({
        ("private", "GET", "account/balance"), ("private", "GET", "account/config"),
        ("private", "GET", "account/trade-fee"), ("private", "GET", "asset/currencies"),
        ("private", "GET", "asset/balances"), ("private", "GET", "trade/order"), ("private", "POST", "trade/order"),
        ("private", "POST", "trade/batch-orders"), ("private", "POST", "trade/cancel-order"),
        ("private", "POST", "trade/cancel-batch-orders"), ("private", "POST", "trade/amend-order"),
        ("private", "GET", "trade/orders-pending"), ("private", "GET", "trade/orders-history"),
        ("private", "GET", "trade/orders-history-archive"), ("private", "GET", "trade/fills"),
        ("private", "GET", "trade/fills-history"),
    }),
    "bybit": frozenset({
        ("private", "GET", "v5/user/query-api"), ("private", "GET", "v5/account/info"),
        ("private", "GET", "v5/account/wallet-balance"), ("private", "GET", "v5/asset/coin/query-info"),
        ("private", "GET", "v5/account/fee-rate"), ("private", "POST", "v5/order/create"),
        ("private", "POST", "v5/order/cancel"), ("private", "POST", "v5/order/amend"),
        ("private", "POST", "v5/order/cancel-all"), ("private", "GET", "v5/order/realtime"),
        ("private", "GET", "v5/order/history"), ("private", "GET", "v5/execution/list"),
    }),
    "kucoin": frozenset({
        ("private", "GET", "accounts"), ("private", "GET", "orders"), ("private", "POST", "orders"),
        ("private", "DELETE", "orders/{orderId}"), ("private", "GET", "orders/{orderId}"),
        ("private", "GET", "fills"), ("private", "GET", "user-info"), ("utaPrivate", "GET", "account/mode"),
    }),
    "kraken": frozenset({
        ("private", "POST", "Balance"), ("private", "POST", "BalanceEx"), ("private", "POST", "TradeBalance"),
        ("private", "POST", "AddOrder"), ("private", "POST", "CancelOrder"), ("private", "POST", "OpenOrders"),
        ("private", "POST", "ClosedOrders"), ("private", "POST", "QueryOrders"), ("private", "POST", "TradesHistory"),
    }),
}

MAX_CLOCK_OFFSET_MS = 60_000  # a caller may correct for exchange clock skew, not mint far-future requests
METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})
SUPPORTED = frozenset(ccxt.exchanges)  # the exchange ids a credential or an allowlist may name


def forbidden(exchange: str, api: str, method: str, path: str) -> Reason | None:
    """The family of a request that is never signed, whatever the allowlists say: the classified table of
    ccxt's tree for the five built-in exchanges, the name patterns for the rest and as a second net (the api
    path counts too: some exchanges name a withdrawal by its sub-API alone)."""
    family = families.family(exchange, api, method, path)
    return None if family is None else FAMILY_REASON[family]


def allowlists(added: Any) -> dict[str, frozenset[Endpoint]]:
    """The built-in allowlists with an operator's entries added, from a policy file's content:
    ``{"allow": {"gate": [["private/spot", "GET", "accounts"], ...]}}``. Every entry is checked; errors name
    the entry (``allow.gate[2]``)."""
    if not isinstance(added, Mapping):
        raise InputError("policy", "must be an object with an 'allow' object")
    unknown = sorted(set(added) - {"allow"})
    if unknown:
        raise InputError(unknown[0], "is not a policy setting (the one there is: 'allow')")
    allow = added.get("allow", {})
    if not isinstance(allow, Mapping):
        raise InputError("allow", "must be an object: exchange id -> list of [api, method, path]")
    families.tables()  # read once here, when the Sign Center starts (before workers fork), not at a first request
    merged = {exchange: set(entries) for exchange, entries in READ_TRADE.items()}
    for exchange, entries in allow.items():
        if exchange not in SUPPORTED:
            raise InputError(f"allow.{exchange}", "is not a ccxt exchange id")
        if not isinstance(entries, list):
            raise InputError(f"allow.{exchange}", "must be a list of [api, method, path]")
        merged.setdefault(exchange, set()).update(_entry(f"allow.{exchange}[{i}]", exchange, e)
                                                  for i, e in enumerate(entries))
    return {exchange: frozenset(entries) for exchange, entries in merged.items()}


def _entry(field_name: str, exchange: str, entry: Any) -> Endpoint:
    if not (isinstance(entry, list) and len(entry) == 3 and all(isinstance(x, str) and x for x in entry)):
        raise InputError(field_name, "must be [api, method, path], three non-empty strings "
                                     "(as ccxt passes them to sign(), the api joined with '/')")
    api, method, path = entry
    if method.upper() not in METHODS:
        raise InputError(field_name, f"method must be one of {', '.join(sorted(METHODS))}")
    reason = forbidden(exchange, api, method, path)
    if reason is not None:
        raise InputError(field_name, f"{api} {path} is never signed ({reason.value}); take it out")
    if families.covered(exchange) and not families.known(exchange, api, method, path):
        # An entry that names nothing would be allowed in vain; a typo of a real endpoint would leave it refused.
        raise InputError(field_name, f"{method.upper()} {api} {path} is not an endpoint of ccxt's {exchange} API "
                                     f"(ccxt {ccxt.__version__}; the api joined with '/', as ccxt passes it)")
    return api, method.upper(), path


@dataclass
class Policy:
    buckets: Buckets  # the per-credential token buckets (they hold the rate)
    clock: Callable[[], float] = time.monotonic
    max_recv_window_ms: int = 10_000
    allow: dict[str, frozenset[Endpoint]] = field(default_factory=lambda: dict(READ_TRADE))
    # Endpoints already found allowed (a subset of ``allow``, so it stays small): they skip the patterns.
    _cleared: set[tuple[str, str, str, str]] = field(default_factory=set)

    def check(self, exchange: str, api: Any, method: str, path: str, params: Any, context: dict[str, Any]) -> None:
        endpoint = (exchange, api_path(api), method, path)
        if endpoint not in self._cleared:
            self._check_endpoint(*endpoint)
            self._cleared.add(endpoint)
        if context or (isinstance(params, dict) and "recvWindow" in params):  # most requests carry neither
            self._check_context(params, context)

    def _check_context(self, params: Any, context: dict[str, Any]) -> None:
        windows = [context.get("recvWindow")]
        if isinstance(params, dict):
            windows.append(params.get("recvWindow"))
        for w in windows:
            if w is not None and float(w) > self.max_recv_window_ms:
                raise Refused(Reason.RECV_WINDOW_TOO_LARGE, f"recvWindow {w} is above {self.max_recv_window_ms}")
        offset = context.get("timeDifference")
        if offset is not None and abs(float(offset)) > MAX_CLOCK_OFFSET_MS:
            raise Refused(Reason.CLOCK_OFFSET_TOO_LARGE, f"timeDifference above {MAX_CLOCK_OFFSET_MS} ms")

    def _check_endpoint(self, exchange: str, name: str, method: str, path: str) -> None:
        reason = forbidden(exchange, name, method, path)
        if reason is not None:
            raise Refused(reason, f"{method} {name} {path} is never signed")
        if (name, method.upper(), path) not in self.allow.get(exchange, frozenset()):
            raise Refused(Reason.ENDPOINT_NOT_ALLOWED, f"{method} {name} {path} is not on the {exchange} allowlist")

    def take_token(self, credential_id: str) -> None:
        if not self.buckets.take(credential_id, self.clock()):
            raise Refused(Reason.RATE_LIMITED, f"more than {self.buckets.rate:g} signatures/s for this key")
