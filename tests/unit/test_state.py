"""The state file keeps what a restart must not lose: key states and what the client sent with each order."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from cexlink.sandbox.ledger import Ledger
from cexlink.sandbox.pricing import PriceWalk
from cexlink.sandbox.state import load, save
from tests.support.clock import Clock


def fresh() -> Ledger:
    clock = Clock()
    return Ledger(clock, PriceWalk(clock, volatility=D(0)))


def test_key_states_and_order_extras_survive_a_restart(tmp_path: Path) -> None:
    before = fresh()
    uid = before.create_account("okx", balances={"USDT": D("10000")}).uid
    key = before.create_key("okx", uid, {"perm": ["read_only", "trade"]}, demo=True)
    before.update_key("okx", key.api_key, frozen=True)
    before.touch_key(key)
    order = before.place_order("okx", uid, "BTCUSDT", "BUY", "LIMIT", D("0.01"), D("30000"),
                               client_order_id="mine1", wire_type="post_only", tag="bot7")
    anonymous = before.place_order("okx", uid, "BTCUSDT", "BUY", "LIMIT", D("0.01"), D("30000"))
    save(before, tmp_path / "state.json")

    after = fresh()
    assert load(after, tmp_path / "state.json")
    k = after.keys[("okx", key.api_key)]
    assert (k.demo, k.frozen, k.last_used_at) == (True, True, 1_700_000_000_000)
    o = after.orders[order.id]
    assert (o.wire_type, o.tag, o.client_order_id_given) == ("post_only", "bot7", True)
    assert after.orders[anonymous.id].client_order_id_given is False


def test_touching_a_key_marks_the_books_changed_at_most_once_a_minute() -> None:
    clock = Clock()
    ledger = Ledger(clock, PriceWalk(clock, volatility=D(0)))
    uid = ledger.create_account("okx").uid
    key = ledger.create_key("okx", uid, {"perm": ["read_only"]})
    version = ledger.version
    ledger.touch_key(key)
    ledger.touch_key(key)
    assert ledger.version == version + 1
    clock.advance(61)
    ledger.touch_key(key)
    assert ledger.version == version + 2 and key.last_used_at == 1_700_000_061_000
