"""Serving the REST API: the app over the service that ``wiring`` builds from settings, run by uvicorn."""

from __future__ import annotations

from typing import Any

import uvicorn

from ..config import Settings
from ..wiring import build_service, close_service
from .app import create_app

__all__ = ["build_app", "serve"]


def build_app(settings: Settings) -> Any:
    service = build_service(settings)

    async def shutdown() -> None:
        await close_service(service)

    return create_app(service, on_shutdown=shutdown)


def serve(settings: Settings, host: str, port: int) -> None:
    uvicorn.run(build_app(settings), host=host, port=port, log_level="warning", proxy_headers=False)
