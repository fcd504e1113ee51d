"""The sandbox's records: accounts with their balances, API keys, orders and trades, as plain dataclasses.

They hold state and nothing else; ledger.py changes them (under its lock) and state.py saves them as they are,
so a field added here with a default survives a restart with no more code. Times are epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


@dataclass
class Account:
    exchange: str
    uid: str
    parent_uid: str | None = None
    label: str = ""
    suspended: bool = False
    kyc_required: bool = False
    region_restricted: bool = False
    created_at: int = 0
    balances: dict[str, Balance] = field(default_factory=dict)

    @property
    def is_sub(self) -> bool:
        return self.parent_uid is not None

    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())


@dataclass
class ApiKey:
    exchange: str
    api_key: str
    secret: str
    uid: str
    permissions: dict[str, Any]  # in the exchange's own vocabulary (see each dialect's PERMISSIONS)
    ips: list[str] = field(default_factory=list)
    passphrase: str | None = None
    label: str = ""
    created_at: int = 0
    expires_at: int | None = None
    revoked: bool = False
    agreement_accepted: bool = True  # Binance's API trading agreement
    third_party: bool = False  # created through Fast Connect
    demo: bool = False  # a key of the exchange's demo-trading environment (OKX: used with x-simulated-trading: 1)
    frozen: bool = False  # frozen by the exchange (OKX 50100)
    last_used_at: int | None = None  # last authenticated request (OKX deletes idle keys; see okx.py)


@dataclass
class Order:
    id: int
    exchange: str
    uid: str
    symbol: str
    side: str  # BUY | SELL
    type: str  # LIMIT | MARKET
    qty: Decimal  # base quantity ordered (for a market buy by quote: what the quote bought)
    price: Decimal | None
    client_order_id: str
    time_in_force: str = "GTC"
    quote_qty: Decimal | None = None  # a market buy sized in quote currency
    # What the client sent beyond the neutral fields, so answers (and restarts) show it back unchanged:
    wire_type: str = ""  # the order type in the exchange's words when it differs (LIMIT_MAKER, post_only, ioc)
    tag: str = ""  # a client tag (OKX ``tag``)
    client_order_id_given: bool = True  # False when the ledger made up client_order_id (OKX then shows "")
    status: str = "NEW"  # NEW | PARTIALLY_FILLED | FILLED | CANCELED
    filled: Decimal = ZERO
    cum_quote: Decimal = ZERO
    fee: Decimal = ZERO
    fee_asset: str = ""
    avg_price: Decimal = ZERO
    locked: Decimal = ZERO  # still locked for the unfilled part
    created_at: int = 0
    updated_at: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass
class Trade:
    id: int
    order_id: int
    exchange: str
    uid: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    fee: Decimal
    fee_asset: str
    maker: bool
    time: int


@dataclass
class AcceptedCall:
    """A call to a forbidden-family endpoint (withdrawal, transfer, sub-account or key management, gift card,
    position move) that passed every check the exchange makes: what was asked and what the exchange answered.
    Tests read these to prove that nothing the platform's Sign Center produced ever got this far."""

    id: int
    exchange: str
    api_key: str
    uid: str
    method: str
    path: str
    family: str
    params: dict[str, Any]  # as the client sent them, minus the signature
    answer: Any  # the success data the exchange answered with
    time: int
