"""Assembling the API server from settings: database (migrated), Sign Center client, exchange pool, service."""

from __future__ import annotations

import logging
from typing import Any

import uvicorn

from ..accounts.service import AccountService
from ..config import Settings
from ..errors import ConfigError
from ..exchanges.probes import ExchangePool
from ..signer.client import AsyncHttpSignerClient, AsyncSignerClient
from ..storage.db import make_engine, make_session_factory, migrate
from .app import create_app


def quiet_exchange_logs() -> None:
    """ccxt logs whole requests at DEBUG: API keys, signatures (a signed request is usable until its recvWindow
    ends). Never below INFO here, whatever the root logger says."""
    logging.getLogger("ccxt").setLevel(logging.INFO)


def build_service(settings: Settings) -> AccountService:
    quiet_exchange_logs()
    engine = make_engine(settings.database_url)
    migrate(engine)
    signer: Any
    if settings.signer_url is not None and settings.signer_token_file is not None:
        signer = AsyncHttpSignerClient(settings.signer_url, settings.signer_token_file.read_text().strip())
    elif settings.signer_socket is not None:
        signer = AsyncSignerClient(settings.signer_socket)
    else:
        raise ConfigError("CEXLINK_SIGNER_SOCKET or CEXLINK_SIGNER_URL: where is the Sign Center?")
    pool = ExchangePool(signer, settings.exchange_urls, settings.rate_limit)
    return AccountService(settings, make_session_factory(engine), signer, pool)


def build_app(settings: Settings) -> Any:
    service = build_service(settings)

    async def shutdown() -> None:
        await service.pool.close()
        await service.signer.close()

    return create_app(service, on_shutdown=shutdown)


def serve(settings: Settings, host: str, port: int) -> None:
    uvicorn.run(build_app(settings), host=host, port=port, log_level="warning", proxy_headers=False)
