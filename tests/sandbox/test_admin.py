"""The sandbox's admin API: what a user does on an exchange's site, and what only the exchange can do."""

from __future__ import annotations

import httpx
import pytest


def test_key_on_a_new_sub_account(admin: httpx.Client) -> None:
    r = admin.post("/keys", json={"exchange": "bybit", "sub_account": True, "permissions": "read,spot",
                                  "ips": ["127.0.0.1"]})
    assert r.status_code == 201
    key = r.json()
    acct = admin.get(f"/accounts/bybit/{key['uid']}").json()
    assert acct["is_sub_account"] and acct["parent_uid"]
    assert admin.get(f"/accounts/bybit/{acct['parent_uid']}").json()["is_sub_account"] is False


def test_key_shapes_follow_each_exchange(admin: httpx.Client) -> None:
    b = admin.post("/keys", json={"exchange": "binance", "permissions": "read,spot,withdraw"}).json()
    o = admin.post("/keys", json={"exchange": "okx", "permissions": "read,spot"}).json()
    y = admin.post("/keys", json={"exchange": "bybit", "permissions": "read"}).json()
    assert len(b["api_key"]) == 64 and len(b["secret"]) == 64 and b["passphrase"] is None
    assert b["permissions"]["enableWithdrawals"] and b["permissions"]["enableSpotAndMarginTrading"]
    assert not b["permissions"]["enableFutures"]
    assert len(o["api_key"]) == 36 and o["passphrase"] and o["permissions"] == {"perm": ["read_only", "trade"]}
    assert len(y["api_key"]) == 18 and y["permissions"] == {"readOnly": 1, "permissions": {}}
    assert y["expires_at"] is not None  # Bybit: a key without IPs lives 90 days


def test_bad_input_names_the_field_and_changes_nothing(admin: httpx.Client) -> None:
    before = len(admin.get("/accounts").json())
    cases = [
        ({"exchange": "kraken"}, "exchange"),
        ({"exchange": "okx", "permissions": "read,teleport"}, "permissions"),
        ({"exchange": "okx", "balances": {"USDT": "lots"}}, "balances.USDT"),
        ({"exchange": "okx", "ips": "not-a-list-of-strings" and [1, 2]}, "ips"),
        ({"exchange": "okx", "uid": "999"}, "uid"),
    ]
    for body, field in cases:
        r = admin.post("/keys", json=body)
        assert r.status_code == 422, body
        assert r.json()["field"] == field
    assert admin.post("/keys", content=b"{not json").json()["field"] == "body"
    assert len(admin.get("/accounts").json()) == before


def test_fund_suspend_and_revoke(admin: httpx.Client, new_key) -> None:
    key = new_key("okx")
    r = admin.post(f"/accounts/okx/{key['uid']}/fund", json={"asset": "SOL", "amount": "12.5"})
    assert r.json()["balances"]["SOL"] == {"free": "12.5", "locked": "0"}
    assert admin.post(f"/accounts/okx/{key['uid']}/fund", json={"asset": "SOL", "amount": "-100"}).status_code == 422
    assert admin.patch(f"/accounts/okx/{key['uid']}", json={"suspended": True}).json()["suspended"] is True
    assert admin.patch(f"/accounts/okx/{key['uid']}", json={"banned": True}).json()["field"] == "banned"
    assert admin.delete(f"/keys/okx/{key['api_key']}").json() == {"revoked": True}
    assert admin.delete("/keys/okx/nope").status_code == 404


@pytest.mark.parametrize("body, field", [({"symbol": "BTC/USDT", "price": "-1"}, "price"),
                                         ({"symbol": "NOPE", "price": "1"}, "symbol")])
def test_price_input_is_checked(admin: httpx.Client, body: dict, field: str) -> None:
    r = admin.post("/prices", json=body)
    assert r.status_code == 422 and r.json()["field"] == field


def test_set_price(admin: httpx.Client) -> None:
    admin.post("/walk", json={"volatility": "0"})
    try:
        assert admin.post("/prices", json={"symbol": "SOL/USDT", "price": "123.456"}).json()["price"] == "123.46"
        assert admin.get("/prices").json()["SOLUSDT"] == "123.46"
    finally:
        admin.post("/walk", json={"volatility": "0.0005"})


def test_key_states_are_checked_and_shown(admin: httpx.Client, new_key) -> None:
    assert admin.post("/keys", json={"exchange": "binance", "demo": True}).json()["field"] == "demo"
    assert admin.post("/keys", json={"exchange": "okx", "demo": "yes"}).json()["field"] == "demo"
    okx = new_key("okx", demo=True)
    assert (okx["demo"], okx["frozen"], okx["last_used_at"]) == (True, False, None)
    path = f"/keys/okx/{okx['api_key']}"
    assert admin.patch(path, json={"last_used_at": "yesterday"}).json()["field"] == "last_used_at"
    assert admin.patch(path, json={"demo": False}).json()["field"] == "demo"  # a key's environment is fixed
    assert admin.patch(path, json={"frozen": True, "last_used_at": 1}).json()["frozen"] is True
    assert admin.get(path).json()["last_used_at"] == 1
    binance = new_key("binance")
    assert admin.patch(f"/keys/binance/{binance['api_key']}", json={"frozen": True}).json()["field"] == "frozen"
    assert admin.get("/keys/okx/nope").status_code == 404
