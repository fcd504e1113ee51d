"""The sandbox's books: funds lock on open orders, settle on fills, and filters refuse what the exchange would."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from cexlink.sandbox.ledger import Ledger
from cexlink.sandbox.pricing import PriceWalk
from cexlink.sandbox.rejects import Reason, Reject
from tests.support.clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(clock: Clock) -> Ledger:
    led = Ledger(clock, PriceWalk(clock, volatility=D(0)))
    led.set_price("BTCUSDT", D("50000"))
    return led


@pytest.fixture
def uid(ledger: Ledger) -> str:
    return ledger.create_account("binance", balances={"USDT": D("10000"), "BTC": D("1")}).uid


def bal(ledger: Ledger, uid: str, asset: str) -> tuple[D, D]:
    b = ledger.account("binance", uid).balance(asset)
    return b.free, b.locked


def test_resting_limit_buy_locks_quote_and_cancel_releases_it(ledger: Ledger, uid: str) -> None:
    order = ledger.place_order("binance", uid, "BTCUSDT", "BUY", "LIMIT", D("0.1"), D("40000"))
    assert order.status == "NEW"
    assert bal(ledger, uid, "USDT") == (D("6000"), D("4000"))
    ledger.cancel_order("binance", uid, "BTCUSDT", order.id)
    assert bal(ledger, uid, "USDT") == (D("10000"), D("0"))
    assert ledger.get_order("binance", uid, "BTCUSDT", order.id).status == "CANCELED"


def test_crossing_limit_buy_fills_at_market_and_refunds_the_difference(ledger: Ledger, uid: str) -> None:
    order = ledger.place_order("binance", uid, "BTCUSDT", "BUY", "LIMIT", D("0.1"), D("55000"))
    assert order.status == "FILLED" and order.avg_price == D("50000")
    assert bal(ledger, uid, "USDT") == (D("5000"), D("0"))
    assert bal(ledger, uid, "BTC") == (D("1.0999"), D("0"))  # 0.1 minus the 0.1 % fee in BTC
    [trade] = ledger.account_trades("binance", uid, "BTCUSDT")
    assert (trade.price, trade.qty, trade.maker) == (D("50000"), D("0.1"), False)


def test_resting_sell_fills_as_maker_when_the_price_reaches_it(ledger: Ledger, uid: str) -> None:
    order = ledger.place_order("binance", uid, "BTCUSDT", "SELL", "LIMIT", D("0.5"), D("52000"))
    assert bal(ledger, uid, "BTC") == (D("0.5"), D("0.5"))
    ledger.set_price("BTCUSDT", D("52500"))
    assert ledger.get_order("binance", uid, "BTCUSDT", order.id).status == "FILLED"
    assert bal(ledger, uid, "BTC") == (D("0.5"), D("0"))
    assert bal(ledger, uid, "USDT") == (D("10000") + D("26000") * D("0.999"), D("0"))
    assert ledger.account_trades("binance", uid)[-1].maker is True


def test_the_walk_moves_prices_and_fills_orders_it_crosses(clock: Clock) -> None:
    led = Ledger(clock, PriceWalk(clock, seed=3, volatility=D("0.01"), step_seconds=1.0))
    uid = led.create_account("binance", balances={"USDT": D("100000")}).uid
    start = led.price("BTCUSDT")
    order = led.place_order("binance", uid, "BTCUSDT", "BUY", "LIMIT", D("0.01"), start - D("500"))
    prices = []
    for _ in range(300):
        clock.advance(1)
        prices.append(led.price("BTCUSDT"))
    assert len(set(prices)) > 100  # it does walk
    filled = led.get_order("binance", uid, "BTCUSDT", order.id).status == "FILLED"
    assert filled == (min(prices) <= start - D("500"))


def test_same_seed_same_prices(clock: Clock) -> None:
    def run(seed: int) -> list[D]:
        c = Clock()
        walk = PriceWalk(c, seed=seed, volatility=D("0.002"))
        out = []
        for _ in range(50):
            c.advance(1)
            walk.advance()
            out.append(walk.price("ETHUSDT"))
        return out

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_market_buy_by_quote_amount(ledger: Ledger, uid: str) -> None:
    order = ledger.place_order("binance", uid, "BTCUSDT", "BUY", "MARKET", None, quote_qty=D("1000"))
    assert order.status == "FILLED" and order.filled == D("0.02")
    assert bal(ledger, uid, "USDT") == (D("9000"), D("0"))


@pytest.mark.parametrize("qty, price, reason", [
    (D("0.1"), D("40000.001"), Reason.FILTER_PRICE),  # off the tick
    (D("0.000001"), D("40000"), Reason.FILTER_LOT_SIZE),  # below minQty
    (D("0.123456"), D("40000"), Reason.FILTER_LOT_SIZE),  # off the step
    (D("0.0001"), D("40000"), Reason.FILTER_NOTIONAL),  # 4 USDT < 5
    (D("1"), D("40000"), Reason.INSUFFICIENT_BALANCE),
])
def test_refusals_change_nothing(ledger: Ledger, uid: str, qty: D, price: D, reason: Reason) -> None:
    before = (bal(ledger, uid, "USDT"), len(ledger.orders))
    with pytest.raises(Reject) as exc:
        ledger.place_order("binance", uid, "BTCUSDT", "BUY", "LIMIT", qty, price)
    assert exc.value.reason is reason
    assert (bal(ledger, uid, "USDT"), len(ledger.orders)) == before


def test_unknown_symbol_and_order(ledger: Ledger, uid: str) -> None:
    with pytest.raises(Reject) as exc:
        ledger.place_order("binance", uid, "DOGEUSDT", "BUY", "LIMIT", D("1"), D("1"))
    assert exc.value.reason is Reason.BAD_SYMBOL
    with pytest.raises(Reject) as exc:
        ledger.get_order("binance", uid, "BTCUSDT", 42)
    assert exc.value.reason is Reason.UNKNOWN_ORDER


def test_orders_are_private_to_their_account(ledger: Ledger, uid: str) -> None:
    other = ledger.create_account("binance", balances={"USDT": D("1000")}).uid
    order = ledger.place_order("binance", uid, "BTCUSDT", "BUY", "LIMIT", D("0.01"), D("40000"))
    with pytest.raises(Reject):
        ledger.cancel_order("binance", other, "BTCUSDT", order.id)
    assert ledger.open_orders("binance", other) == []


def test_duplicate_client_order_id_is_refused_while_open(ledger: Ledger, uid: str) -> None:
    ledger.place_order("binance", uid, "BTCUSDT", "BUY", "LIMIT", D("0.01"), D("40000"), client_order_id="a1")
    with pytest.raises(Reject) as exc:
        ledger.place_order("binance", uid, "BTCUSDT", "BUY", "LIMIT", D("0.01"), D("40000"), client_order_id="a1")
    assert exc.value.reason is Reason.DUPLICATE_ORDER


def test_post_only_rests_or_is_refused_when_it_would_take(ledger: Ledger, uid: str) -> None:
    resting = ledger.place_order("binance", uid, "BTCUSDT", "BUY", "LIMIT", D("0.01"), D("40000"), post_only=True)
    assert resting.status == "NEW"
    before = (bal(ledger, uid, "USDT"), len(ledger.orders))
    with pytest.raises(Reject) as exc:
        ledger.place_order("binance", uid, "BTCUSDT", "BUY", "LIMIT", D("0.01"), D("50000"), post_only=True)
    assert exc.value.reason is Reason.WOULD_TAKE
    assert (bal(ledger, uid, "USDT"), len(ledger.orders)) == before


def test_listing_open_or_finished_orders(ledger: Ledger, uid: str) -> None:
    resting = ledger.place_order("binance", uid, "BTCUSDT", "BUY", "LIMIT", D("0.01"), D("40000"))
    filled = ledger.place_order("binance", uid, "BTCUSDT", "SELL", "MARKET", D("0.01"))
    assert [o.id for o in ledger.account_orders("binance", uid, is_open=True)] == [resting.id]
    assert [o.id for o in ledger.account_orders("binance", uid, "BTCUSDT", is_open=False)] == [filled.id]
    assert len(ledger.account_orders("binance", uid)) == 2
