"""The composition root: the one place that builds the service from settings, for the API server, the CLI and
``cexlink up``. It sits above the parts (accounts, exchanges, signer client, storage), so none of them needs
to import another layer to get built."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .accounts.service import AccountService
from .config import Settings
from .errors import ConfigError
from .exchanges.probes import ExchangePool
from .signer.client import AsyncHttpSignerClient, AsyncSignerClient
from .storage.db import make_engine, make_session_factory, migrate

__all__ = ["build_service", "close_service", "open_database", "quiet_exchange_logs", "signer_client"]


def quiet_exchange_logs() -> None:
    """ccxt logs whole requests at DEBUG: API keys, signatures (a signed request is usable until its recvWindow
    ends). Never below INFO here, whatever the root logger says."""
    logging.getLogger("ccxt").setLevel(logging.INFO)


def open_database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    """The app database, migrated to the current schema, and its session factory."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    return engine, make_session_factory(engine)


def signer_client(settings: Settings) -> Any:
    """The Sign Center's async client: over HTTPS with a token when remote, else over its Unix socket."""
    if settings.signer_url is not None and settings.signer_token_file is not None:
        return AsyncHttpSignerClient(settings.signer_url, settings.signer_token_file.read_text().strip())
    if settings.signer_socket is not None:
        return AsyncSignerClient(settings.signer_socket)
    raise ConfigError("CEXLINK_SIGNER_SOCKET or CEXLINK_SIGNER_URL: where is the Sign Center?")


def build_service(settings: Settings) -> AccountService:
    """The account service with its database, Sign Center client and exchange pool."""
    quiet_exchange_logs()
    _engine, sessions = open_database(settings)
    signer = signer_client(settings)
    pool = ExchangePool(signer, settings.exchange_urls, settings.rate_limit)
    return AccountService(settings, sessions, signer, pool)


async def close_service(service: AccountService) -> None:
    """Release what ``build_service`` opened: the exchange sessions, then the Sign Center connection."""
    await service.pool.close()
    await service.signer.close()
