"""The sandbox exchange as tests use it: which exchanges it speaks, and its rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from cexlink.exchanges.capabilities import CAPABILITIES

SANDBOXED: tuple[str, ...] = tuple(c.id for c in CAPABILITIES if c.sandbox)  # the dialects the sandbox speaks
GENEROUS = 10_000_000  # request weight per window while tests run: only rate-limit tests meet a limit


def raise_limits(admin: httpx.Client, exchanges: tuple[str, ...] = SANDBOXED) -> None:
    """Give ``exchanges`` generous limits with no bans, and forget what callers have used so far."""
    for exchange in exchanges:
        r = admin.post("/limits", json={"exchange": exchange, "weight_per_window": GENEROUS, "ban_after": 0})
        assert r.status_code == 200, r.text
        admin.post("/limits/reset", json={"exchange": exchange})


@contextmanager
def limits(admin: httpx.Client, exchange: str, **config: Any) -> Iterator[None]:
    """Tight limits on one exchange for a block, generous ones again afterwards: the session sandbox is shared."""
    try:
        r = admin.post("/limits", json={"exchange": exchange, **config})
        assert r.status_code == 200, r.text
        yield
    finally:
        raise_limits(admin, (exchange,))
