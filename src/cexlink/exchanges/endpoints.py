"""Where a ccxt instance sends its requests: how to point it at another base URL (the sandbox exchange, a
mirror), and which ccxt options keep its ``load_markets()`` to spot.

Exchange data, used by the API process, the Sign Center and the sandbox's own clients alike; it imports
nothing of either. The URL prefixes are the ones ccxt 4.5.90 writes in ``urls['api']``; the options switch off
what a stock ``load_markets()`` asks besides the spot market list (each row says what, and why).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["POINTING", "Pointing", "point_ccxt", "pointable"]


@dataclass(frozen=True)
class Pointing:
    url_prefix: str  # what ccxt writes before the path in urls['api'] (templates included, as ccxt has them)
    spot_options: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def urls(self, urls_api: dict[str, Any], base_url: str) -> dict[str, Any]:
        """ccxt's ``urls['api']`` with this exchange's own host replaced by ``base_url`` (other hosts, such
        as Binance's futures ones, stay as they are: nothing here serves them)."""
        return {k: (v.replace(self.url_prefix, base_url) if isinstance(v, str) else v) for k, v in urls_api.items()}


def _options(**options: Any) -> MappingProxyType[str, Any]:
    return MappingProxyType(options)


POINTING: MappingProxyType[str, Pointing] = MappingProxyType({
    # fetchMarkets.types=['spot'] skips /fapi and /dapi exchangeInfo; fetchCurrencies=False skips the signed
    # /sapi/v1/capital/config/getall; fetchMargins=False skips /sapi/v1/margin/allPairs and
    # /sapi/v1/margin/isolated/allPairs (exchanges.md §3.6, observed).
    "binance": Pointing("https://api.binance.com", _options(
        fetchMarkets={"types": ["spot"]}, fetchCurrencies=False, fetchMargins=False)),
    # Spot only: no futures, swaps or options are asked for.
    "okx": Pointing("https://{hostname}", _options(fetchMarkets={"types": ["spot"]})),
    # Spot only; the whole fetchMarkets dict is given because point_ccxt replaces each option wholesale.
    "bybit": Pointing("https://api.{hostname}", _options(
        fetchMarkets={"usePrivateInstrumentsInfo": False, "types": ["spot"], "options": [],
                      "loadAllOptions": False, "loadExpiredOptions": False},
        defaultType="spot")),
})


def pointable(exchange_id: str) -> bool:
    """Whether ``point_ccxt`` knows how to point this exchange elsewhere."""
    return exchange_id in POINTING


def point_ccxt(exchange: Any, base_url: str) -> Any:
    """Rewrite a ccxt instance's API URLs to ``base_url`` and set the options that keep it to spot."""
    pointing = POINTING.get(exchange.id)
    if pointing is None:
        raise KeyError(f"no base-URL rewrite for exchange {exchange.id!r}; known: {', '.join(POINTING)}")
    exchange.urls["api"] = pointing.urls(exchange.urls["api"], base_url.rstrip("/"))
    for name, value in pointing.spot_options.items():
        exchange.options[name] = copy.deepcopy(value)  # ccxt writes into its options: never into the table
    return exchange
