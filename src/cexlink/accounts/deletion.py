"""What deleting a connection takes with it, what still uses it, and the platform's orders still resting on the
exchange (funds locked) — found before anything is deleted, so a person confirms knowing all of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ccxt
from sqlalchemy.orm import Session

from ..errors import AccountRefused, SignerError
from ..storage.consumers import Bots, Deals, Orders, SmartTrades

__all__ = ["Inventory", "cancel_resting", "confirmation_needed", "find_resting", "in_use", "inventory"]

LIVE = ("active", "error")  # a deal or SmartTrade in error still holds coins and resumes after Update API Key


@dataclass
class Inventory:
    account: str  # the connection's name
    bots: list[tuple[int, str, str]]  # (id, name, status)
    deals: list[tuple[int, str, str]]  # (id, bot name, status)
    smart_trades: list[tuple[int, str, str]]  # (id, symbol, status)
    orders: list[tuple[int, str, str, str]]  # (row id, exchange order id, symbol, status)
    resting: list[tuple[int, str, str]] = field(default_factory=list)  # platform orders open on the exchange
    check_failed: str = ""  # why the exchange could not be asked, if it could not

    def active(self) -> dict[str, list[str]]:
        """Named, per kind: what must be stopped before delete (orders only while not cancelled with it)."""
        resting = {r[0] for r in self.resting}
        return {
            "bots": [f"'{n}' (id {i})" for i, n, s in self.bots if s == "enabled"],
            "deals": [f"deal {i} of bot '{b}' ({s})" for i, b, s in self.deals if s in LIVE],
            "smart_trades": [f"SmartTrade {i} on {sym} ({s})" for i, sym, s in self.smart_trades if s in LIVE],
            "open_orders": [f"order {o} on {sym}" for i, o, sym, s in self.orders if s == "open" or i in resting],
        }


def inventory(db: Session, owner_id: int, account_id: int, name: str) -> Inventory:
    bots = Bots(db).list(owner_id, account_id)
    bot_names = {b.id: b.name for b in bots}
    return Inventory(
        account=name,
        bots=[(b.id, b.name, b.status) for b in bots],
        deals=[(d.id, bot_names.get(d.bot_id, "?"), d.status) for d in Deals(db).list(owner_id, account_id)],
        smart_trades=[(t.id, t.symbol, t.status) for t in SmartTrades(db).list(owner_id, account_id)],
        orders=[(o.id, o.exchange_order_id, o.symbol, o.status) for o in Orders(db).list(owner_id, account_id)])


async def find_resting(ex: Any, inv: Inventory) -> None:
    """The platform's orders that still rest on the exchange, asked per symbol the platform traded (every
    exchange answers open orders by symbol; some refuse the all-symbols form). The exchange's word wins over our
    rows: an order our table thinks closed but the exchange holds open still locks funds."""
    ours = {(o, sym): i for i, o, sym, _s in inv.orders}
    try:
        for symbol in sorted({sym for _i, _o, sym, _s in inv.orders}):
            for order in await ex.fetch_open_orders(symbol):
                row = ours.get((str(order.get("id")), symbol))
                if row is not None:
                    inv.resting.append((row, str(order["id"]), symbol))
    except (ccxt.BaseError, SignerError) as e:
        inv.check_failed = type(e).__name__  # the class only: an exchange's message may echo key material


async def cancel_resting(ex: Any, db: Session, owner_id: int, inv: Inventory) -> list[str]:
    cancelled = []
    for row, order_id, symbol in inv.resting:
        try:
            await ex.cancel_order(order_id, symbol)
        except ccxt.OrderNotFound:
            pass  # filled or cancelled meanwhile: nothing rests any more
        except (ccxt.BaseError, SignerError) as e:
            raise AccountRefused("cancel_failed", f"Order {order_id} on {symbol} could not be cancelled "
                                 f"({type(e).__name__}); nothing was deleted.",
                                 "Cancel it on the exchange, or try again.") from None
        Orders(db).set_status(owner_id, row, "canceled")
        cancelled.append(f"order {order_id} on {symbol}")
    return cancelled


def in_use(inv: Inventory, counts: dict[str, int], cancel_orders: bool) -> AccountRefused | None:
    """Refused while bots run, deals or SmartTrades are live, or orders rest and were not asked to be cancelled;
    the refusal names each and says how to stop it."""
    active = inv.active()
    if cancel_orders:
        active["open_orders"] = []
    active = {k: v for k, v in active.items() if v}
    if not active:
        return None
    what = ", ".join(f"{counts.get(k, len(v))} {k.replace('_', ' ')}" for k, v in active.items())
    named = " ".join(f"{k.replace('_', ' ').capitalize()}: {'; '.join(v)}." for k, v in active.items())
    steps = []
    if "bots" in active:
        steps.append("disable the bots named")
    if "deals" in active or "smart_trades" in active:
        steps.append("close or cancel the deals and SmartTrades named (their coins stay on the exchange)")
    if "open_orders" in active:
        steps.append("cancel the orders with the delete itself: DELETE …?confirm=true&cancel_orders=true "
                     "(CLI: accounts delete ID --yes --cancel-orders)")
    return AccountRefused("active_consumers", f"This account is still in use: {what}. {named}",
                          "First " + ", then ".join(steps) + "; then delete the connection.",
                          details={"active": {k: counts.get(k, len(v)) for k, v in active.items()},
                                   "active_named": active})


def confirmation_needed(inv: Inventory) -> AccountRefused:
    bots = ", ".join(f"'{n}'" for _i, n, _s in inv.bots) or "none"
    will = {"bots": [n for _i, n, _s in inv.bots], "deals": len(inv.deals), "smart_trades": len(inv.smart_trades),
            "orders": len(inv.orders), "statistics": True}
    message = (f"Deleting '{inv.account}' also deletes: its bots ({bots}), the history of its {len(inv.deals)} "
               f"deals and {len(inv.smart_trades)} SmartTrades, its {len(inv.orders)} order records, and their "
               "statistics. Nothing was deleted.")
    if inv.resting:
        message += " Orders still open on the exchange: " + ", ".join(f"{o} on {s}" for _r, o, s in inv.resting)
        message += " (they will be cancelled)."
    return AccountRefused("confirmation_required", message,
                          "Send the delete again with confirm=true (CLI: --yes) to delete all of this.",
                          "confirm", details={"will_delete": will})
