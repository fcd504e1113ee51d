"""The sandbox's books: accounts, API keys, balances, orders and trades (records.py), shared by every dialect.

Everything here is exchange-neutral. Dialects translate wire formats to these calls and render
``Reject`` from their own tables. Times are epoch milliseconds from the injected clock.
"""

from __future__ import annotations

import itertools
import secrets
import string
import threading
import uuid
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

from ..exchanges.capabilities import SANDBOXED
from .markets import BY_SYMBOL, MarketSpec
from .pricing import PriceWalk
from .records import ZERO, AcceptedCall, Account, ApiKey, Balance, Order, Trade
from .rejects import Reason, Reject

__all__ = ["EXCHANGES", "FEE_RATE", "KEY_MAKERS", "UID_START", "Ledger"]

FEE_RATE = Decimal("0.001")
EXCHANGES = SANDBOXED  # the capability table says which exchanges the sandbox speaks
_ALNUM = string.ascii_letters + string.digits


def _random_alnum(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _okx_secret() -> str:
    return secrets.token_hex(16).upper()


# How each exchange's keys look, so generated keys pass the same format checks real ones do.
KEY_MAKERS: dict[str, tuple[Callable[[], str], Callable[[], str]]] = {
    "binance": (lambda: _random_alnum(64), lambda: _random_alnum(64)),
    "okx": (lambda: str(uuid.uuid4()), _okx_secret),
    "bybit": (lambda: _random_alnum(18), lambda: _random_alnum(36)),
}

# First uid handed out per exchange: real-looking magnitudes (Binance 9 digits, OKX 16, Bybit 9).
UID_START = {"binance": 354937868, "okx": 4486000000000001, "bybit": 100263521}


def _to_step(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


class Ledger:
    """The books of all three exchanges. One lock guards every mutation (the HTTP layer may use threads)."""

    def __init__(self, clock: Callable[[], float], walk: PriceWalk | None = None) -> None:
        self.clock = clock
        self.walk = walk or PriceWalk(clock)
        self.lock = threading.RLock()
        self.accounts: dict[tuple[str, str], Account] = {}
        self.keys: dict[tuple[str, str], ApiKey] = {}
        self.orders: dict[int, Order] = {}
        self.trades: list[Trade] = []
        self.open_by_symbol: dict[str, dict[int, Order]] = {s: {} for s in BY_SYMBOL}
        self.client_ids: dict[tuple[str, str, str], int] = {}  # (exchange, uid, clientOrderId) -> order id
        self._order_ids = itertools.count(1000001)
        self._trade_ids = itertools.count(5000001)
        self._uids = {ex: itertools.count(start) for ex, start in UID_START.items()}
        self.accepted: list[AcceptedCall] = []  # forbidden-family calls that passed every check, oldest first
        self.version = 0  # bumped on every mutation; the state file writer watches it

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _changed(self) -> None:
        self.version += 1

    # ---- accounts and keys (admin side) ----

    def create_account(self, exchange: str, parent_uid: str | None = None, label: str = "",
                       balances: dict[str, Decimal] | None = None, uid: str | None = None) -> Account:
        with self.lock:
            if exchange not in EXCHANGES:
                raise ValueError(f"exchange must be one of {', '.join(EXCHANGES)}")
            if parent_uid is not None and (exchange, parent_uid) not in self.accounts:
                raise KeyError(f"parent account {parent_uid} does not exist on {exchange}")
            uid = uid or str(next(self._uids[exchange]))
            while (exchange, uid) in self.accounts:
                uid = str(next(self._uids[exchange]))
            acct = Account(exchange, uid, parent_uid, label, created_at=self.now_ms())
            for asset, amount in (balances or {}).items():
                acct.balance(asset).free += Decimal(amount)
            self.accounts[(exchange, uid)] = acct
            self._changed()
            return acct

    def account(self, exchange: str, uid: str) -> Account:
        try:
            return self.accounts[(exchange, uid)]
        except KeyError:
            raise KeyError(f"account {uid} does not exist on {exchange}") from None

    def create_key(self, exchange: str, uid: str, permissions: dict[str, Any], ips: list[str] | None = None,
                   passphrase: str | None = None, label: str = "", expires_at: int | None = None,
                   agreement_accepted: bool = True, third_party: bool = False, demo: bool = False) -> ApiKey:
        with self.lock:
            self.account(exchange, uid)
            make_key, make_secret = KEY_MAKERS[exchange]
            if exchange == "okx" and not passphrase:
                passphrase = "Sb-" + _random_alnum(13)
            key = ApiKey(exchange, make_key(), make_secret(), uid, permissions, list(ips or []),
                         passphrase if exchange == "okx" else None, label, self.now_ms(), expires_at,
                         agreement_accepted=agreement_accepted, third_party=third_party, demo=demo)
            self.keys[(exchange, key.api_key)] = key
            self._changed()
            return key

    def find_key(self, exchange: str, api_key: str) -> ApiKey | None:
        key = self.keys.get((exchange, api_key))
        return None if key is None or key.revoked else key

    def touch_key(self, key: ApiKey) -> None:
        """Note an authenticated use of ``key``. The state file hears of it at most once a minute per key: the
        rules that read it count days, and a file write per request would cost more than it tells."""
        with self.lock:
            now = self.now_ms()
            if key.last_used_at is None or now - key.last_used_at >= 60_000:
                self._changed()
            key.last_used_at = now

    def record_accepted(self, key: ApiKey, method: str, path: str, family: str, params: dict[str, Any],
                        answer: Any) -> AcceptedCall:
        with self.lock:
            record = AcceptedCall(len(self.accepted) + 1, key.exchange, key.api_key, key.uid, method, path, family,
                                  params, answer, self.now_ms())
            self.accepted.append(record)
            self._changed()
            return record

    def key(self, exchange: str, api_key: str) -> ApiKey:
        """A key by its API key, revoked or not (the admin side); KeyError names it by its first characters."""
        key = self.keys.get((exchange, api_key))
        if key is None:
            raise KeyError(f"no {exchange} key {api_key[:4]}…")
        return key

    def revoke_key(self, exchange: str, api_key: str) -> None:
        with self.lock:
            self.key(exchange, api_key).revoked = True
            self._changed()

    def update_key(self, exchange: str, api_key: str, **changes: Any) -> ApiKey:
        with self.lock:
            key = self.key(exchange, api_key)
            for name, value in changes.items():
                if not hasattr(key, name) or name in ("api_key", "secret", "exchange", "uid"):
                    raise ValueError(f"{name} cannot be changed")
                setattr(key, name, value)
            self._changed()
            return key

    def set_account_flags(self, exchange: str, uid: str, **flags: bool) -> Account:
        with self.lock:
            acct = self.account(exchange, uid)
            for name, value in flags.items():
                if name not in ("suspended", "kyc_required", "region_restricted"):
                    raise ValueError(f"unknown account flag {name}")
                setattr(acct, name, bool(value))
            self._changed()
            return acct

    def fund(self, exchange: str, uid: str, asset: str, amount: Decimal) -> Balance:
        with self.lock:
            bal = self.account(exchange, uid).balance(asset)
            if bal.free + amount < 0:
                raise ValueError(f"{asset} balance would go below zero")
            bal.free += amount
            self._changed()
            return bal

    def set_price(self, symbol: str, price: Decimal) -> None:
        with self.lock:
            if symbol not in BY_SYMBOL:
                raise KeyError(f"unknown symbol {symbol}")
            self.walk.set_price(symbol, price)
            self._match(symbol, self.walk.price(symbol), self.walk.price(symbol))
            self._changed()

    # ---- market data ----

    def tick(self) -> None:
        """Advance the price walk to now and fill resting orders the path crossed."""
        with self.lock:
            for symbol, rng in self.walk.advance().items():
                self._match(symbol, rng.low, rng.high)

    def price(self, symbol: str) -> Decimal:
        self.tick()
        return self.walk.price(symbol)

    @staticmethod
    def market(symbol: str) -> MarketSpec:
        spec = BY_SYMBOL.get(symbol)
        if spec is None:
            raise Reject(Reason.BAD_SYMBOL, symbol=symbol)
        return spec

    # ---- trading ----

    def place_order(self, exchange: str, uid: str, symbol: str, side: str, type_: str, qty: Decimal | None,
                    price: Decimal | None = None, quote_qty: Decimal | None = None,
                    client_order_id: str | None = None, time_in_force: str = "GTC", wire_type: str = "",
                    tag: str = "", post_only: bool = False) -> Order:
        """Place, and fill at the mid if it crosses; ``post_only`` (maker-only) refuses one that would cross."""
        with self.lock:
            self.tick()
            spec = self.market(symbol)
            acct = self.account(exchange, uid)
            given = bool(client_order_id)
            client_order_id = client_order_id or _random_alnum(22)
            if (exchange, uid, client_order_id) in self.client_ids and \
                    self.orders[self.client_ids[(exchange, uid, client_order_id)]].is_open:
                raise Reject(Reason.DUPLICATE_ORDER, client_order_id=client_order_id)
            mid = self.walk.price(symbol)
            qty = self._validate(spec, type_, side, qty, price, quote_qty, mid)
            crosses = type_ == "MARKET" or (price is not None and ((side == "BUY" and price >= mid)
                                                                 or (side == "SELL" and price <= mid)))
            if post_only and crosses:
                raise Reject(Reason.WOULD_TAKE, symbol=symbol)
            order = Order(next(self._order_ids), exchange, uid, symbol, side, type_, qty or ZERO, price,
                          client_order_id, time_in_force, quote_qty, wire_type, tag, given, created_at=self.now_ms())
            order.updated_at = order.created_at
            self._lock_funds(acct, spec, order, mid)
            self.orders[order.id] = order
            self.client_ids[(exchange, uid, client_order_id)] = order.id
            if crosses:
                self._fill(order, mid, maker=False)
            elif time_in_force in ("IOC", "FOK"):
                self._release(order)
                order.status = "CANCELED" if time_in_force == "IOC" else "EXPIRED"
            else:
                self.open_by_symbol[symbol][order.id] = order
            self._changed()
            return order

    def _validate(self, spec: MarketSpec, type_: str, side: str, qty: Decimal | None, price: Decimal | None,
                  quote_qty: Decimal | None, mid: Decimal) -> Decimal | None:
        if type_ == "LIMIT":
            if price is None or price <= 0 or price % spec.tick_size != 0:
                raise Reject(Reason.FILTER_PRICE, symbol=spec.symbol)
        if type_ == "MARKET" and qty is None and quote_qty is not None:
            if side != "BUY":
                raise Reject(Reason.BAD_PARAM, param="quoteOrderQty")
            if quote_qty < spec.min_notional:
                raise Reject(Reason.FILTER_NOTIONAL, symbol=spec.symbol)
            return None
        if qty is None or qty <= 0:
            raise Reject(Reason.FILTER_LOT_SIZE, symbol=spec.symbol)
        max_qty = spec.max_market_qty if type_ == "MARKET" else spec.max_qty
        if qty < spec.min_qty or qty > max_qty or qty % spec.lot_step != 0:
            raise Reject(Reason.FILTER_MARKET_LOT_SIZE if type_ == "MARKET" and qty > max_qty
                         else Reason.FILTER_LOT_SIZE, symbol=spec.symbol)
        notional = qty * (price if type_ == "LIMIT" and price is not None else mid)
        if notional < spec.min_notional or notional > spec.max_notional:
            raise Reject(Reason.FILTER_NOTIONAL, symbol=spec.symbol)
        return qty

    def _lock_funds(self, acct: Account, spec: MarketSpec, order: Order, mid: Decimal) -> None:
        if order.side == "BUY":
            asset = spec.quote
            if order.quote_qty is not None and order.type == "MARKET" and not order.qty:
                need = order.quote_qty
            else:
                need = order.qty * (order.price if order.type == "LIMIT" and order.price is not None else mid)
        else:
            asset, need = spec.base, order.qty
        bal = acct.balance(asset)
        if bal.free < need:
            raise Reject(Reason.INSUFFICIENT_BALANCE, asset=asset)
        bal.free -= need
        bal.locked += need
        order.locked = need

    def _release(self, order: Order) -> None:
        spec = BY_SYMBOL[order.symbol]
        bal = self.account(order.exchange, order.uid).balance(spec.quote if order.side == "BUY" else spec.base)
        bal.locked -= order.locked
        bal.free += order.locked
        order.locked = ZERO

    def _fill(self, order: Order, price: Decimal, maker: bool) -> None:
        spec = BY_SYMBOL[order.symbol]
        acct = self.account(order.exchange, order.uid)
        if order.type == "MARKET" and order.side == "BUY" and not order.qty and order.quote_qty:
            qty = _to_step(order.quote_qty / price, spec.lot_step)
            order.qty = qty
        else:
            qty = order.qty - order.filled
        quote = (qty * price).quantize(spec.tick_size * spec.lot_step)
        if order.side == "BUY":
            spent = min(quote, order.locked)
            acct.balance(spec.quote).locked -= order.locked
            acct.balance(spec.quote).free += order.locked - spent
            fee, fee_asset = qty * FEE_RATE, spec.base
            acct.balance(spec.base).free += qty - fee
        else:
            acct.balance(spec.base).locked -= order.locked
            fee, fee_asset = quote * FEE_RATE, spec.quote
            acct.balance(spec.quote).free += quote - fee
        order.locked = ZERO
        order.filled += qty
        order.cum_quote += quote
        order.fee += fee
        order.fee_asset = fee_asset
        order.avg_price = (order.cum_quote / order.filled) if order.filled else ZERO
        order.status = "FILLED"
        order.updated_at = self.now_ms()
        self.trades.append(Trade(next(self._trade_ids), order.id, order.exchange, order.uid, order.symbol,
                                 order.side, price, qty, quote, fee, fee_asset, maker, order.updated_at))
        self.open_by_symbol[order.symbol].pop(order.id, None)

    def _match(self, symbol: str, low: Decimal, high: Decimal) -> None:
        for order in list(self.open_by_symbol[symbol].values()):
            if order.price is None:  # only limit orders rest, each with its price
                continue
            if (order.side == "BUY" and order.price >= low) or (order.side == "SELL" and order.price <= high):
                self._fill(order, order.price, maker=True)
                self._changed()

    def cancel_order(self, exchange: str, uid: str, symbol: str, order_id: int | None = None,
                     client_order_id: str | None = None) -> Order:
        with self.lock:
            self.tick()
            order = self.get_order(exchange, uid, symbol, order_id, client_order_id)
            if not order.is_open:
                raise Reject(Reason.UNKNOWN_ORDER, order_id=order.id)
            self._release(order)
            order.status = "CANCELED"
            order.updated_at = self.now_ms()
            self.open_by_symbol[symbol].pop(order.id, None)
            self._changed()
            return order

    def get_order(self, exchange: str, uid: str, symbol: str | None, order_id: int | None = None,
                  client_order_id: str | None = None) -> Order:
        self.tick()
        if order_id is None and client_order_id is not None:
            order_id = self.client_ids.get((exchange, uid, client_order_id))
        order = self.orders.get(order_id) if order_id is not None else None
        if order is None or order.exchange != exchange or order.uid != uid or \
                (symbol is not None and order.symbol != symbol):
            raise Reject(Reason.UNKNOWN_ORDER, order_id=order_id)
        return order

    def open_orders(self, exchange: str, uid: str, symbol: str | None = None) -> list[Order]:
        self.tick()
        books = [self.open_by_symbol[symbol]] if symbol else self.open_by_symbol.values()
        return sorted((o for book in books for o in book.values() if o.exchange == exchange and o.uid == uid),
                      key=lambda o: o.id)

    def account_orders(self, exchange: str, uid: str, symbol: str | None = None,
                       is_open: bool | None = None) -> list[Order]:
        """The account's orders (on ``symbol``), all of them or only the open or only the finished ones."""
        self.tick()
        return [o for o in self.orders.values() if o.exchange == exchange and o.uid == uid
                and symbol in (None, o.symbol) and is_open in (None, o.is_open)]

    def account_trades(self, exchange: str, uid: str, symbol: str | None = None) -> list[Trade]:
        self.tick()
        return [t for t in self.trades
                if t.exchange == exchange and t.uid == uid and (symbol is None or t.symbol == symbol)]
