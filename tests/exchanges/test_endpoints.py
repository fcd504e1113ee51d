"""Pointing stock ccxt at a base URL (exchanges/endpoints.py), against the sandbox over real HTTP, and the
per-exchange facts that must agree wherever they are used."""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from cexlink.exchanges.capabilities import BY_ID, CAPABILITIES, SANDBOXED
from cexlink.exchanges.endpoints import POINTING, point_ccxt
from cexlink.exchanges.signing import returns_signature
from cexlink.sandbox.app import DIALECTS


def test_the_sandboxed_exchanges_are_one_fact() -> None:
    """The capability table, the sandbox's dialects and the URL table name the same exchanges."""
    assert SANDBOXED == tuple(c.id for c in CAPABILITIES if c.sandbox)
    assert set(SANDBOXED) == {d.name for d in DIALECTS} == set(POINTING)


def test_forwarded_is_read_from_the_signing_table() -> None:
    assert all(c.forwarded == (not returns_signature(c.id)) for c in CAPABILITIES)
    assert BY_ID["binance"].forwarded and BY_ID["bybit"].forwarded and BY_ID["okx"].forwarded
    assert not BY_ID["kucoin"].forwarded and not BY_ID["kraken"].forwarded


@pytest.mark.parametrize("exchange", SANDBOXED)
def test_a_pointed_stock_ccxt_loads_its_markets_from_the_base_url_alone(exchange: str, sandbox: Any) -> None:
    """No network here beyond 127.0.0.1: a call that still went to the real exchange would fail."""
    ex = point_ccxt(getattr(ccxt, exchange)({"enableRateLimit": False, "timeout": 5000}), sandbox.url + "/")
    markets = ex.load_markets()
    assert "BTC/USDT" in markets
    assert {m["type"] for m in markets.values()} == {"spot"}
    own = {v for v in ex.urls["api"].values() if isinstance(v, str) and v.startswith(sandbox.url)}
    assert own, "the exchange's own host now points at the base URL (without a doubled slash)"
    assert not any(v.startswith(sandbox.url + "//") for v in own)


def test_an_instance_cannot_change_the_table() -> None:
    first = point_ccxt(ccxt.bybit(), "http://127.0.0.1:9")
    first.options["fetchMarkets"]["types"].append("linear")
    second = point_ccxt(ccxt.bybit(), "http://127.0.0.1:9")
    assert second.options["fetchMarkets"]["types"] == ["spot"]


def test_an_exchange_without_a_rewrite_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="kucoin"):
        point_ccxt(ccxt.kucoin(), "http://127.0.0.1:9")
