"""The spot markets every sandbox dialect lists, with filters shaped like the real ones."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

D = Decimal


@dataclass(frozen=True)
class MarketSpec:
    base: str
    quote: str
    price: Decimal  # the walk's starting price
    tick_size: Decimal
    lot_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    max_market_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal = D("9000000")

    @property
    def symbol(self) -> str:  # Binance / Bybit spelling
        return f"{self.base}{self.quote}"

    @property
    def inst_id(self) -> str:  # OKX spelling
        return f"{self.base}-{self.quote}"

    @property
    def base_precision(self) -> int:
        return -self.lot_step.normalize().as_tuple().exponent  # type: ignore[operator]

    @property
    def quote_precision(self) -> int:
        return -self.tick_size.normalize().as_tuple().exponent  # type: ignore[operator]


MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("BTC", "USDT", D("67000"), D("0.01"), D("0.00001"), D("0.00001"), D("9000"), D("120"), D("5")),
    MarketSpec("ETH", "USDT", D("3500"), D("0.01"), D("0.0001"), D("0.0001"), D("9000"), D("2000"), D("5")),
    MarketSpec("SOL", "USDT", D("150"), D("0.01"), D("0.001"), D("0.001"), D("90000"), D("20000"), D("5")),
    MarketSpec("XRP", "USDT", D("0.6"), D("0.0001"), D("1"), D("1"), D("9000000"), D("2000000"), D("5")),
    MarketSpec("ETH", "BTC", D("0.052"), D("0.00001"), D("0.0001"), D("0.0001"), D("100000"), D("1000"),
               D("0.0001")),
)

BY_SYMBOL: dict[str, MarketSpec] = {m.symbol: m for m in MARKETS}
BY_INST_ID: dict[str, MarketSpec] = {m.inst_id: m for m in MARKETS}
ASSETS: tuple[str, ...] = tuple(sorted({a for m in MARKETS for a in (m.base, m.quote)}))
