"""Update API Key in place, refresh (one, mine, all), delete — through the REST API on the real platform."""

from __future__ import annotations

from typing import Any

import pytest

from cexlink.errors import SignerRefused
from cexlink.signer.client import SignerClient
from cexlink.storage.db import make_engine, make_session_factory
from cexlink.storage.repositories import Bots, Deals, Orders, SmartTrades
from tests.support.platform import EGRESS, Platform, body
from tests.support.sandbox import SANDBOXED


def connected(platform: Platform, new_key, exchange: str = "binance", user: str = "alice",
              **key_args: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    key = new_key(exchange, ips=EGRESS, **key_args)
    with platform.client(user) as c:
        r = c.post("/api/v1/accounts", json=body(key, exchange))
    assert r.status_code == 201, r.text
    return r.json(), key


def signer_status(platform: Platform, credential_id: str) -> str:
    client = SignerClient(socket_path=platform.signer.socket)
    try:
        return client.describe(credential_id)["status"]
    finally:
        client.close()


def db_session(platform: Platform) -> Any:
    return make_session_factory(make_engine(platform.settings.database_url))()


def test_update_key_in_place(platform: Platform, new_key, admin) -> None:
    account, old_key = connected(platform, new_key, "bybit")
    alice = platform.ids["alice"]
    with db_session(platform) as db, db.begin():  # a bot whose deal failed on the old key, a SmartTrade too
        bot = Bots(db).add(alice, account["id"], "dca one")
        deal = Deals(db).add(alice, bot.id, status="error")
        trade = SmartTrades(db).add(alice, account["id"], "BTC/USDT", status="error")
    admin.delete(f"/keys/bybit/{old_key['api_key']}")  # the old key dies on the exchange
    with platform.client() as c:
        broken = c.post(f"/api/v1/accounts/{account['id']}/refresh").json()
        assert broken["status"] == "invalid_api_key"
        new_key_ = new_key("bybit", ips=EGRESS, uid=old_key["uid"])
        r = c.put(f"/api/v1/accounts/{account['id']}/api-key",
                  json={"api_key": new_key_["api_key"], "secret": new_key_["secret"]})
        assert r.status_code == 200, r.text
        updated = r.json()
    assert updated["id"] == account["id"] and updated["name"] == account["name"]
    assert updated["status"] == "ok" and updated["credential_id"] != account["credential_id"]
    assert updated["masked_key"] == new_key_["api_key"][:4] + "…" + new_key_["api_key"][-4:]
    assert signer_status(platform, account["credential_id"]) == "revoked"  # the old credential is gone
    with db_session(platform) as db:
        assert [b.id for b in Bots(db).list(alice, account["id"])] == [bot.id]  # everything stays attached
        assert Deals(db).get(alice, deal.id).account_id == account["id"]
        assert Deals(db).get(alice, deal.id).status == "active"  # deals in error resume
        assert SmartTrades(db).get(alice, trade.id).status == "active"
    with platform.client() as c:
        kinds = [e["kind"] for e in c.get(f"/api/v1/accounts/{account['id']}/events").json()]
    assert {"connected", "key_updated", "status_changed"} <= set(kinds)


def test_update_key_of_another_exchange_account_is_refused(platform: Platform, new_key) -> None:
    account, _ = connected(platform, new_key, "okx")
    other = new_key("okx", ips=EGRESS)  # a key of a different OKX account
    with platform.client() as c:
        r = c.put(f"/api/v1/accounts/{account['id']}/api-key",
                  json={"api_key": other["api_key"], "secret": other["secret"], "passphrase": other["passphrase"]})
        assert r.status_code == 409
        message = r.json()["message"]
        assert message.startswith("This key belongs to another exchange account.")
        assert "still uses its previous key" in message  # a refused update says the old key is in use
        still = c.get(f"/api/v1/accounts/{account['id']}").json()
    assert still["credential_id"] == account["credential_id"]
    assert signer_status(platform, account["credential_id"]) == "active"


def test_update_key_runs_the_same_checks(platform: Platform, new_key) -> None:
    account, key = connected(platform, new_key, "binance")
    weak = new_key("binance", ips=EGRESS, uid=key["uid"], permissions="read")
    with platform.client() as c:
        r = c.put(f"/api/v1/accounts/{account['id']}/api-key",
                  json={"api_key": weak["api_key"], "secret": weak["secret"]})
        assert r.status_code == 400 and r.json()["error"] == "insufficient_permissions"
        r = c.put(f"/api/v1/accounts/{account['id']}/api-key", json={"api_key": weak["api_key"]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "secret"
        assert c.get(f"/api/v1/accounts/{account['id']}").json()["credential_id"] == account["credential_id"]


def test_refresh_records_status_changes_with_events(platform: Platform, new_key, admin) -> None:
    account, key = connected(platform, new_key, "binance")
    with platform.client() as c:
        admin.patch(f"/keys/binance/{key['api_key']}", json={"ips": ["127.0.0.1"]})  # user edits the key
        out = c.post(f"/api/v1/accounts/{account['id']}/refresh").json()
        assert out["status"] == "ip_not_whitelisted" and "127.0.0.2" in out["status_message"]
        admin.patch(f"/keys/binance/{key['api_key']}", json={"ips": EGRESS})
        assert c.post(f"/api/v1/accounts/{account['id']}/refresh").json()["status"] == "ok"
        changes = [e["data"] for e in c.get(f"/api/v1/accounts/{account['id']}/events").json()
                   if e["kind"] == "status_changed"]
    assert {(d["from"], d["to"]) for d in changes} == {("ok", "ip_not_whitelisted"), ("ip_not_whitelisted", "ok")}


def test_transient_errors_never_mark_a_key_bad(platform: Platform, new_key, admin) -> None:
    account, _ = connected(platform, new_key, "okx")
    admin.post("/maintenance", json={"exchange": "okx", "on": True})
    try:
        with platform.client() as c:
            out = c.post(f"/api/v1/accounts/{account['id']}/refresh").json()
    finally:
        admin.post("/maintenance", json={"exchange": "okx", "on": False})
    assert out["status"] == "exchange_maintenance" and "Your key is fine" in out["status_remedy"]
    assert signer_status(platform, account["credential_id"]) == "active"
    with platform.client() as c:
        assert c.post(f"/api/v1/accounts/{account['id']}/refresh").json()["status"] == "ok"


def test_refresh_all_of_mine_and_admin_all(platform: Platform, new_key) -> None:
    mine = [connected(platform, new_key, ex, user="bob")[0] for ex in SANDBOXED]
    with platform.client("bob") as bob:
        out = bob.post("/api/v1/accounts/refresh").json()
        assert out["refreshed"] == len(bob.get("/api/v1/accounts").json()) >= len(mine)
        assert bob.post("/api/v1/accounts/refresh?all=true").status_code == 403
    with platform.client("root") as root:
        everyone = root.post("/api/v1/accounts/refresh?all=true").json()
    assert everyone["refreshed"] >= out["refreshed"]


def test_delete_refused_while_in_use_then_removes_everything(platform: Platform, new_key) -> None:
    account, _ = connected(platform, new_key, "bybit")
    alice = platform.ids["alice"]
    with db_session(platform) as db, db.begin():
        bot = Bots(db).add(alice, account["id"], "grid")
        deal = Deals(db).add(alice, bot.id, status="active")
        trade = SmartTrades(db).add(alice, account["id"], "BTC/USDT", status="active")
        order = Orders(db).add(alice, account["id"], "123", "BTC/USDT", deal_id=deal.id)
    with platform.client() as c:
        r = c.delete(f"/api/v1/accounts/{account['id']}")
        assert r.status_code == 409
        assert r.json()["active"] == {"bots": 1, "deals": 1, "smart_trades": 1, "open_orders": 1}
        assert "1 bots, 1 deals, 1 smart trades, 1 open orders" in r.json()["message"]
    with db_session(platform) as db, db.begin():
        Bots(db).set_status(alice, bot.id, "disabled")
        Deals(db).set_status(alice, deal.id, "completed")
        SmartTrades(db).set_status(alice, trade.id, "cancelled")
        Orders(db).set_status(alice, order.id, "canceled")
    with platform.client() as c:
        r = c.delete(f"/api/v1/accounts/{account['id']}?confirm=true")
        assert r.status_code == 200, r.text
        assert "Delete the API key on Bybit too" in r.json()["reminder"]
        assert c.get(f"/api/v1/accounts/{account['id']}").status_code == 404
    with pytest.raises(SignerRefused, match="credential_revoked"):
        client = SignerClient(socket_path=platform.signer.socket)
        try:
            client.forward(account["credential_id"], "bybit", ["private"], "GET", "v5/account/info", {})
        finally:
            client.close()
    with db_session(platform) as db:
        assert Bots(db).list(alice, account["id"]) == []
