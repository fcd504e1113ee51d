"""An operator's policy file: endpoints of another ccxt exchange allowed beyond the built-in allowlists, so that
it signs through the same path; entries the policy never signs are refused when the Sign Center starts.

The exchange here is Gate, over the real socket with real URLs (nothing is sent): its ccxt api is a path
(``["private", "spot"]``), which the policy keeps whole.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import ccxt
import pytest

from cexlink.errors import InputError, SignerRefused
from cexlink.signer.client import SignerClient
from cexlink.signer.engine import SignCenter, SignerConfig
from cexlink.signer.policy import READ_TRADE, allowlists
from tests.support.signer import start_signer

GATE = {"api_key": "3b1e6d2f9a8c47e5b0d1c2f3a4b5c6d7",
        "secret": "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0"}
POLICY = {"allow": {"gate": [["private/spot", "GET", "accounts"], ["private/spot", "POST", "orders"]]}}
ORDER = {"currency_pair": "BTC_USDT", "type": "limit", "account": "spot", "side": "buy", "amount": "0.01",
         "price": "60000", "time_in_force": "gtc", "text": "t-fixed-1"}


def _local_gate(timestamp_s: str) -> Any:
    """A locally keyed ccxt Gate whose clock reads the second the Sign Center signed in."""
    ex = ccxt.gate({"apiKey": GATE["api_key"], "secret": GATE["secret"]})
    ex.milliseconds = lambda: int(timestamp_s) * 1000
    return ex


def test_a_policy_file_lets_another_exchange_sign_through_the_same_path(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    proc = start_signer(tmp_path, None, extra=["--policy-file", str(policy)])
    client = SignerClient(socket_path=proc.socket)
    try:
        cred = client.store("owner", "gate", GATE["api_key"], GATE["secret"])["credential_id"]
        for method, path, params in (("GET", "accounts", {}), ("POST", "orders", ORDER)):
            signed = client.sign(cred, "gate", ["private", "spot"], method, path, dict(params))
            local = _local_gate(signed["headers"]["Timestamp"]).sign(path, ["private", "spot"], method,
                                                                     dict(params))
            assert signed == {k: local.get(k) for k in ("url", "method", "headers", "body")}
        reasons = []
        for api, method, path in ((["private", "margin"], "GET", "accounts"),  # not on the list: another sub-API
                                  (["private", "withdrawals"], "POST", "withdrawals"),
                                  (["private", "subAccounts"], "POST", "sub_accounts")):  # named by its api path
            with pytest.raises(SignerRefused) as e:
                client.sign(cred, "gate", api, method, path, {})
            reasons.append(e.value.reason)
        assert reasons == ["endpoint_not_allowed", "withdrawal_forbidden", "subaccount_forbidden"]
    finally:
        client.close()
        proc.stop()


def test_without_a_policy_file_another_exchange_signs_nothing(tmp_path: Path) -> None:
    center = SignCenter(SignerConfig(tmp_path))
    try:
        cred = center.store_credential("owner", "gate", GATE["api_key"], GATE["secret"])["credential_id"]
        with pytest.raises(SignerRefused) as e:
            center.sign(cred, "gate", ["private", "spot"], "GET", "accounts", {})
        assert e.value.reason == "endpoint_not_allowed"
    finally:
        center.close()


def test_a_policy_file_may_allow_a_reviewed_read_of_a_forbidden_family() -> None:
    """Withdrawal history matches the withdrawal pattern, but it reads: the table clears it for an operator."""
    merged = allowlists({"allow": {"binance": [["sapi", "GET", "capital/withdraw/history"]]}})
    assert ("sapi", "GET", "capital/withdraw/history") in merged["binance"]
    with pytest.raises(InputError):  # the same path POSTed is not ccxt's read: the patterns refuse it
        allowlists({"allow": {"binance": [["sapi", "POST", "capital/withdraw/history"]]}})


def test_a_policy_file_adds_to_the_built_in_allowlists() -> None:
    merged = allowlists({"allow": {"gate": [["private/spot", "get", "accounts"]],
                                   "binance": [["private", "GET", "myPreventedMatches"]]}})
    assert merged["gate"] == {("private/spot", "GET", "accounts")}  # the method as ccxt passes it
    assert merged["binance"] == READ_TRADE["binance"] | {("private", "GET", "myPreventedMatches")}
    assert merged["okx"] == READ_TRADE["okx"]


@pytest.mark.parametrize("content, field, says", [
    ([], "policy", "must be an object"),
    ({"deny": {}}, "deny", "is not a policy setting"),
    ({"allow": []}, "allow", "must be an object"),
    ({"allow": {"gatex": []}}, "allow.gatex", "is not a ccxt exchange id"),
    ({"allow": {"gate": {"private/spot": "accounts"}}}, "allow.gate", "must be a list"),
    ({"allow": {"gate": [["private/spot", "GET"]]}}, "allow.gate[0]", "must be [api, method, path]"),
    ({"allow": {"gate": [["private/spot", "GET", "accounts"], ["private/spot", "FETCH", "x"]]}}, "allow.gate[1]",
     "method must be one of"),
    ({"allow": {"gate": [["private/withdrawals", "POST", "withdrawals"]]}}, "allow.gate[0]",
     "is never signed (withdrawal_forbidden)"),
    ({"allow": {"binance": [["sapi", "POST", "sub-account/transfer/subToSub"]]}}, "allow.binance[0]",
     "is never signed (transfer_forbidden)"),
    # Accepted before the endpoints were classified (signer/families.json): the names did not match a pattern.
    ({"allow": {"bybit": [["private", "POST", "v5/user/update-api"]]}}, "allow.bybit[0]",
     "is never signed (key_management_forbidden)"),
    ({"allow": {"bybit": [["private", "POST", "v5/user/delete-api"]]}}, "allow.bybit[0]",
     "is never signed (key_management_forbidden)"),
    ({"allow": {"bybit": [["private", "POST", "v5/user/create-sub-api"]]}}, "allow.bybit[0]",
     "is never signed (key_management_forbidden)"),
    ({"allow": {"binance": [["sapi", "POST", "giftcard/createCode"]]}}, "allow.binance[0]",
     "is never signed (payment_forbidden)"),
    ({"allow": {"kucoin": [["private", "POST", "sub/user/created"]]}}, "allow.kucoin[0]",
     "is never signed (subaccount_forbidden)"),
    ({"allow": {"okx": [["private", "POST", "account/move-positions"]]}}, "allow.okx[0]",
     "is never signed (position_move_forbidden)"),
    ({"allow": {"bybit": [["private", "POST", "v5/position/move-positions"]]}}, "allow.bybit[0]",
     "is never signed (position_move_forbidden)"),
    ({"allow": {"binance": [["private", "GET", "myPreventedMatches"], ["private", "GET", "myPreventedMatch"]]}},
     "allow.binance[1]", "GET private myPreventedMatch is not an endpoint of ccxt's binance API"),
], ids=["not-an-object", "unknown-setting", "allow-not-an-object", "unknown-exchange", "entries-not-a-list",
        "short-entry", "bad-method", "withdrawal", "transfer", "bybit-update-api", "bybit-delete-api",
        "bybit-create-sub-api", "binance-giftcard", "kucoin-sub-user", "okx-move-positions", "bybit-move-positions",
        "typo"])
def test_a_bad_policy_file_is_refused_with_the_entry_named(content: Any, field: str, says: str) -> None:
    with pytest.raises(InputError) as e:
        allowlists(content)
    assert e.value.field == field and says in e.value.message


@pytest.mark.parametrize("text, says", [
    (json.dumps({"allow": {"gate": [["private/withdrawals", "POST", "withdrawals"]]}}),
     "allow.gate[0]: private/withdrawals withdrawals is never signed (withdrawal_forbidden)"),
    ("{'allow': {}}", "is not JSON"),
], ids=["forbidden-entry", "not-json"])
def test_the_sign_center_does_not_start_on_a_bad_policy_file(tmp_path: Path, text: str, says: str) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(text)
    sock = tmp_path / "signer.sock"
    out = subprocess.run([sys.executable, "-m", "cexlink.cli", "signer", "serve", "--socket", str(sock),
                          "--data-dir", str(tmp_path / "data"), "--policy-file", str(policy)],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "300"})
    assert out.returncode == 2
    assert "--policy-file" in out.stderr and says in out.stderr
    assert not sock.exists()  # nothing was served
