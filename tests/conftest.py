"""Shared fixtures: real servers on 127.0.0.1, real clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cexlink.sandbox.server import SandboxServer


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """One sandbox exchange for the session, over real HTTP on 127.0.0.1 (a thread in this process)."""
    server = SandboxServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def admin(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url + "/sandbox/v1", timeout=10) as client:
        yield client


def make_key(admin: httpx.Client, exchange: str, **body: object) -> dict:
    """Create a funded key on the sandbox through the admin API, as a user would on the exchange's site."""
    payload = {"exchange": exchange, "balances": {"USDT": "100000", "BTC": "2", "ETH": "20"}, **body}
    r = admin.post("/keys", json=payload)
    assert r.status_code == 201, r.text
    return r.json()
