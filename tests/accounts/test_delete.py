"""Delete, safely (issue 17): it names what goes with the connection and waits for confirmation; it names what still
uses it; the platform's orders still resting on the exchange are found and cancelled with it."""

from __future__ import annotations

from typing import Any

import pytest

from cexlink.sandbox.clients import ccxt_client
from cexlink.storage.db import make_engine, make_session_factory
from cexlink.storage.repositories import Bots, Deals, Orders, SmartTrades
from tests.support.platform import EGRESS, Platform, body


def connected(platform: Platform, new_key: Any, exchange: str) -> tuple[dict[str, Any], dict[str, Any]]:
    key = new_key(exchange, ips=EGRESS)
    with platform.client() as c:
        r = c.post("/api/v1/accounts", json=body(key, exchange, f"{exchange} to delete"))
    assert r.status_code == 201, r.text
    return r.json(), key


def db_session(platform: Platform) -> Any:
    return make_session_factory(make_engine(platform.settings.database_url))()


def test_delete_without_confirm_lists_by_name_and_changes_nothing(platform: Platform, new_key) -> None:
    account, _ = connected(platform, new_key, "okx")
    alice = platform.ids["alice"]
    with db_session(platform) as db, db.begin():
        bot = Bots(db).add(alice, account["id"], "weekly dca", status="disabled")
        Deals(db).add(alice, bot.id, status="completed")
        SmartTrades(db).add(alice, account["id"], "ETH/USDT", status="completed")
    with platform.client() as c:
        r = c.delete(f"/api/v1/accounts/{account['id']}")
        assert r.status_code == 409, r.text
        out = r.json()
        assert out["error"] == "confirmation_required" and out["field"] == "confirm"
        for words in ("'weekly dca'", "1 deals", "1 SmartTrades", "statistics", "Nothing was deleted"):
            assert words in out["message"], out["message"]
        assert "confirm=true" in out["remedy"] and "--yes" in out["remedy"]
        assert out["will_delete"]["bots"] == ["weekly dca"]
        assert c.get(f"/api/v1/accounts/{account['id']}").json()["status"] == "ok"  # still there, still signing
        assert c.post(f"/api/v1/accounts/{account['id']}/refresh").json()["status"] == "ok"
    with db_session(platform) as db:
        assert [b.name for b in Bots(db).list(alice, account["id"])] == ["weekly dca"]


def test_delete_names_what_is_active_and_how_to_stop_it(platform: Platform, new_key) -> None:
    account, _ = connected(platform, new_key, "bybit")
    alice = platform.ids["alice"]
    with db_session(platform) as db, db.begin():
        bot = Bots(db).add(alice, account["id"], "grid BTC")
        deal = Deals(db).add(alice, bot.id, status="error")
    with platform.client() as c:
        r = c.delete(f"/api/v1/accounts/{account['id']}?confirm=true")
    assert r.status_code == 409, r.text
    out = r.json()
    assert out["error"] == "active_consumers"
    assert "'grid BTC'" in out["message"] and f"deal {deal.id} of bot 'grid BTC'" in out["message"]
    assert "disable the bots" in out["remedy"] and "close or cancel the deals" in out["remedy"]
    with platform.client() as c:
        assert c.get(f"/api/v1/accounts/{account['id']}").status_code == 200


@pytest.mark.parametrize("exchange", ["binance", "okx"])
def test_delete_cancels_the_platforms_order_resting_on_the_exchange(platform: Platform, new_key, sandbox,
                                                                    exchange: str) -> None:
    account, key = connected(platform, new_key, exchange)
    alice = platform.ids["alice"]
    ex = ccxt_client(exchange, sandbox.url, key)  # the same key places an order, as the platform's trading would
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000)  # far below the book: it rests, USDT locked
    assert ex.fetch_order(order["id"], "BTC/USDT")["status"] == "open"
    with db_session(platform) as db, db.begin():
        # Our table says the order is done (a lost update): the exchange's word is what counts.
        Orders(db).add(alice, account["id"], str(order["id"]), "BTC/USDT", status="canceled")
    with platform.client() as c:
        r = c.delete(f"/api/v1/accounts/{account['id']}?confirm=true")
        assert r.status_code == 409, r.text  # found before delete: it must be cancelled or it keeps funds locked
        assert f"order {order['id']} on BTC/USDT" in r.json()["message"]
        assert "cancel_orders=true" in r.json()["remedy"]
        assert ex.fetch_order(order["id"], "BTC/USDT")["status"] == "open"  # nothing done yet
        r = c.delete(f"/api/v1/accounts/{account['id']}?confirm=true&cancel_orders=true")
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["cancelled_orders"] == [f"order {order['id']} on BTC/USDT"]
        assert "Delete the API key on" in out["reminder"]
        assert c.get(f"/api/v1/accounts/{account['id']}").status_code == 404
    assert ex.fetch_order(order["id"], "BTC/USDT")["status"] == "canceled"  # the sandbox shows it cancelled
    assert ex.fetch_open_orders("BTC/USDT") == []
