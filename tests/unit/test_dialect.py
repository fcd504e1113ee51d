"""The shared dialect pipeline per exchange: how a refusal is rendered (its own table, a dialect-only row, the
BAD_PARAM fallback, headers) and which account flags refuse reading as well as trading."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from starlette.datastructures import Headers

from cexlink.sandbox.app import DIALECTS, make_context
from cexlink.sandbox.dialect import (
    READ,
    TRADE,
    Call,
    Dialect,
    ErrorSpec,
    decimal_param,
    limit_param,
    market_param,
    optional,
    order_id_param,
    plain,
    required,
)
from cexlink.sandbox.pricing import PriceWalk
from cexlink.sandbox.rejects import Reason, Reject


def call(method: str = "GET", path: str = "/x") -> Call:
    return Call(method, path, "", b"", Headers({}), "127.0.0.1", {})


@pytest.fixture(params=DIALECTS, ids=lambda d: d.name)
def dialect(request: pytest.FixtureRequest) -> Dialect:
    cls: type[Dialect] = request.param
    return cls(make_context(clock=lambda: 1_700_000_000.0))


def body_code(dialect: Dialect, reject: Reject, c: Call | None = None) -> tuple[int, object]:
    response = dialect.render(reject, c or call())
    body = json.loads(response.body)
    return response.status_code, body.get("code", body.get("retCode"))


def test_every_reason_renders_from_its_row_or_bad_param(dialect: Dialect) -> None:
    for reason in Reason:
        status, code = body_code(dialect, Reject(reason, param="p", limit=1, until=0, retry_after=1))
        spec = dialect.errors.get(reason, dialect.errors[Reason.BAD_PARAM])
        assert (status, code) == (spec.http, spec.code), reason


def test_a_carried_row_wins(dialect: Dialect) -> None:
    own = ErrorSpec(418, 12345, "teapot {what}")
    response = dialect.render(Reject(Reason.INVALID_KEY, spec=own, what="here"), call())
    assert response.status_code == 418 and "teapot here" in response.body.decode()


def test_retry_after_header_follows_the_dialect(dialect: Dialect) -> None:
    response = dialect.render(Reject(Reason.RATE_LIMITED, limit=1, retry_after=7), call())
    assert response.headers.get("retry-after") == ("7" if dialect.retry_after_header else None)
    assert dialect.retry_after_header is (dialect.name == "binance")  # Bybit and OKX send none


def test_binance_refusal_on_a_cancel_has_the_cancel_code() -> None:
    binance = next(d for d in DIALECTS if d.name == "binance")(make_context())
    assert body_code(binance, Reject(Reason.ACCOUNT_SUSPENDED), call("POST"))[1] == -2010
    assert body_code(binance, Reject(Reason.ACCOUNT_SUSPENDED), call("DELETE"))[1] == -2011


# Which flags refuse a read: Binance still lets a suspended account read (canTrade=false) but not a restricted
# location; OKX and Bybit refuse a suspended account everything. Every flag refuses trading.
READ_REFUSED = {"binance": {"region_restricted"}, "okx": {"suspended"}, "bybit": {"suspended"}}


@pytest.mark.parametrize("flag", ["suspended", "region_restricted", "kyc_required"])
def test_account_flags_refuse_reads_per_dialect(dialect: Dialect, flag: str) -> None:
    uid = dialect.ledger.create_account(dialect.name).uid
    dialect.ledger.set_account_flags(dialect.name, uid, **{flag: True})
    c = call()
    c.key = dialect.ledger.create_key(dialect.name, uid, {})
    for access, refused in ((READ, flag in READ_REFUSED[dialect.name]), (TRADE, True)):
        if refused:
            with pytest.raises(Reject):
                dialect.check_account(c, access)
        else:
            assert dialect.check_account(c, access).uid == uid


def refusal(fn: Any) -> tuple[Reason, object]:
    with pytest.raises(Reject) as info:
        fn()
    return info.value.reason, info.value.detail.get("param")


def test_shared_parameter_rules() -> None:
    p = {"blank": "", "n": "1.50", "zero": "0", "num": 7, "id": "42", "bad_id": "4x", "limit": "60"}
    assert optional(p, "blank") is None and optional(p, "absent") is None
    assert refusal(lambda: optional(p, "num")) == (Reason.BAD_PARAM, "num")  # a JSON number where text is due
    assert refusal(lambda: required(p, "blank")) == (Reason.MISSING_PARAM, "blank")
    assert decimal_param(p, "n") == Decimal("1.5") and decimal_param(p, "zero") == 0
    assert refusal(lambda: decimal_param(p, "zero", positive=True)) == (Reason.BAD_PARAM, "zero")
    assert decimal_param(p, "absent", required=False) is None
    assert order_id_param(p, "id") == 42 and order_id_param(p, "absent") is None
    assert refusal(lambda: order_id_param(p, "bad_id", Reason.UNKNOWN_ORDER)) == (Reason.UNKNOWN_ORDER, "bad_id")
    assert limit_param(p, 20, 100) == 60 and limit_param({}, 20, 100) == 20
    assert refusal(lambda: limit_param(p, 20, 50)) == (Reason.BAD_PARAM, "limit")
    assert market_param({"symbol": "ETHBTC"}).inst_id == "ETH-BTC"
    assert refusal(lambda: market_param({"symbol": "DOGEUSDT"}))[0] is Reason.BAD_SYMBOL
    assert (plain(Decimal("1.2300")), plain(Decimal("-0.0")), plain(Decimal("1E+3"))) == ("1.23", "0", "1000")


def test_usd_values() -> None:
    walk = PriceWalk(lambda: 0.0, volatility=Decimal(0))
    walk.set_price("ETHUSDT", Decimal("2000"))
    assert walk.usd("ETH", Decimal("0.5")) == Decimal("1000")
    assert walk.usd("USDT", Decimal("3")) == walk.usd("USDC", Decimal("3")) == Decimal("3")
    assert walk.usd("DOGE", Decimal("100")) == 0  # no USDT market: no value
