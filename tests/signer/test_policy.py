"""Default deny: what a leaked platform could be made to do with a key is limited to reading and spot trading.

Each call below is a real ccxt call (unified or implicit API) on a remote-signed instance; the Sign Center
refuses it over its socket with a reason code, and the refusal is audited.
"""

from __future__ import annotations

import time
from typing import Any

import ccxt
import pytest

from cexlink.ccxt import remote
from cexlink.errors import SignerRefused
from cexlink.sandbox.clients import point_ccxt
from cexlink.signer.client import SignerClient
from tests.support.signer import store

# (exchange, what, call, expected reason)
CORPUS: list[tuple[str, str, Any, str]] = [
    ("binance", "withdraw", lambda ex: ex.sapi_post_capital_withdraw_apply(
        {"coin": "USDT", "address": "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb", "amount": "100", "network": "TRX"}),
     "withdrawal_forbidden"),
    ("binance", "universal transfer", lambda ex: ex.sapi_post_asset_transfer(
        {"type": "MAIN_UMFUTURE", "asset": "USDT", "amount": "10"}), "transfer_forbidden"),
    ("binance", "sub-account transfer", lambda ex: ex.sapi_post_sub_account_transfer_subtosub(
        {"toEmail": "x@example.com", "asset": "USDT", "amount": "1"}), "transfer_forbidden"),
    ("binance", "create sub-account", lambda ex: ex.sapi_post_sub_account_virtualsubaccount(
        {"subAccountString": "evil"}), "subaccount_forbidden"),
    ("binance", "sub-account key IPs", lambda ex: ex.sapiv2_post_sub_account_subaccountapi_iprestriction(
        {"email": "x@example.com", "subAccountApiKey": "k", "status": "1"}), "key_management_forbidden"),
    ("binance", "margin borrow", lambda ex: ex.sapi_post_margin_loan({"asset": "BTC", "amount": "1"}),
     "endpoint_not_allowed"),
    ("binance", "futures order", lambda ex: ex.fapiprivate_post_order(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"}), "endpoint_not_allowed"),
    ("okx", "withdraw", lambda ex: ex.private_post_asset_withdrawal(
        {"ccy": "USDT", "amt": "100", "dest": "4", "toAddr": "addr", "chain": "USDT-TRC20"}),
     "withdrawal_forbidden"),
    ("okx", "funds transfer", lambda ex: ex.private_post_asset_transfer(
        {"ccy": "USDT", "amt": "1", "from": "18", "to": "6"}), "transfer_forbidden"),
    ("okx", "create sub-account key", lambda ex: ex.private_post_users_subaccount_apikey(
        {"subAcct": "s", "label": "l", "passphrase": "p"}), "key_management_forbidden"),
    ("okx", "set leverage", lambda ex: ex.private_post_account_set_leverage(
        {"instId": "BTC-USDT", "lever": "100", "mgnMode": "cross"}), "endpoint_not_allowed"),
    ("bybit", "withdraw", lambda ex: ex.private_post_v5_asset_withdraw_create(
        {"coin": "USDT", "chain": "TRX", "address": "a", "amount": "100"}), "withdrawal_forbidden"),
    ("bybit", "inter transfer", lambda ex: ex.private_post_v5_asset_transfer_inter_transfer(
        {"transferId": "x", "coin": "USDT", "amount": "1", "fromAccountType": "UNIFIED",
         "toAccountType": "FUND"}), "transfer_forbidden"),
    ("bybit", "create sub-member", lambda ex: ex.private_post_v5_user_create_sub_member(
        {"username": "evil", "memberType": 1}), "subaccount_forbidden"),
    ("bybit", "edit own key", lambda ex: ex.private_post_v5_user_update_api(
        {"readOnly": 0, "ips": "*"}), "key_management_forbidden"),
    ("bybit", "delete own key", lambda ex: ex.private_post_v5_user_delete_api({}), "key_management_forbidden"),
    ("bybit", "create sub-account key", lambda ex: ex.private_post_v5_user_create_sub_api(
        {"subuid": 1, "readOnly": 0, "permissions": {"Wallet": ["AccountTransfer"]}}), "key_management_forbidden"),
    ("bybit", "move positions", lambda ex: ex.private_post_v5_position_move_positions(
        {"fromUid": "1", "toUid": "2", "list": []}), "position_move_forbidden"),
    ("binance", "gift card", lambda ex: ex.sapi_post_giftcard_createcode({"token": "USDT", "amount": "100"}),
     "payment_forbidden"),
    ("okx", "move positions", lambda ex: ex.private_post_account_move_positions(
        {"fromAcct": "0", "toAcct": "evil", "legs": []}), "position_move_forbidden"),
    ("binance", "withdrawal history (a read, but not allowed)", lambda ex: ex.sapi_get_capital_withdraw_history(),
     "endpoint_not_allowed"),
]


@pytest.mark.parametrize("exchange, what, call, reason", CORPUS, ids=[f"{c[0]}-{c[1]}" for c in CORPUS])
def test_forbidden_calls_are_refused(sandbox, new_key, client: SignerClient, exchange: str, what: str, call: Any,
                                     reason: str) -> None:
    key = new_key(exchange, permissions="read,spot,withdraw,transfer", ips=["127.0.0.1"])
    cred = store(client, key, exchange)
    ex = point_ccxt(remote(exchange, cred, client, config={"enableRateLimit": False}), sandbox.url)
    with pytest.raises(ccxt.PermissionDenied, match=f"Sign Center refused: {reason}"):
        call(ex)


def test_recv_window_is_capped(new_key, client: SignerClient) -> None:
    cred = store(client, new_key("binance"), "binance")
    with pytest.raises(SignerRefused) as refused:
        client.forward(cred, "binance", ["private"], "GET", "account", {"recvWindow": 60000})
    assert refused.value.reason == "recv_window_too_large"
    with pytest.raises(SignerRefused) as refused:
        client.forward(cred, "binance", ["private"], "GET", "account", {}, {"recvWindow": 30000})
    assert refused.value.reason == "recv_window_too_large"
    with pytest.raises(SignerRefused) as refused:
        client.forward(cred, "binance", ["private"], "GET", "account", {}, {"timeDifference": -3_600_000})
    assert refused.value.reason == "clock_offset_too_large"
    assert client.forward(cred, "binance", ["private"], "GET", "account", {}, {"recvWindow": 5000})["status"] == 200


def test_a_credential_signs_only_for_its_exchange(new_key, client: SignerClient) -> None:
    cred = store(client, new_key("binance"), "binance")
    with pytest.raises(SignerRefused) as refused:
        client.forward(cred, "okx", ["private"], "GET", "account/balance", {})
    assert refused.value.reason == "exchange_mismatch"


def test_per_credential_rate_limit(client: SignerClient) -> None:
    # KuCoin: signed and answered without a network round trip, so 200 calls fit well inside the refill time.
    def kucoin(key: str) -> str:
        return client.store("user-1", "kucoin", key, "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b",
                            "kc-pass-123")["credential_id"]

    cred = kucoin("64f1a2b3c4d5e6f708192a3b")
    outcomes = []
    started = time.monotonic()
    for _ in range(200):  # default: 100 burst, 50/s
        try:
            client.sign(cred, "kucoin", ["private"], "GET", "accounts", {})
            outcomes.append("ok")
        except SignerRefused as e:
            outcomes.append(e.reason)
    elapsed = time.monotonic() - started
    signed = outcomes.count("ok")
    # The burst, then no more than the rate refills while the calls go on (which call a refilled token falls
    # to depends on the machine's speed, so not which ones: how many).
    assert 100 <= signed <= 100 + 50 * elapsed + 1
    assert outcomes.count("rate_limited") == 200 - signed > 0
    other = kucoin("64f1a2b3c4d5e6f708192a3c")  # another key is unaffected
    assert client.sign(other, "kucoin", ["private"], "GET", "accounts", {})["url"]
