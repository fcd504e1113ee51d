"""Shared fixtures: real servers on 127.0.0.1, real clients."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from cexlink.sandbox.app import make_context
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


class Clock:
    """A clock the test moves by hand (epoch seconds), for the sandbox's ``make_context(clock=...)``."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def behind_ms(self) -> int:
        """How far the sandbox's clock is behind the real one: ccxt's ``options['timeDifference']``, so a client
        on real time signs requests as of the sandbox's now."""
        return int((time.time() - self.t) * 1000)


SandboxAt = Callable[..., tuple[SandboxServer, Clock]]


@pytest.fixture
def sandbox_at() -> Iterator[SandboxAt]:
    """Start a sandbox of the test's own whose clock the test moves (the session one runs on real time):
    ``server, clock = sandbox_at(start=None, volatility="0")``; prices stand still unless ``volatility`` is
    given. Every sandbox started here is stopped after the test."""
    servers: list[SandboxServer] = []

    def start(start: float | None = None, volatility: str = "0") -> tuple[SandboxServer, Clock]:
        clock = Clock(time.time() if start is None else start)
        server = SandboxServer(ctx=make_context(clock=clock)).start()
        servers.append(server)
        httpx.post(server.url + "/sandbox/v1/walk", json={"volatility": volatility})
        for exchange in ("binance", "okx", "bybit"):
            httpx.post(server.url + "/sandbox/v1/limits", json={"exchange": exchange, "weight_per_window": GENEROUS})
        return server, clock

    yield start
    for server in servers:
        server.stop()
