"""Messages right for the moment (issue 17): a refused connect saved nothing, so it never speaks of an existing
connection; a refused update says the previous key stays; already-connected tells own from another user's."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.platform import EGRESS, Platform, body

EXISTING_ONLY = re.compile(r"\bRefresh\b|Update API Key|\bhere\b")  # words that fit only a saved connection


def post(platform: Platform, key: dict[str, Any], exchange: str, user: str = "alice", name: str = "main") -> Any:
    with platform.client(user) as c:
        return c.post("/api/v1/accounts", json=body(key, exchange, name))


def wrong(field: str, value: str) -> Any:
    def spoil(key: dict[str, Any]) -> dict[str, Any]:
        return {**key, field: value}
    return spoil


# Every refusal the sandbox can provoke on connect: (exchange, key arguments, how the key is spoilt, status).
REFUSALS = [
    ("binance", {"ips": EGRESS}, "deleted", "invalid_api_key"),
    ("bybit", {"ips": EGRESS}, "deleted", "invalid_api_key"),
    ("binance", {"ips": EGRESS}, wrong("secret", "x" * 64), "invalid_api_key"),
    ("okx", {"ips": EGRESS}, wrong("passphrase", "Wrong-pass-1"), "invalid_api_key"),
    ("bybit", {"ips": EGRESS, "expires_in_days": -1}, None, "key_expired"),
    ("okx", {"ips": EGRESS, "permissions": "read"}, None, "insufficient_permissions"),
    ("bybit", {"ips": EGRESS, "permissions": "read,spot,withdraw"}, None, "insufficient_permissions"),
    ("okx", {}, None, "ip_not_whitelisted"),
    ("okx", {"ips": ["198.51.100.9"]}, None, "ip_not_whitelisted"),
]


@pytest.mark.parametrize("exchange, args, spoil, status", REFUSALS)
def test_a_refused_connect_never_speaks_of_an_existing_connection(platform: Platform, new_key, admin, exchange: str,
                                                                  args: dict[str, Any], spoil: Any,
                                                                  status: str) -> None:
    key = new_key(exchange, **args)
    if spoil == "deleted":
        admin.delete(f"/keys/{exchange}/{key['api_key']}")
    elif spoil is not None:
        key = spoil(key)
    r = post(platform, key, exchange)
    assert r.status_code in (400, 503), r.text
    out = r.json()
    assert out["error"] == status, out
    assert not EXISTING_ONLY.search(out["message"] + " " + out["remedy"]), out


def test_a_refused_update_says_the_previous_key_stays(platform: Platform, new_key) -> None:
    key = new_key("okx", ips=EGRESS)
    account = post(platform, key, "okx").json()
    worse = new_key("okx", ips=EGRESS, uid=key["uid"], permissions="read,spot,withdraw")
    with platform.client() as c:
        r = c.put(f"/api/v1/accounts/{account['id']}/api-key",
                  json={"api_key": worse["api_key"], "secret": worse["secret"], "passphrase": worse["passphrase"]})
        assert r.status_code == 400, r.text
        assert "still uses its previous key" in r.json()["message"]
        assert "Update API Key here" not in r.json()["remedy"]
        shown = c.get(f"/api/v1/accounts/{account['id']}").json()
    assert shown["status"] == "ok" and shown["masked_key"] == account["masked_key"]  # it really does


def test_already_connected_names_your_connection_or_says_another_user(platform: Platform, new_key) -> None:
    first = new_key("bybit", ips=EGRESS)
    account = post(platform, first, "bybit", name="Bybit savings").json()
    again = new_key("bybit", ips=EGRESS, uid=first["uid"])
    mine = post(platform, again, "bybit").json()
    assert mine["error"] == "account_already_connected"
    assert f"'Bybit savings' (id {account['id']})" in mine["message"] and "Update API Key" in mine["remedy"]
    theirs = post(platform, again, "bybit", user="bob")
    assert theirs.status_code == 409
    out = theirs.json()
    assert "another user of the platform" in out["message"]
    assert "Bybit savings" not in theirs.text and str(account["id"]) not in out["message"] + out["remedy"]


def test_binance_2015_names_both_causes_and_no_passphrase(platform: Platform, new_key, admin) -> None:
    key = new_key("binance", ips=["198.51.100.9"])  # on no list of ours: every egress IP gets -2015
    out = post(platform, key, "binance").json()
    assert out["exchange_code"] == "-2015", out
    text = out["message"] + " " + out["remedy"]
    assert "deleted or mistyped" in out["message"] and "is not on the key's IP list" in out["message"]
    assert all(ip in out["message"] for ip in EGRESS)
    assert "passphrase" not in text.lower()


def test_binance_ip_list_reads_not_reported(platform: Platform, new_key) -> None:
    account = post(platform, new_key("binance", ips=EGRESS), "binance").json()
    assert account["ip_whitelist"] is None and "not reported by Binance" in account["ip_whitelist_note"]
    okx = post(platform, new_key("okx", ips=EGRESS), "okx").json()
    assert sorted(okx["ip_whitelist"]) == sorted(EGRESS) and okx["ip_whitelist_note"] is None


def test_withdrawals_enabled_is_its_own_cause(platform: Platform, new_key) -> None:
    out = post(platform, new_key("binance", ips=EGRESS, permissions="read,spot,withdraw"), "binance").json()
    assert out["cause"] == "withdrawals_enabled" and out["forbidden"] == ["Enable Withdrawals"]
    assert "can withdraw funds" in out["message"] and "lacks permissions" not in out["message"]


def test_unused_rights_get_a_least_privilege_warning(platform: Platform, new_key) -> None:
    r = post(platform, new_key("binance", ips=EGRESS, permissions="read,spot,futures,transfer"), "binance")
    assert r.status_code == 201, r.text  # a warning, not a refusal
    warned = [w for w in r.json()["warnings"] if "never uses" in w]
    assert warned and "Enable Futures" in warned[0] and "least privilege" in warned[0]


def test_wrong_okx_passphrase_says_so(platform: Platform, new_key) -> None:
    key = {**new_key("okx", ips=EGRESS), "passphrase": "Wrong-pass-1"}
    out = post(platform, key, "okx").json()
    assert (out["exchange_code"], out["cause"]) == ("50105", "bad_passphrase")
    assert "passphrase is wrong" in out["message"]
