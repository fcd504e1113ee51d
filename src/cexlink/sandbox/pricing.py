"""Seeded random-walk prices: the same seed and clock give the same prices, so tests can rely on them."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .markets import BY_SYMBOL

USD_STABLE = ("USDT", "USDC")
MAX_STEPS_PER_ADVANCE = 100_000  # after a long idle period the walk skips ahead instead of replaying days


@dataclass
class Range:
    low: Decimal
    high: Decimal


class PriceWalk:
    """One mid price per symbol, moving one step every ``step_seconds`` by up to ±``volatility`` (a fraction)."""

    def __init__(self, clock: Callable[[], float], seed: int = 7, volatility: Decimal = Decimal("0.0005"),
                 step_seconds: float = 1.0, prices: dict[str, Decimal] | None = None) -> None:
        self.clock = clock
        self.seed = seed
        self.volatility = volatility
        self.step_seconds = step_seconds
        self.prices = dict(prices) if prices else {s: m.price for s, m in BY_SYMBOL.items()}
        self._last = clock()
        self._rngs = {s: random.Random(f"{seed}:{s}") for s in self.prices}

    def configure(self, seed: int | None = None, volatility: Decimal | None = None,
                  step_seconds: float | None = None) -> None:
        self.advance()
        if seed is not None:
            self.seed = seed
            self._rngs = {s: random.Random(f"{seed}:{s}") for s in self.prices}
        if volatility is not None:
            self.volatility = volatility
        if step_seconds is not None:
            self.step_seconds = step_seconds

    def set_price(self, symbol: str, price: Decimal) -> None:
        self.advance()
        self.prices[symbol] = self._round(symbol, price)

    def advance(self) -> dict[str, Range]:
        """Take the steps due by now; return each symbol's low and high over them (for matching)."""
        now = self.clock()
        steps = int((now - self._last) / self.step_seconds) if self.step_seconds > 0 else 0
        if steps <= 0:
            return {}
        self._last += steps * self.step_seconds
        steps = min(steps, MAX_STEPS_PER_ADVANCE)
        if self.volatility == 0:
            return {}
        ranges: dict[str, Range] = {}
        vol = float(self.volatility)
        for symbol, price in self.prices.items():
            rng, p = self._rngs[symbol], float(price)
            low = high = p
            for _ in range(steps):
                p *= 1.0 + rng.uniform(-vol, vol)
                low, high = min(low, p), max(high, p)
            self.prices[symbol] = self._round(symbol, Decimal(repr(p)))
            ranges[symbol] = Range(self._round(symbol, Decimal(repr(low))),
                                   self._round(symbol, Decimal(repr(high))))
        return ranges

    def price(self, symbol: str) -> Decimal:
        return self.prices[symbol]

    def usd(self, asset: str, amount: Decimal) -> Decimal:
        """``amount`` of ``asset`` in US dollars at the current mid: dollar stablecoins at par, other assets
        through their USDT market, 0 for an asset without one (what the balance endpoints report as USD value)."""
        if asset in USD_STABLE:
            return amount
        market = BY_SYMBOL.get(asset + "USDT")
        return amount * self.prices[market.symbol] if market else Decimal(0)

    @staticmethod
    def _round(symbol: str, price: Decimal) -> Decimal:
        tick = BY_SYMBOL[symbol].tick_size
        return max(tick, (price / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP) * tick)
