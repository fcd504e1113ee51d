"""Exchange accounts: owner scoping, uniqueness, updates, exact balances, UTC times, cascades, active consumers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from cexlink.domain.statuses import Status
from cexlink.errors import InputError
from cexlink.storage.db import session_scope
from cexlink.storage.errors import Conflict, NotFound
from cexlink.storage.repositories import Repos
from cexlink.storage.tables import Bot, Deal, Event, ExchangeAccount, Order, SmartTrade
from tests.support.clock import Clock
from tests.support.storage import Tx, account_fields


def _two_users(tx: Tx) -> tuple[int, int]:
    with tx() as r:
        return r.users.create("alice").id, r.users.create("bob").id


def test_owner_scoping(tx: Tx) -> None:
    a, b = _two_users(tx)
    with tx() as r:
        acc = r.accounts.add(a, **account_fields()).id
    with tx() as r:
        assert r.accounts.list(b) == []
        for attempt in (lambda: r.accounts.get(b, acc), lambda: r.accounts.update(b, acc, name="mine now"),
                        lambda: r.accounts.delete(b, acc), lambda: r.accounts.active_consumers(b, acc),
                        lambda: r.bots.add(b, acc, "sneaky"), lambda: r.smart_trades.add(b, acc, "BTC/USDT"),
                        lambda: r.orders.add(b, acc, "1", "BTC/USDT"),
                        lambda: r.events.add(b, acc, "info", "connected", "hi")):
            with pytest.raises(NotFound) as missing:
                attempt()
            # The same answer as for an id that does not exist: existence is not revealed.
            assert str(missing.value) == f"exchange account {acc} not found"
        with pytest.raises(NotFound) as really_missing:
            r.accounts.get(b, 999_999)
        assert str(really_missing.value) == "exchange account 999999 not found"
    with tx() as r:
        bot = r.bots.add(a, acc, "dca").id
        deal = r.deals.add(a, bot).id
        with pytest.raises(NotFound):
            r.deals.add(b, bot)
        with pytest.raises(NotFound):
            r.deals.set_status(b, deal, "failed")
        with pytest.raises(NotFound):
            r.bots.set_status(b, bot, "disabled")
        assert r.bots.list(b) == [] and r.deals.list(b) == []
    with tx() as r:
        mine = r.accounts.get(a, acc)
        assert mine.name.startswith("Main") and [x.id for x in r.accounts.list(a)] == [acc]
        assert [x.id for x in r.accounts.list_all()] == [acc]
        assert r.deals.get(a, deal).status == "active" and r.bots.get(a, bot).status == "enabled"


def test_uniqueness_conflicts_name_the_field(tx: Tx) -> None:
    a, b = _two_users(tx)
    with tx() as r:
        first = r.accounts.add(a, **account_fields(exchange="okx", exchange_uid="42", key_fingerprint="fp-A"))
    with tx() as r, pytest.raises(Conflict) as same_account:  # by another user too: one exchange account, once
        r.accounts.add(b, **account_fields(exchange="okx", exchange_uid="42"))
    assert same_account.value.field == "exchange_uid"
    assert same_account.value.message == "this account is already connected"
    with tx() as r, pytest.raises(Conflict) as same_key:
        r.accounts.add(a, **account_fields(exchange="okx", key_fingerprint="fp-A"))
    assert same_key.value.field == "key_fingerprint"
    with tx() as r:  # the same uid on another exchange is another account
        other = r.accounts.add(a, **account_fields(exchange="bybit", exchange_uid="42")).id
        assert r.accounts.by_exchange_uid("okx", "42").id == first.id
        assert r.accounts.by_fingerprint("fp-A").id == first.id
        assert r.accounts.by_exchange_uid("binance", "42") is None
    with tx() as r, pytest.raises(Conflict) as on_update:  # an Update API Key with a key in use elsewhere
        r.accounts.update(a, other, key_fingerprint="fp-A")
    assert on_update.value.field == "key_fingerprint"
    with tx() as r:
        assert r.accounts.get(a, other).key_fingerprint != "fp-A"
        with pytest.raises(Conflict) as name:
            r.users.create("alice")
        assert name.value.field == "name"
        r.users.create("carol")  # the session is usable again after a conflict


def test_update_changes_only_whitelisted_fields(tx: Tx, clock: Clock) -> None:
    a, _ = _two_users(tx)
    with tx() as r:
        acc = r.accounts.add(a, **account_fields(exchange_uid="7"))
        created = acc.updated_at
    clock.advance(60)
    with tx() as r:
        for field in ("exchange_uid", "exchange", "owner_id", "id", "created_at"):
            with pytest.raises(InputError) as refused:
                r.accounts.update(a, acc.id, **{field: "x"})
            assert refused.value.field == field
        for field, bad in (("status", "broken"), ("connected_via", "carrier pigeon"), ("permissions", "spot"),
                           ("ip_whitelist", [1, 2]), ("warnings", 5)):
            with pytest.raises(InputError) as refused:
                r.accounts.update(a, acc.id, **{field: bad})
            assert refused.value.field == field
    with tx() as r:
        r.accounts.update(a, acc.id, status=Status.INVALID_API_KEY, status_message="no", status_remedy="do",
                          status_code="-2015", permissions=("reading",), last_checked_at=clock.datetime())
    with tx() as r:
        got = r.accounts.get(a, acc.id)
        assert (got.status, got.status_code, got.permissions, got.exchange_uid) == (
            "invalid_api_key", "-2015", ["reading"], "7")
        assert got.updated_at == created + timedelta(seconds=60) and got.last_checked_at == clock.datetime()


def test_decimal_balances_round_trip_exactly(tx: Tx) -> None:
    a, _ = _two_users(tx)
    balances = {"BTC": {"free": Decimal("0.00000001"), "used": "0", "total": "0.00000001"},
                "SHIB": {"free": "123456789012345678.123456789012345678", "used": "1E-18", "total": 5}}
    with tx() as r:
        acc = r.accounts.add(a, **account_fields(balances=balances)).id
    with tx() as r:
        got = r.accounts.get(a, acc).balances
    assert got["BTC"] == {"free": "0.00000001", "used": "0", "total": "0.00000001"}
    assert got["SHIB"]["free"] == "123456789012345678.123456789012345678"
    assert Decimal(got["SHIB"]["used"]) == Decimal("1E-18") and got["SHIB"]["total"] == "5"
    for bad in ({"BTC": {"free": 0.1}}, {"BTC": {"free": "NaN"}}, {"BTC": {"free": "abc"}}, {"BTC": {"gift": "1"}}):
        with tx() as r, pytest.raises(InputError) as refused:
            r.accounts.update(a, acc, balances=bad)
        assert refused.value.field.startswith("balances")


def test_datetimes_are_aware_utc(tx: Tx) -> None:
    a, _ = _two_users(tx)
    tokyo = datetime(2026, 5, 1, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=9)))
    with tx() as r:
        acc = r.accounts.add(a, **account_fields(key_created_at=tokyo, key_expires_at=tokyo + timedelta(days=90))).id
    with tx() as r:
        got = r.accounts.get(a, acc)
        assert got.key_created_at == tokyo and got.key_created_at.tzinfo == UTC
        assert got.key_created_at.hour == 0 and got.key_expires_at == tokyo + timedelta(days=90)
    with pytest.raises(InputError) as naive, tx() as r:
        r.accounts.update(a, acc, key_expires_at=datetime(2026, 1, 1))
    assert naive.value.field == "key_expires_at"


def _populate(r: Repos, owner: int, acc: int) -> None:
    bot = r.bots.add(owner, acc, "dca-1").id
    r.bots.add(owner, acc, "dca-2", status="disabled")
    deals = [r.deals.add(owner, bot, status=s).id for s in ("active", "error", "completed", "failed")]
    trades = [r.smart_trades.add(owner, acc, "ETH/USDT", status=s).id for s in ("active", "cancelled")]
    r.orders.add(owner, acc, f"{acc}-1", "BTC/USDT", deal_id=deals[0])
    r.orders.add(owner, acc, f"{acc}-2", "BTC/USDT", smart_trade_id=trades[0])
    r.orders.add(owner, acc, f"{acc}-3", "BTC/USDT")  # matched to nothing: a leftover, still open
    r.orders.add(owner, acc, f"{acc}-4", "BTC/USDT", status="closed", deal_id=deals[2])
    r.orders.add(owner, acc, f"{acc}-5", "BTC/USDT", status="canceled")


def test_active_consumers_counts_only_active_things(tx: Tx) -> None:
    a, _ = _two_users(tx)
    with tx() as r:
        acc, other = r.accounts.add(a, **account_fields()).id, r.accounts.add(a, **account_fields()).id
        assert r.accounts.active_consumers(a, acc) == {"bots": 0, "deals": 0, "smart_trades": 0, "open_orders": 0}
        _populate(r, a, acc)
        _populate(r, a, other)
    with tx() as r:
        assert r.accounts.active_consumers(a, acc) == {"bots": 1, "deals": 2, "smart_trades": 1, "open_orders": 3}
        for deal in r.deals.list(a, acc):
            r.deals.set_status(a, deal.id, "completed")
        for order in r.orders.list(a, acc, status="open"):
            r.orders.set_status(a, order.id, "canceled")
        assert r.accounts.active_consumers(a, acc) == {"bots": 1, "deals": 0, "smart_trades": 1, "open_orders": 0}
        assert r.accounts.active_consumers(a, other)["open_orders"] == 3
        with pytest.raises(InputError):
            r.orders.set_status(a, r.orders.list(a, acc)[0].id, "filled")


def test_delete_cascades_to_consumers_and_keeps_events(tx: Tx, factory: sessionmaker[Session]) -> None:
    a, _ = _two_users(tx)
    with tx() as r:
        acc, keep = r.accounts.add(a, **account_fields()).id, r.accounts.add(a, **account_fields()).id
        _populate(r, a, acc)
        _populate(r, a, keep)
        r.events.add(a, acc, "info", "connected", "Connected.")
    with tx() as r:
        r.accounts.delete(a, acc)
        r.events.add(a, acc, "warning", "deleted", "Deleted. Delete the key on the exchange too.")
    with session_scope(factory) as s:
        for model in (Bot, Deal, SmartTrade, Order):
            assert s.scalar(select(func.count()).select_from(model).where(model.account_id == acc)) == 0
            assert s.scalar(select(func.count()).select_from(model).where(model.account_id == keep)) > 0
        assert s.get(ExchangeAccount, acc) is None
        assert [e.kind for e in s.scalars(select(Event).where(Event.account_id == acc).order_by(Event.id))] == [
            "connected", "deleted"]
    with tx() as r:
        with pytest.raises(NotFound):
            r.accounts.delete(a, acc)
        assert r.accounts.active_consumers(a, keep) == {"bots": 1, "deals": 2, "smart_trades": 1, "open_orders": 3}


def test_cascade_is_the_databases_own(tx: Tx, engine: Engine) -> None:
    """Deleting with plain SQL (another tool, an operator) cascades the same way: the rule lives in the schema."""
    a, _ = _two_users(tx)
    with tx() as r:
        acc = r.accounts.add(a, **account_fields()).id
        _populate(r, a, acc)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM exchange_accounts WHERE id = :id"), {"id": acc})
    with engine.connect() as conn:
        for table in ("bots", "deals", "smart_trades", "orders"):
            assert conn.scalar(text(f"SELECT count(*) FROM {table}")) == 0


def test_concurrent_connect_of_one_exchange_account(tx: Tx, factory: sessionmaker[Session]) -> None:
    """Two requests connect the same exchange account at once, each in its own session: exactly one wins."""
    a, b = _two_users(tx)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def connect(owner: int) -> None:
        try:
            with session_scope(factory) as s:
                r = Repos(s)
                barrier.wait(timeout=10)
                results.append(r.accounts.add(owner, **account_fields(exchange="bybit", exchange_uid="9001")).id)
        except Conflict as err:
            results.append(err)

    threads = [threading.Thread(target=connect, args=(owner,)) for owner in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    conflicts = [x for x in results if isinstance(x, Conflict)]
    assert len(results) == 2 and len(conflicts) == 1 and conflicts[0].field == "exchange_uid"
    with tx() as r:
        winner = r.accounts.by_exchange_uid("bybit", "9001")
        assert winner is not None and winner.id in results
