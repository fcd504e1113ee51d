"""What a client sent with an order (Binance LIMIT_MAKER, OKX post_only and tag) is shown back after a restart."""

from __future__ import annotations

from pathlib import Path

import httpx

from cexlink.sandbox.clients import ccxt_client
from cexlink.sandbox.server import SandboxServer


def test_order_extras_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    first = SandboxServer(state_file=state).start()
    try:
        keys = {ex: httpx.post(first.url + "/sandbox/v1/keys",
                               json={"exchange": ex, "balances": {"USDT": "100000"}}).json()
                for ex in ("binance", "okx")}
        binance = ccxt_client("binance", first.url, keys["binance"])
        binance.load_markets()
        maker = binance.create_order("BTC/USDT", "limit", "buy", 0.001, 20000, {"postOnly": True})
        okx = ccxt_client("okx", first.url, keys["okx"])
        placed = okx.private_post_trade_order({"instId": "BTC-USDT", "tdMode": "cash", "side": "buy",
                                               "ordType": "post_only", "sz": "0.001", "px": "20000",
                                               "tag": "bot7"})["data"][0]
    finally:
        first.stop()

    second = SandboxServer(state_file=state).start()
    try:
        binance = ccxt_client("binance", second.url, keys["binance"])
        assert binance.private_get_order({"symbol": "BTCUSDT", "orderId": maker["id"]})["type"] == "LIMIT_MAKER"
        okx = ccxt_client("okx", second.url, keys["okx"])
        got = okx.private_get_trade_order({"instId": "BTC-USDT", "ordId": placed["ordId"]})["data"][0]
        assert (got["ordType"], got["tag"], got["clOrdId"]) == ("post_only", "bot7", "")
        assert httpx.get(f"{second.url}/sandbox/v1/keys/okx/{keys['okx']['api_key']}").json()["last_used_at"]
    finally:
        second.stop()
