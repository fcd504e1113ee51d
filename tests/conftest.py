"""Shared fixtures: real servers on 127.0.0.1, real clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from cexlink.sandbox.server import SandboxServer

GENEROUS = 10_000_000  # request weight per window while tests run; rate-limit tests lower it and restore it


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """One sandbox exchange for the session, over real HTTP on 127.0.0.1 (uvicorn in a thread)."""
    server = SandboxServer().start()
    for exchange in ("binance", "okx", "bybit"):
        httpx.post(server.url + "/sandbox/v1/limits", json={"exchange": exchange, "weight_per_window": GENEROUS})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def admin(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """The sandbox's admin API (``/sandbox/v1``)."""
    with httpx.Client(base_url=sandbox.url + "/sandbox/v1", timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def new_key(admin: httpx.Client) -> Callable[..., dict[str, Any]]:
    """Create a funded key on the sandbox, as a user would on the exchange's site; returns the admin JSON
    (``api_key``, ``secret``, ``passphrase``, ``uid``, ...). Keyword arguments go into the request body."""

    def make(exchange: str, **body: Any) -> dict[str, Any]:
        payload = {"exchange": exchange, "balances": {"USDT": "100000", "BTC": "2", "ETH": "20"}, **body}
        r = admin.post("/keys", json=payload)
        assert r.status_code == 201, r.text
        return r.json()

    return make
