"""python-binance 1.0.37, unchanged, against the sandbox: balances, a limit order placed and canceled, the key's
permissions, and its exceptions carrying Binance's codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from cexlink.sandbox.server import SandboxServer

NewKey = Callable[..., dict[str, Any]]


def sdk(sandbox: SandboxServer, key: dict[str, Any]) -> Client:
    # The constructor pings api.binance.com unless ping=False; URLs get "/v3/<path>" and "/v1/<path>" appended
    # (binance/base_client.py _create_api_uri, _create_margin_api_uri).
    client = Client(key["api_key"], key["secret"], ping=False)
    client.API_URL = sandbox.url + "/api"
    client.MARGIN_API_URL = sandbox.url + "/sapi"
    return client


def test_balance_order_cancel_and_permissions(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance")
    c = sdk(sandbox, key)
    assert c.get_server_time()["serverTime"] > 0
    account = c.get_account()
    assert account["uid"] == int(key["uid"]) and account["canTrade"] is True
    assert c.get_asset_balance("USDT") == {"asset": "USDT", "free": "100000.00000000", "locked": "0.00000000"}
    order = c.order_limit_buy(symbol="BTCUSDT", quantity="0.01", price="30000")
    assert order["status"] == "NEW" and order["type"] == "LIMIT" and order["side"] == "BUY"
    assert c.get_asset_balance("USDT")["locked"] == "300.00000000"
    assert [o["orderId"] for o in c.get_open_orders(symbol="BTCUSDT")] == [order["orderId"]]
    canceled = c.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert canceled["status"] == "CANCELED" and canceled["origClientOrderId"] == order["clientOrderId"]
    assert c.get_asset_balance("USDT")["free"] == "100000.00000000"
    assert c.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "CANCELED"
    perms = c.get_account_api_permissions()
    assert perms["enableReading"] is True and perms["enableSpotAndMarginTrading"] is True
    assert perms["enableWithdrawals"] is False and perms["ipRestrict"] is False
    assert perms["tradingAuthorityExpirationTime"] == perms["createTime"] + 30 * 86_400_000


def test_market_order_and_trades(sandbox: SandboxServer, new_key: NewKey) -> None:
    c = sdk(sandbox, new_key("binance"))
    order = c.order_market_buy(symbol="ETHUSDT", quoteOrderQty="50")
    assert order["status"] == "FILLED" and order["fills"]
    trades = c.get_my_trades(symbol="ETHUSDT")
    assert [t["orderId"] for t in trades] == [order["orderId"]] and trades[0]["isBuyer"] is True


def test_permissions_of_a_restricted_read_only_key(sandbox: SandboxServer, new_key: NewKey) -> None:
    key = new_key("binance", permissions=["read"], ips=["127.0.0.1"])
    c = sdk(sandbox, key)
    perms = c.get_account_api_permissions()
    assert perms["ipRestrict"] is True and perms["enableSpotAndMarginTrading"] is False
    assert "tradingAuthorityExpirationTime" not in perms
    with pytest.raises(BinanceAPIException) as info:
        c.order_limit_buy(symbol="BTCUSDT", quantity="0.01", price="30000")
    assert (info.value.status_code, info.value.code) == (401, -2015)


def test_errors_carry_binance_codes(sandbox: SandboxServer, new_key: NewKey) -> None:
    c = sdk(sandbox, new_key("binance"))
    cases: list[tuple[Callable[[], Any], int]] = [
        (lambda: c.get_order(symbol="BTCUSDT", orderId=1), -2013),
        (lambda: c.cancel_order(symbol="BTCUSDT", orderId=1), -2011),
        (lambda: c.get_open_orders(symbol="NOPE"), -1121),
        (lambda: c.order_limit_buy(symbol="BTCUSDT", quantity="100", price="60000"), -2010),
        (lambda: c.order_limit_buy(symbol="BTCUSDT", quantity="0.000015", price="60000"), -1013),
    ]
    for call, code in cases:
        with pytest.raises(BinanceAPIException) as info:
            call()
        assert info.value.code == code and info.value.status_code == 400, info.value.message
