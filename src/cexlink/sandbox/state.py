"""Saving the sandbox's books to a JSON file and loading them back, so a restart keeps accounts and keys.

The file holds the sandbox's own test secrets (it is the exchange); it is written 0600 and atomically.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from .ledger import Ledger
from .records import AcceptedCall, Account, ApiKey, Balance, Order, Trade

FORMAT = 1
_DECIMAL_FIELDS = {
    "free", "locked", "qty", "price", "quote_qty", "filled", "cum_quote", "fee", "avg_price",
}


def _encode(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(type(obj).__name__)


def _decimals(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (Decimal(v) if k in _DECIMAL_FIELDS and v is not None else v) for k, v in d.items()}


def dump(ledger: Ledger) -> dict[str, Any]:
    with ledger.lock:
        return {
            "format": FORMAT,
            "accounts": [dataclasses.asdict(a) for a in ledger.accounts.values()],
            "keys": [dataclasses.asdict(k) for k in ledger.keys.values()],
            "orders": [dataclasses.asdict(o) for o in ledger.orders.values()],
            "trades": [dataclasses.asdict(t) for t in ledger.trades],
            "accepted": [dataclasses.asdict(a) for a in ledger.accepted],
            "prices": {s: str(p) for s, p in ledger.walk.prices.items()},
            "walk": {"seed": ledger.walk.seed, "volatility": str(ledger.walk.volatility),
                     "step_seconds": ledger.walk.step_seconds},
        }


def load_into(ledger: Ledger, data: dict[str, Any]) -> None:
    if data.get("format") != FORMAT:
        raise ValueError(f"state file format {data.get('format')!r} is not {FORMAT}")
    with ledger.lock:
        for a in data["accounts"]:
            balances = {k: Balance(**_decimals(v)) for k, v in a.pop("balances").items()}
            acct = Account(**a, balances=balances)
            ledger.accounts[(acct.exchange, acct.uid)] = acct
        for k in data["keys"]:
            key = ApiKey(**k)
            ledger.keys[(key.exchange, key.api_key)] = key
        for o in data["orders"]:
            order = Order(**_decimals(o))
            ledger.orders[order.id] = order
            ledger.client_ids[(order.exchange, order.uid, order.client_order_id)] = order.id
            if order.is_open:
                ledger.open_by_symbol[order.symbol][order.id] = order
        ledger.trades = [Trade(**_decimals(t)) for t in data["trades"]]
        ledger.accepted = [AcceptedCall(**a) for a in data.get("accepted", [])]  # absent from older files
        ledger.walk.prices.update({s: Decimal(p) for s, p in data["prices"].items()})
        walk = data["walk"]
        ledger.walk.configure(seed=walk["seed"], volatility=Decimal(walk["volatility"]),
                              step_seconds=walk["step_seconds"])
        # Counters continue after the highest ids and uids already handed out.
        ledger._order_ids = itertools.count(max(ledger.orders, default=1000000) + 1)
        ledger._trade_ids = itertools.count(max((t.id for t in ledger.trades), default=5000000) + 1)
        for exchange, counter_start in ((ex, max((int(a.uid) for (e, _), a in ledger.accounts.items()
                                                   if e == ex), default=None)) for ex in ledger._uids):
            if counter_start is not None:
                ledger._uids[exchange] = itertools.count(counter_start + 1)


def save(ledger: Ledger, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(dump(ledger), fh, default=_encode)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(ledger: Ledger, path: Path) -> bool:
    if not path.exists():
        return False
    load_into(ledger, json.loads(path.read_text()))
    return True


class StateWriter:
    """Writes the state file shortly after each change (debounced) and once more at shutdown."""

    def __init__(self, ledger: Ledger, path: Path, interval: float = 0.5) -> None:
        self.ledger, self.path, self.interval = ledger, path, interval
        self._saved_version = -1
        self._task: asyncio.Task[None] | None = None

    def flush(self) -> None:
        version = self.ledger.version
        if version != self._saved_version:
            save(self.ledger, self.path)
            self._saved_version = version

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.flush()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        self.flush()
