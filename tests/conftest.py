"""Shared fixtures: real servers on 127.0.0.1 (the sandbox, a Sign Center process, PostgreSQL, the platform's API),
real clients. Helpers the tests call by name live in tests/support/."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from cexlink.sandbox.app import make_context
from cexlink.sandbox.server import SandboxServer
from cexlink.signer.client import SignerClient
from tests.support.clock import Clock
from tests.support.postgres import PostgresServer
from tests.support.sandbox import raise_limits
from tests.support.signer import SignerProcess, start_signer

if TYPE_CHECKING:  # the platform pulls in the API server: imported when a test asks for it
    from tests.support.platform import Platform


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """One sandbox exchange for the session, over real HTTP on 127.0.0.1 (uvicorn in a thread)."""
    server = SandboxServer().start()
    with httpx.Client(base_url=server.url + "/sandbox/v1", timeout=10) as admin:
        raise_limits(admin)
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
        with httpx.Client(base_url=server.url + "/sandbox/v1", timeout=10) as admin:
            admin.post("/walk", json={"volatility": volatility})
            raise_limits(admin)
        return server, clock

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def signer(sandbox: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignerProcess]:
    """A Sign Center process on the sandbox, shared by the tests of one module."""
    proc = start_signer(tmp_path_factory.mktemp("signer"), sandbox.url)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def client(signer: SignerProcess) -> Iterator[SignerClient]:
    """A client of the module's Sign Center, over its Unix socket."""
    c = SignerClient(socket_path=signer.socket)
    yield c
    c.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the session (Debian's binaries, a fresh cluster, loopback only)."""
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Callable[[], str]:
    """A factory of fresh, empty databases on the session's server (URLs for SQLAlchemy)."""
    return postgres.create_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, sandbox: SandboxServer,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The platform over a SQLite file, then over a PostgreSQL database on a real server: every connection test
    runs on both."""
    from tests.support.platform import start_platform

    database = request.getfixturevalue("postgres").create_database() if request.param == "postgresql" else None
    p = start_platform(tmp_path_factory.mktemp("platform"), sandbox.url, database)
    yield p
    p.stop()
    p.signer.stop()
