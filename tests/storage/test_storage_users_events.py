"""Users and API tokens (never stored in plaintext), events (owner-scoped, newest first), consumer helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from cexlink.errors import InputError
from cexlink.storage.errors import Conflict, NotFound
from cexlink.storage.repositories import hash_token
from tests.support.clock import Clock
from tests.support.storage import Tx, account_fields


def test_tokens_authenticate_until_revoked(tx: Tx, clock: Clock, engine: Engine) -> None:
    with tx() as r:
        alice = r.users.create("alice", is_admin=True)
        token = r.users.issue_token(alice.id, "laptop")
        other = r.users.issue_token(alice.id, "ci")
    assert token.startswith("cxl_") and len(token) > 40 and token != other
    clock.advance(5)
    with tx() as r:
        user = r.users.user_for_token(token)
        assert user is not None and user.id == alice.id and user.is_admin
        laptop = next(t for t in r.users.tokens(alice.id) if t.label == "laptop")
        assert laptop.last_used_at == clock.datetime() and laptop.token_hash == hash_token(token)
        for wrong in ("", "cxl_", token + "x", token[4:], "cxl_" + "A" * 43):
            assert r.users.user_for_token(wrong) is None
        r.users.revoke_token(alice.id, laptop.id)
    with tx() as r:
        assert r.users.user_for_token(token) is None
        assert r.users.user_for_token(other).id == alice.id  # revoking one token leaves the others
        bob = r.users.create("bob")
        with pytest.raises(NotFound):  # bob cannot revoke alice's token
            r.users.revoke_token(bob.id, r.users.tokens(alice.id)[1].id)
        with pytest.raises(NotFound):
            r.users.issue_token(999_999, "nobody")
    with engine.connect() as conn:  # only hashes in the table, whatever the backend
        stored = " ".join(str(v) for row in conn.execute(text("SELECT * FROM api_tokens")) for v in row)
    assert token not in stored and token[4:] not in stored and hash_token(token) in stored


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_token_plaintext_never_reaches_the_sqlite_file(tx: Tx, db_url: str, engine: Engine) -> None:
    with tx() as r:
        uid = r.users.create("alice").id
        tokens = [r.users.issue_token(uid, f"t{i}") for i in range(5)]
    with tx() as r:
        assert all(r.users.user_for_token(t) is not None for t in tokens)
    path = Path(db_url.removeprefix("sqlite:///"))
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]  # the database, its WAL and shm
    blob = b"".join(p.read_bytes() for p in files)
    assert hash_token(tokens[0]).encode() in blob  # the scan reads what was written
    for t in tokens:
        assert t.encode() not in blob and t[4:].encode() not in blob


def test_events_are_scoped_and_newest_first(tx: Tx, clock: Clock) -> None:
    with tx() as r:
        a, b = r.users.create("alice").id, r.users.create("bob").id
        acc = r.accounts.add(a, **account_fields()).id
        other = r.accounts.add(a, **account_fields()).id
    with tx() as r:
        for i in range(5):
            clock.advance(1)
            r.events.add(a, acc if i % 2 == 0 else other, "info", "status_changed", f"e{i}", {"to": "ok", "i": i})
        r.events.add(a, None, "critical", "exchange_incident", "Binance is down")  # about no single account
        r.events.add(b, None, "info", "connected", "bob's")
        with pytest.raises(NotFound):  # not on another owner's account
            r.events.add(b, acc, "info", "connected", "mine?")
        with pytest.raises(InputError) as severity:
            r.events.add(a, acc, "loud", "connected", "x")
        assert severity.value.field == "severity"
    with tx() as r:
        everything = r.events.list(a)
        assert [e.message for e in everything] == ["Binance is down", "e4", "e3", "e2", "e1", "e0"]
        assert [e.message for e in r.events.list(a, acc)] == ["e4", "e2", "e0"]
        assert everything[1].data == {"to": "ok", "i": 4} and everything[1].time == clock.datetime()
        assert [e.message for e in r.events.list(a, limit=2)] == ["Binance is down", "e4"]
        assert [e.message for e in r.events.list(b)] == ["bob's"] and r.events.list(b, acc) == []


def test_consumer_helpers(tx: Tx) -> None:
    with tx() as r:
        a = r.users.create("alice").id
        acc, other = r.accounts.add(a, **account_fields()).id, r.accounts.add(a, **account_fields()).id
        bot = r.bots.add(a, acc, "dca")
        deal = r.deals.add(a, bot.id)
        trade = r.smart_trades.add(a, other, "BTC/USDT")
        assert (bot.strategy, bot.status, deal.account_id, deal.status) == ("dca", "enabled", acc, "active")
        with pytest.raises(InputError) as cross:  # an order on one connection cannot belong to another's trade
            r.orders.add(a, acc, "1", "BTC/USDT", smart_trade_id=trade.id)
        assert cross.value.field == "smart_trade_id"
    with tx() as r:
        r.orders.add(a, acc, "1", "BTC/USDT", deal_id=deal.id)
        r.orders.add(a, other, "1", "BTC/USDT")  # order ids are unique per connection, not globally
    with tx() as r, pytest.raises(Conflict) as twice:
        r.orders.add(a, acc, "1", "BTC/USDT")
    assert twice.value.field == "exchange_order_id"
    with tx() as r, pytest.raises(Conflict) as credential:
        r.accounts.add(a, **account_fields(credential_id=r.accounts.get(a, acc).credential_id))
    assert credential.value.field == "credential_id"
    with tx() as r:
        assert r.bots.set_status(a, bot.id, "error").status == "error"
        assert r.smart_trades.set_status(a, trade.id, "failed").status == "failed"
        with pytest.raises(InputError):
            r.bots.set_status(a, bot.id, "paused")
    with tx() as r:
        assert [o.exchange_order_id for o in r.orders.list(a, acc, status="open")] == ["1"]
        assert len(r.orders.list(a, other)) == 1 and r.smart_trades.list(a, other)[0].status == "failed"
        assert [x.status for x in r.bots.list(a)] == ["error"]
