"""A remote-signed request is byte-identical to the one a locally keyed ccxt instance builds (same clock).

Five exchanges, real URLs (nothing is sent): Binance, OKX, Bybit, KuCoin, Kraken — any ccxt exchange whose
signing happens in ``sign()`` goes through the same path.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import ccxt
import pytest

from cexlink.ccxt import remote
from cexlink.errors import SignerRefused
from cexlink.exchanges.signing import returns_signature
from cexlink.signer.engine import SignCenter, SignerConfig

NOW = 1_700_000_000.0
KRAKEN_SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
CREDENTIALS: dict[str, dict[str, str | None]] = {
    "binance": {"api_key": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
                "secret": "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j", "passphrase": None},
    "okx": {"api_key": "0f9b3c2e-5d1a-4e8b-9c7d-2a1b3c4d5e6f", "secret": "3F7A9C2E5B1D4F6A8C0E2B4D6F8A0C1E",
            "passphrase": "Pass-phrase-1"},
    "bybit": {"api_key": "Xk3pQ9rT2vLm8NwZ4a", "secret": "Hd7Ke2Lp9Qw4Rt6Yu8Io1Pa3Sd5Fg7Hj9Kl2",
              "passphrase": None},
    "kucoin": {"api_key": "64f1a2b3c4d5e6f708192a3b", "secret": "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b",
               "passphrase": "kc-pass-123"},
    "kraken": {"api_key": "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCdEfGhIjKlMnOpQrSt", "secret": KRAKEN_SECRET,
               "passphrase": None},
}
# (exchange, api, method, path, params): a read and an order for each
REQUESTS: list[tuple[str, Any, str, str, Any]] = [
    ("binance", ["private"], "GET", "account", {}),
    ("binance", ["private"], "POST", "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                "quantity": "0.01", "price": "60000", "timeInForce": "GTC",
                                                "newClientOrderId": "fixed-id-1"}),
    ("okx", ["private"], "GET", "account/balance", {}),
    ("okx", ["private"], "POST", "trade/batch-orders", [{"instId": "BTC-USDT", "tdMode": "cash", "side": "buy",
                                                         "ordType": "limit", "px": "60000", "sz": "0.01",
                                                         "clOrdId": "fixed1", "tag": "t"}]),
    ("bybit", ["private"], "GET", "v5/account/wallet-balance", {"accountType": "UNIFIED"}),
    ("bybit", ["private"], "POST", "v5/order/create", {"category": "spot", "symbol": "BTCUSDT", "side": "Buy",
                                                       "orderType": "Limit", "qty": "0.01", "price": "60000",
                                                       "orderLinkId": "fixed-2"}),
    ("kucoin", ["private"], "GET", "accounts", {}),
    ("kucoin", ["private"], "POST", "orders", {"clientOid": "fixed-3", "side": "buy", "symbol": "BTC-USDT",
                                               "type": "limit", "price": "60000", "size": "0.01"}),
    ("kraken", ["private"], "POST", "Balance", {}),
    ("kraken", ["private"], "POST", "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                                 "price": "37500", "volume": "1.25"}),
]


def _local(exchange: str) -> Any:
    cred = CREDENTIALS[exchange]
    cfg: dict[str, Any] = {"apiKey": cred["api_key"], "secret": cred["secret"]}
    if cred["passphrase"]:
        cfg["password"] = cred["passphrase"]
    ex = getattr(ccxt, exchange)(cfg)
    ex.milliseconds = lambda: int(NOW * 1000)
    ex.options["timeDifference"] = 0
    return ex


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Any:
    sc = SignCenter(SignerConfig(Path(tmp_path_factory.mktemp("bytes"))), clock=lambda: NOW)
    yield sc
    sc.close()


@pytest.mark.parametrize("exchange, api, method, path, params", REQUESTS,
                         ids=[f"{r[0]}-{r[3]}" for r in REQUESTS])
def test_remote_sign_equals_local_sign(center: SignCenter, exchange: str, api: Any, method: str, path: str,
                                       params: Any) -> None:
    cred = CREDENTIALS[exchange]
    stored = center.store_credential("owner", exchange, cred["api_key"], cred["secret"], cred["passphrase"])
    local = _local(exchange)
    want = local.sign(path, api, method, copy.deepcopy(params))  # sign() may add fields to params
    if not returns_signature(exchange):
        # What the Sign Center sends itself; handing it to the caller is refused (a signature that does not
        # bind the path could be replayed elsewhere; OKX's carries the passphrase).
        got = center.sign(stored["credential_id"], exchange, api, method, path, copy.deepcopy(params),
                          {"timeDifference": 0}, forward=True)
        with pytest.raises(SignerRefused, match="forward_required"):
            center.sign(stored["credential_id"], exchange, api, method, path, copy.deepcopy(params))
    else:
        caller = remote(exchange, stored["credential_id"], center)
        caller.options["timeDifference"] = 0
        got = caller.sign(path, api, method, copy.deepcopy(params))
        assert cred["secret"] not in str(got) and (cred["passphrase"] or "\0") not in str(got)
    assert got == {k: want[k] for k in ("url", "method", "headers", "body")}


def test_kraken_nonces_stay_increasing_per_key(center: SignCenter) -> None:
    """Kraken's nonce is a per-instance counter: the Sign Center keeps one serialized instance per key."""
    cred = CREDENTIALS["kraken"]
    stored = center.store_credential("owner2", "kraken", cred["api_key"], cred["secret"])
    bodies = [center.sign(stored["credential_id"], "kraken", ["private"], "POST", "Balance", {})["body"]
              for _ in range(3)]
    nonces = [int(b.split("nonce=")[1].split("&")[0]) for b in bodies]
    assert nonces == sorted(set(nonces))
