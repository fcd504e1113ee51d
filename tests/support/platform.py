"""The whole platform for tests: the sandbox exchange, the Sign Center in its own process, and the API server
on a real port (uvicorn in a thread) over a real database; users with API tokens."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cexlink.accounts.monitor import Monitor, MonitorConfig
from cexlink.accounts.service import AccountService
from cexlink.api.server import build_app
from cexlink.config import Settings
from cexlink.exchanges.probes import ExchangePool
from cexlink.serving import ServerThread
from cexlink.signer.client import AsyncSignerClient
from cexlink.storage.db import make_engine, make_session_factory, migrate
from cexlink.storage.repositories import Users
from cexlink.wiring import open_database
from tests.support.sandbox import SANDBOXED
from tests.support.signer import SignerProcess, start_signer

EGRESS = ["127.0.0.1", "127.0.0.2"]  # the platform's egress IPs: both local, so each can be probed
# The Sign Center sends forwarded requests (Binance, OKX, Bybit) and may be asked to send from these.
SIGNER_EGRESS = [arg for ip in EGRESS for arg in ("--egress-ip", ip)]


@dataclass
class Platform:
    url: str
    settings: Settings
    signer: SignerProcess
    sandbox_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    api: Any = None  # the ServerThread serving the API

    def client(self, user: str = "alice") -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {self.tokens[user]}"}, timeout=30)

    def stop(self) -> None:
        self.api.stop()


def start_http_platform(tmp: Path, sandbox_url: str, port: int) -> Platform:
    """The platform with its Sign Center reached over HTTP (token-authenticated), as from another host."""
    token = tmp / "signer-token"
    token.write_text(secrets.token_urlsafe(32) + "\n")  # the Sign Center takes 32 random bytes, mode 600 only
    token.chmod(0o600)
    signer = start_signer(tmp, sandbox_url, name="http-signer",
                          extra=["--http", f"127.0.0.1:{port}", "--token-file", str(token), *SIGNER_EGRESS])
    return start_platform(tmp, sandbox_url, signer=signer, signer_socket=None, signer_url=f"http://127.0.0.1:{port}",
                          signer_token_file=token)


def start_platform(tmp: Path, sandbox_url: str, database_url: str | None = None, signer: SignerProcess | None = None,
                   **overrides: Any) -> Platform:
    signer = signer or start_signer(tmp, sandbox_url, name="platform-signer", extra=SIGNER_EGRESS)
    overrides.setdefault("signer_socket", signer.socket)
    settings = Settings(database_url=database_url or f"sqlite:///{tmp / 'app.db'}",
                        egress_ips=list(EGRESS), egress_bind=True,
                        exchange_urls=dict.fromkeys(SANDBOXED, sandbox_url), rate_limit=False,
                        **overrides)
    engine = make_engine(settings.database_url)
    migrate(engine)
    tokens, ids = {}, {}
    with make_session_factory(engine)() as db, db.begin():
        users = Users(db)
        for name, admin in (("alice", False), ("bob", False), ("root", True)):
            user = users.create(name, is_admin=admin)
            tokens[name] = users.issue_token(user.id, "tests")
            ids[name] = user.id
    engine.dispose()
    api = ServerThread(build_app(settings)).start()
    return Platform(api.url, settings, signer, sandbox_url, tokens, ids, api)


def body(key: dict[str, Any], exchange: str, name: str = "main") -> dict[str, Any]:
    """The connect request a user sends for a sandbox key (as the admin API returned it)."""
    out = {"exchange": exchange, "name": name, "api_key": key["api_key"], "secret": key["secret"]}
    if key.get("passphrase"):
        out["passphrase"] = key["passphrase"]
    return out


def database_dump(platform: Platform) -> bytes:
    """Everything the app database holds, as bytes to scan: the SQLite file (and its WAL), or a pg_dump."""
    url = platform.settings.database_url
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    import glob
    import subprocess

    pg_dump = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))[-1]
    return subprocess.run([pg_dump, "--data-only", url.replace("+psycopg", "")], capture_output=True,
                          check=True).stdout


@contextmanager
def monitor_worker(platform: Platform, clock: Callable[[], Any] | None = None,
                   **config: Any) -> Iterator[tuple[Monitor, asyncio.AbstractEventLoop]]:
    """``cexlink worker`` in this process: its own service over the platform's database and Sign Center
    (``clock`` and ``config`` as the test needs: a moved clock, shorter intervals)."""
    loop = asyncio.new_event_loop()
    engine, sessions = open_database(platform.settings)
    signer = AsyncSignerClient(platform.signer.socket, timeout=5)
    pool = ExchangePool(signer, platform.settings.exchange_urls, False)
    service = AccountService(platform.settings, sessions, signer, pool, **({"clock": clock} if clock else {}))
    monitor = Monitor(service, MonitorConfig(call_timeout_s=5, **config))
    try:
        yield monitor, loop
    finally:
        loop.run_until_complete(monitor.close())
        loop.run_until_complete(pool.close())
        loop.run_until_complete(signer.close())
        loop.close()
        engine.dispose()
