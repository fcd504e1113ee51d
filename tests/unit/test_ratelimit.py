"""Request weight per caller: 429-style refusals past the limit, a ban when the caller keeps going."""

from __future__ import annotations

import pytest

from cexlink.sandbox.ratelimit import LimitConfig, RateLimiter
from cexlink.sandbox.rejects import Reason, Reject
from tests.support.clock import Clock


def test_limit_then_ban_then_recovery() -> None:
    clock = Clock(1000.0)
    rl = RateLimiter(clock, {"binance": LimitConfig(weight_per_window=10, window_seconds=60, ban_after=2,
                                                    ban_seconds=120)})
    assert [rl.hit("binance", "1.1.1.1", 5) for _ in range(2)] == [5, 10]
    for _ in range(2):
        with pytest.raises(Reject) as exc:
            rl.hit("binance", "1.1.1.1", 5)
        assert exc.value.reason is Reason.RATE_LIMITED and exc.value.detail["retry_after"] >= 1
    with pytest.raises(Reject) as exc:
        rl.hit("binance", "1.1.1.1", 1)
    assert exc.value.reason is Reason.IP_BANNED
    assert rl.hit("binance", "2.2.2.2", 1) == 1  # another caller is unaffected
    clock.advance(60)
    with pytest.raises(Reject) as exc:  # the ban outlasts the window
        rl.hit("binance", "1.1.1.1", 1)
    assert exc.value.reason is Reason.IP_BANNED
    clock.advance(61)
    assert rl.hit("binance", "1.1.1.1", 1) == 1


def test_disabled_limits_count_but_never_refuse() -> None:
    rl = RateLimiter(Clock(), {"okx": LimitConfig(enabled=False, weight_per_window=1)})
    assert rl.hit("okx", "a", 5) == 5
    assert rl.hit("okx", "a", 5) == 10
