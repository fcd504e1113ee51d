"""An attacker who holds the Sign Center's socket (a compromised platform) tries to move a user's funds.

The keys here have every right on the sandbox exchange — withdrawals and transfers included — so a single
signature that authenticated a forbidden request would be accepted there (the positive controls show it is: a
locally keyed ccxt moves funds at once). Everything the attacker gets back from the Sign Center is collected and
replayed against the sandbox's withdrawal, transfer, sub-account, key-management, gift-card and position-move
endpoints; the sandbox, which records every such call it accepts, must have accepted none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cexlink.errors import InputError, SignerRefused
from cexlink.sandbox.clients import ccxt_client
from cexlink.signer.client import SignerClient
from tests.support.sandbox import SANDBOXED
from tests.support.signer import SignerProcess, start_signer, store

EVERY_RIGHT = ["read", "spot", "withdraw", "transfer"]
EGRESS = "127.0.0.2"  # the one address the Sign Center is configured to send from besides its default route

# Allowed endpoints the attacker may ask for, with parameters of its choosing: a withdrawal's.
ALLOWED: dict[str, tuple[Any, str, str, dict[str, Any]]] = {
    "binance": (["private"], "POST", "order/test",
                {"coin": "USDT", "address": "bc1qattacker", "amount": "1000", "network": "BTC"}),
    "bybit": (["private"], "POST", "v5/order/create",
              {"coin": "USDT", "chain": "ETH", "address": "0xattacker", "amount": "1000", "accountType": "FUND"}),
    "okx": (["private"], "POST", "trade/order",
            {"ccy": "USDT", "amt": "1000", "dest": "4", "toAddr": "0xattacker", "chain": "USDT-ERC20"}),
}
# Forbidden endpoints as ccxt names them, with the reason the Sign Center must give.
FORBIDDEN: list[tuple[str, Any, str, str, str]] = [
    ("binance", ["sapi"], "POST", "capital/withdraw/apply", "withdrawal_forbidden"),
    ("binance", ["sapi"], "POST", "asset/transfer", "transfer_forbidden"),
    ("binance", ["sapi"], "POST", "sub-account/universalTransfer", "transfer_forbidden"),
    ("binance", ["sapi"], "POST", "sub-account/virtualSubAccount", "subaccount_forbidden"),
    ("binance", ["sapi"], "POST", "giftcard/createCode", "payment_forbidden"),
    ("okx", ["private"], "POST", "asset/withdrawal", "withdrawal_forbidden"),
    ("okx", ["private"], "POST", "asset/transfer", "transfer_forbidden"),
    ("okx", ["private"], "POST", "users/subaccount/apikey", "key_management_forbidden"),
    ("okx", ["private"], "POST", "account/move-positions", "position_move_forbidden"),
    ("bybit", ["private"], "POST", "v5/asset/withdraw/create", "withdrawal_forbidden"),
    ("bybit", ["private"], "POST", "v5/asset/transfer/universal-transfer", "transfer_forbidden"),
    ("bybit", ["private"], "POST", "v5/user/update-api", "key_management_forbidden"),
    ("bybit", ["private"], "POST", "v5/user/create-sub-api", "key_management_forbidden"),
    ("bybit", ["private"], "POST", "v5/position/move-positions", "position_move_forbidden"),
]
# The sandbox paths an answer could be replayed on, per exchange.
TARGETS = {
    "binance": ["/sapi/v1/capital/withdraw/apply", "/sapi/v1/asset/transfer", "/sapi/v1/giftcard/createCode"],
    "okx": ["/api/v5/asset/withdrawal", "/api/v5/asset/transfer"],
    "bybit": ["/v5/asset/withdraw/create", "/v5/asset/transfer/universal-transfer", "/v5/user/update-api"],
}


@pytest.fixture(scope="module")
def signer(sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignerProcess]:
    proc = start_signer(tmp_path_factory.mktemp("replay"), sandbox.url, extra=["--egress-ip", EGRESS])
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def attacker(signer: SignerProcess) -> Iterator[SignerClient]:
    c = SignerClient(socket_path=signer.socket)
    yield c
    c.close()


def _accepted(admin: httpx.Client, exchange: str) -> list[dict[str, Any]]:
    r = admin.get("/accepted", params={"exchange": exchange})
    assert r.status_code == 200, r.text
    return r.json()


def _replay(sandbox_url: str, exchange: str, answer: dict[str, Any]) -> list[int]:
    """Send a signed request the Sign Center answered to every forbidden target, as an attacker would."""
    statuses = []
    url = urlsplit(answer["url"])
    for target in TARGETS.get(exchange, []):
        replayed = f"{sandbox_url}{target}" + (f"?{url.query}" if url.query else "")
        r = httpx.request("POST", replayed, headers=answer.get("headers") or {}, content=answer.get("body") or b"")
        statuses.append(r.status_code)
    return statuses


@pytest.mark.parametrize("exchange", SANDBOXED)
def test_no_signature_of_a_path_unbound_exchange_leaves_the_sign_center(sandbox, admin, new_key,
                                                                        attacker: SignerClient,
                                                                        exchange: str) -> None:
    key = new_key(exchange, permissions=EVERY_RIGHT)
    before = len(_accepted(admin, exchange))
    # The positive control: this key can withdraw, so a signature that authenticated a withdrawal would.
    local = ccxt_client(exchange, sandbox.url, key)
    cred = store(attacker, key, exchange)
    answers: list[dict[str, Any]] = []
    api, method, path, params = ALLOWED[exchange]
    for context in ({}, {"recvWindow": 5000}, {"timeDifference": 1000}):
        with pytest.raises(SignerRefused) as refused:
            answers.append(attacker.sign(cred, exchange, api, method, path, dict(params), context))
        assert refused.value.reason == "forward_required"
    forwarded = attacker.forward(cred, exchange, api, method, path, dict(params))
    answers.append(forwarded)
    text = json.dumps(answers)
    for marker in ("signature=", "X-MBX-APIKEY", "X-BAPI-SIGN", "OK-ACCESS-SIGN", key["api_key"]):
        assert marker not in text  # nothing in what came back could authenticate another request
    for answer in answers:
        if "url" in answer:  # a signed request: replay it on every forbidden target
            _replay(sandbox.url, exchange, answer)
    assert len(_accepted(admin, exchange)) == before
    if exchange == "binance":  # order/test was forwarded as order/test: no order exists
        assert local.fetch_open_orders("BTC/USDT") == []


@pytest.mark.parametrize("exchange, api, method, path, reason", FORBIDDEN,
                         ids=[f"{f[0]}-{f[3]}" for f in FORBIDDEN])
def test_forbidden_families_are_refused_through_forward_and_sign(admin, new_key, attacker: SignerClient,
                                                                 exchange: str, api: Any, method: str, path: str,
                                                                 reason: str) -> None:
    key = new_key(exchange, permissions=EVERY_RIGHT)
    cred = store(attacker, key, exchange)
    before = len(_accepted(admin, exchange))
    for op in (attacker.forward, attacker.sign):
        with pytest.raises(SignerRefused) as refused:
            op(cred, exchange, api, method, path, {"amount": "1"})
        assert refused.value.reason in (reason, "forward_required")
    with pytest.raises(SignerRefused) as refused:
        attacker.forward(cred, exchange, api, method, path, {"amount": "1"})
    assert refused.value.reason == reason
    assert len(_accepted(admin, exchange)) == before


def test_the_sandbox_would_have_accepted_a_replayed_binance_signature(sandbox, admin, new_key) -> None:
    """The attack the forward design closes, shown with a secret in hand: Binance signs the parameters only, so
    a signature made for order/test authenticates the same parameters at the withdrawal endpoint."""
    key = new_key("binance", permissions=EVERY_RIGHT)
    local = ccxt_client("binance", sandbox.url, key)
    params = {"coin": "USDT", "address": "bc1qattacker", "amount": "1", "network": "BTC"}
    signed = local.sign("order/test", ["private"], "POST", dict(params))
    before = len(_accepted(admin, "binance"))
    statuses = _replay(sandbox.url, "binance", signed)
    assert statuses[0] == 200 and len(_accepted(admin, "binance")) > before


KUCOIN = ("64f1a2b3c4d5e6f708192a3b", "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b", "kc-pass-123")


@pytest.mark.parametrize("params", [
    {"orderId": "../withdrawals/1?x="}, {"orderId": "..%2fwithdrawals"}, {"orderId": "a/b"},
    {"orderId": "a?b"}, {"orderId": "a#b"}, {"orderId": "%2e%2e"}, {"orderId": "a\\b"}, {"orderId": ""},
    {"orderId": ["x"]}, {"orderId": "x", "version": "v1/withdrawals?x="}, {"orderId": "x", "version": "../v1"},
], ids=str)
def test_parameters_cannot_rewrite_the_path(attacker: SignerClient, params: dict[str, Any]) -> None:
    """KuCoin's sign() builds its URL from ``version`` and ``{orderId}``: a value that would turn
    ``DELETE orders/{orderId}`` into a withdrawal is refused, and so recorded."""
    cred = attacker.store("mallory", "kucoin", *KUCOIN)["credential_id"]
    with pytest.raises(SignerRefused) as refused:
        attacker.sign(cred, "kucoin", ["private"], "DELETE", "orders/{orderId}", params)
    assert refused.value.reason == "path_rewritten"


def test_a_plain_path_value_signs_the_allowlisted_path(attacker: SignerClient) -> None:
    cred = attacker.store("mallory", "kucoin", *KUCOIN)["credential_id"]
    signed = attacker.sign(cred, "kucoin", ["private"], "DELETE", "orders/{orderId}", {"orderId": "5c35c02703aa"})
    assert urlsplit(signed["url"]).path == "/api/v1/orders/5c35c02703aa"
    signed = attacker.sign(cred, "kucoin", ["private"], "GET", "orders", {"status": "active", "version": "v1"})
    assert urlsplit(signed["url"]).path == "/api/v1/orders"


@pytest.mark.parametrize("params", [{"status": "active&x=/withdrawals"}, {"status": "a#"}], ids=str)
def test_a_query_value_cannot_add_fields_or_cut_the_request(attacker: SignerClient, params: dict[str, Any]) -> None:
    """ccxt puts KuCoin's GET parameters in the query unescaped: a value cannot smuggle a field or a fragment."""
    cred = attacker.store("mallory", "kucoin", *KUCOIN)["credential_id"]
    with pytest.raises(SignerRefused) as refused:
        attacker.sign(cred, "kucoin", ["private"], "GET", "orders", params)
    assert refused.value.reason == "path_rewritten"


@pytest.mark.parametrize("exchange, api, method, path, field", [
    ("binance", ["private"], "GET", "account", "timestamp"),
    ("binance", ["private"], "GET", "account", "signature"),
    ("binance", ["private"], "GET", "account", "recvWindow"),
    ("bybit", ["private"], "GET", "v5/account/info", "timestamp"),
    ("okx", ["private"], "GET", "account/balance", "timestamp"),
    ("kraken", ["private"], "POST", "Balance", "nonce"),
    ("kucoin", ["private"], "GET", "accounts", "Timestamp"),
])
def test_the_clock_and_the_signature_cannot_be_set_by_the_caller(new_key, attacker: SignerClient, exchange: str,
                                                                 api: Any, method: str, path: str,
                                                                 field: str) -> None:
    """A timestamp a year ahead would mint a request valid long after the key is revoked; a nonce far ahead
    would burn Kraken's nonce window. Refused before anything is signed."""
    if exchange in SANDBOXED:
        key = new_key(exchange)
        cred = store(attacker, key, exchange)
        op = attacker.forward
    elif exchange == "kraken":
        cred = attacker.store("mallory", "kraken", "A" * 56, "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWx"
                                                            "nyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==")["credential_id"]
        op = attacker.sign
    else:
        cred = attacker.store("mallory", "kucoin", *KUCOIN)["credential_id"]
        op = attacker.sign
    value = 2_000_000_000_000 if field != "recvWindow" else 600_000
    with pytest.raises(SignerRefused) as refused:
        op(cred, exchange, api, method, path, {field: value})
    assert refused.value.reason in ("parameter_forbidden", "recv_window_too_large")


def test_forward_leaves_only_from_a_configured_egress_address(sandbox, new_key, attacker: SignerClient) -> None:
    """The Binance IP probe names an egress address; the Sign Center sends from it only if it was configured,
    and the exchange sees that address (a key whitelisted for it alone works from it, not from the default)."""
    key = new_key("binance", ips=[EGRESS])
    cred = store(attacker, key, "binance")
    assert attacker.forward(cred, "binance", ["private"], "GET", "account", {}, egress=EGRESS)["status"] == 200
    from_default = attacker.forward(cred, "binance", ["private"], "GET", "account", {})
    assert from_default["status"] == 401 and '"code":-2015' in from_default["body"]
    for elsewhere in ("127.0.0.3", "10.0.0.1", "0.0.0.0"):
        with pytest.raises(SignerRefused) as refused:
            attacker.forward(cred, "binance", ["private"], "GET", "account", {}, egress=elsewhere)
        assert refused.value.reason == "egress_not_allowed"
    with pytest.raises(InputError) as bad:  # sign never takes an egress: nothing leaves through it
        attacker._call("sign", {"credential_id": cred, "exchange": "binance", "api": ["private"], "method": "GET",
                                "path": "account", "params": {}, "context": {}, "egress": EGRESS})
    assert "egress" in bad.value.message
