"""The forbidden families table: every endpoint ccxt can send for the five built-in exchanges has a class, the
classes say what the endpoints do, and the name patterns miss nothing the table has not reviewed.

ccxt's endpoints are read here from its generated implicit-API descriptors (``ccxt.abstract.<id>``: what a
call like ``ex.sapi_post_capital_withdraw_apply()`` hands to ``sign()``), not from the walk the generator
uses, so the two are checked against each other.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from ccxt.base.types import Entry

from cexlink.signer import families
from cexlink.signer.families import ALLOWED, FAMILIES, UNLISTED, Endpoint
from cexlink.signer.policy import READ_TRADE, Reason, api_path, forbidden

COVERED = ("binance", "okx", "bybit", "kucoin", "kraken")
ROOT = Path(__file__).resolve().parents[2]

# The endpoints the patterns match that the table clears, other than a GET: each one reviewed by a person.
# (A new one makes test_every_pattern_match_the_table_clears_was_reviewed fail until it is listed here.)
CLEARED_NON_GET = {
    ("kraken", "private", "POST", "GetApiKeyInfo"),  # Kraken sends every private call as POST: these read
    ("kraken", "private", "POST", "WithdrawAddresses"),
    ("kraken", "private", "POST", "WithdrawInfo"),
    ("kraken", "private", "POST", "WithdrawMethods"),
    ("kraken", "private", "POST", "WithdrawStatus"),
}


def ccxt_calls(exchange: str) -> set[Endpoint]:
    """(api path, METHOD, path) of every implicit-API method of the installed ccxt for an exchange."""
    api = importlib.import_module(f"ccxt.abstract.{exchange}").ImplicitAPI
    return {(api_path(e.api), e.method.upper(), e.path) for e in vars(api).values() if isinstance(e, Entry)}


@pytest.mark.parametrize("exchange", COVERED)
def test_every_ccxt_endpoint_has_a_class(exchange: str) -> None:
    table = families.tables()[exchange]
    calls = ccxt_calls(exchange)
    assert len(calls) > 50
    unclassified = sorted(calls - set(table.classes))
    assert not unclassified, f"classify these (scripts/classify_endpoints.py, then review): {unclassified}"
    assert not set(table.classes) - calls  # nothing ccxt no longer has
    assert set(families.ccxt_endpoints(exchange)) == calls  # the generator walks the same tree


def test_the_table_is_what_the_rules_make() -> None:
    """Nobody edited the JSON by hand: the generator, run now on the installed ccxt, writes the same bytes."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "classify_endpoints.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("exchange", COVERED)
def test_the_allowed_class_is_the_built_in_allowlist(exchange: str) -> None:
    classes = families.tables()[exchange].classes
    assert {e for e, cls in classes.items() if cls == ALLOWED} == READ_TRADE[exchange]
    assert all(forbidden(exchange, *e) is None for e in READ_TRADE[exchange])


@pytest.mark.parametrize("exchange", COVERED)
def test_every_pattern_match_the_table_clears_was_reviewed(exchange: str) -> None:
    table = families.tables()[exchange]
    cleared = {e for e, cls in table.classes.items() if cls in (ALLOWED, UNLISTED) and families.net(e[0], e[2])}
    assert cleared == set(table.reviewed)  # each with the reason it is not forbidden
    assert all(why.strip() for why in table.reviewed.values())
    for api, method, path in cleared:
        read = method == "GET" or "public" in api.lower()
        assert read or (exchange, api, method, path) in CLEARED_NON_GET, (exchange, api, method, path)


# What the patterns alone got wrong or missed, and decisions a reviewer should not have to rediscover.
CASES = [
    ("bybit", ("private", "POST", "v5/user/update-api"), "key_management"),
    ("bybit", ("private", "POST", "v5/user/delete-api"), "key_management"),
    ("bybit", ("private", "POST", "v5/user/create-sub-api"), "key_management"),
    ("bybit", ("private", "POST", "v5/position/move-positions"), "position_move"),
    ("bybit", ("private", "GET", "v5/user/del-submember"), "subaccount"),  # an action, though ccxt says GET
    ("bybit", ("private", "POST", "v5/broker/award/distribute-award"), "payment"),
    ("bybit", ("private", "POST", "v5/asset/transfer/universal-transfer"), "transfer"),
    ("binance", ("sapi", "POST", "giftcard/createCode"), "payment"),
    ("binance", ("sapi", "POST", "capital/withdraw/apply"), "withdrawal"),
    ("binance", ("sapi", "POST", "sub-account/universalTransfer"), "transfer"),
    ("binance", ("sapi", "POST", "managed-subaccount/withdraw"), "transfer"),  # between accounts, not out
    ("binance", ("sapiV2", "POST", "sub-account/subAccountApi/ipRestriction"), "key_management"),
    ("okx", ("private", "POST", "account/move-positions"), "position_move"),
    ("okx", ("private", "POST", "asset/withdrawal"), "withdrawal"),
    ("okx", ("private", "POST", "users/subaccount/modify-apikey"), "key_management"),
    ("kucoin", ("private", "POST", "sub/user/created"), "subaccount"),
    ("kucoin", ("private", "POST", "accounts/inner-transfer"), "transfer"),
    ("kucoin", ("private", "POST", "sub/api-key/update"), "key_management"),
    ("kraken", ("private", "POST", "Withdraw"), "withdrawal"),
    ("kraken", ("private", "POST", "WalletTransfer"), "transfer"),
    ("kraken", ("private", "POST", "CreateSubaccount"), "subaccount"),
    # Loans and margin borrowing land in the same account: unlisted (an operator may allow them), not forbidden.
    ("binance", ("sapi", "POST", "margin/loan"), UNLISTED),
    ("okx", ("private", "POST", "account/borrow-repay"), UNLISTED),
    ("bybit", ("private", "POST", "v5/crypto-loan/borrow"), UNLISTED),
    # Reads of a forbidden family's history are unlisted too.
    ("binance", ("sapi", "GET", "capital/withdraw/history"), UNLISTED),
    ("kraken", ("private", "POST", "WithdrawStatus"), UNLISTED),
]


@pytest.mark.parametrize("exchange, endpoint, expected", CASES, ids=[f"{c[0]}-{c[1][2]}" for c in CASES])
def test_endpoints_are_classified_by_what_they_do(exchange: str, endpoint: Endpoint, expected: str) -> None:
    assert families.tables()[exchange].classes[endpoint] == expected
    reason = forbidden(exchange, *endpoint)
    assert reason == (Reason(f"{expected}_forbidden") if expected in FAMILIES else None)


@pytest.mark.parametrize("exchange, api, method, path, reason", [
    # Not in ccxt's tree, so the table cannot vouch for it: the patterns still catch it.
    ("binance", "sapi", "PUT", "capital/withdraw/apply", Reason.WITHDRAWAL_FORBIDDEN),  # another method
    ("binance", "sapi", "POST", "giftcard/createCode2", Reason.PAYMENT_FORBIDDEN),
    ("binance", "sapi", "POST", "capital/withdraw/history", Reason.WITHDRAWAL_FORBIDDEN),  # the read, POSTed
    ("bybit", "private", "POST", "v6/user/update-api", Reason.KEY_MANAGEMENT_FORBIDDEN),
    ("okx", "private", "POST", "account/move-position", Reason.POSITION_MOVE_FORBIDDEN),
    ("kucoin", "private", "POST", "sub/user/create", Reason.SUBACCOUNT_FORBIDDEN),
    # Every other exchange has the patterns alone.
    ("gate", "private/withdrawals", "POST", "withdrawals", Reason.WITHDRAWAL_FORBIDDEN),
    ("mexc", "spot/private", "POST", "capital/transfer", Reason.TRANSFER_FORBIDDEN),
    ("bitget", "private/mix", "POST", "v2/mix/account/move-positions", Reason.POSITION_MOVE_FORBIDDEN),
    ("htx", "private", "POST", "v2/sub-user/api-key-generation", Reason.KEY_MANAGEMENT_FORBIDDEN),
    ("okx", "private", "GET", "not/a/real/path", None),
])
def test_the_patterns_are_the_second_net(exchange: str, api: str, method: str, path: str,
                                         reason: Reason | None) -> None:
    assert forbidden(exchange, api, method, path) == reason
