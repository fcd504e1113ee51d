"""Serving the REST API: the app over the service that ``wiring`` builds from settings, run by uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from ..accounts.monitor import Monitor, MonitorConfig, monitor_config_from_env, running
from ..config import Settings
from ..wiring import build_service, close_service
from .app import create_app

__all__ = ["build_app", "serve"]


def build_app(settings: Settings, monitor: MonitorConfig | None = None) -> Any:
    """The API over a freshly built service; with ``monitor``, the health monitor runs for the app's lifespan."""
    service = build_service(settings)

    async def shutdown() -> None:
        await close_service(service)

    app = create_app(service, on_shutdown=shutdown)
    if monitor is not None:
        watcher = Monitor(service, monitor)
        app.state.monitor = watcher
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(a: Any) -> AsyncIterator[None]:
            async with inner(a), running(watcher):  # the monitor stops before the service closes
                yield

        app.router.lifespan_context = lifespan
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    """``cexlink serve``: the API, and the health monitor unless CEXLINK_MONITOR=false (workers run it)."""
    uvicorn.run(build_app(settings, monitor_config_from_env()), host=host, port=port, log_level="warning",
                proxy_headers=False)
