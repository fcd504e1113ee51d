"""The exchange capability table agrees with ccxt and with the key rules the exchanges publish."""

from __future__ import annotations

import ccxt
import pytest

from cexlink.exchanges.capabilities import BY_ID, CAPABILITIES

THREECOMMAS_SIXTEEN = ("binance", "okx", "kucoin", "coinbase", "binancetr", "binanceus", "bitfinex", "bitstamp",
                       "bybit", "cryptocom", "deribit", "gate", "gemini", "htx", "kraken")


def test_covers_the_security_table() -> None:
    assert set(THREECOMMAS_SIXTEEN) <= set(BY_ID)
    assert len(CAPABILITIES) >= 16


@pytest.mark.parametrize("cap", CAPABILITIES, ids=[c.id for c in CAPABILITIES])
def test_row_matches_ccxt(cap) -> None:
    assert cap.in_ccxt == (cap.id in ccxt.exchanges)
    if cap.in_ccxt:
        required = getattr(ccxt, cap.id)().requiredCredentials
        assert cap.passphrase == bool(required.get("password"))
    assert cap.required_permissions and cap.forbidden_permissions
    assert cap.unrestricted_rule in ("after creation", "of inactivity", "")
    assert (cap.unrestricted_key_days is None) == (cap.unrestricted_rule == "")


def test_published_key_lifetimes() -> None:
    lifetimes = {c.id: (c.unrestricted_key_days, c.unrestricted_rule) for c in CAPABILITIES}
    assert lifetimes["binance"] == (30, "after creation")
    assert lifetimes["bybit"] == (90, "after creation")
    assert lifetimes["okx"] == (14, "of inactivity")
    assert lifetimes["kucoin"] == (30, "of inactivity")
    assert BY_ID["gemini"].ip_whitelist is False
    assert {c.id for c in CAPABILITIES if c.sandbox} == {"binance", "okx", "bybit"}
