"""The sandbox exchange as one ASGI app: Binance, OKX and Bybit on their real paths, plus the admin API."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from .admin import Admin
from .binance import Binance
from .bybit import Bybit
from .dialect import Context, Dialect, json_response
from .ledger import Ledger
from .okx import Okx
from .pricing import PriceWalk
from .ratelimit import RateLimiter
from .state import StateWriter, load

DIALECTS: tuple[type[Dialect], ...] = (Binance, Okx, Bybit)


def make_context(clock: Callable[[], float] = time.time, seed: int = 7) -> Context:
    return Context(Ledger(clock, PriceWalk(clock, seed=seed)), RateLimiter(clock), clock)


def create_app(ctx: Context | None = None, state_file: Path | None = None) -> Starlette:
    ctx = ctx or make_context()
    dialects = [cls(ctx) for cls in DIALECTS]
    routes = [r for d in dialects for r in d.routes()] + Admin(ctx).routes()
    writer = StateWriter(ctx.ledger, state_file) if state_file else None
    if state_file:
        load(ctx.ledger, state_file)

    async def not_found(request: Request, exc: Exception) -> Response:
        for d in dialects:
            if request.url.path.startswith(d.prefixes):
                return d.not_found(request)
        return json_response({"error": f"no such path {request.url.path}"}, 404)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        if writer:
            writer.start()
        yield
        if writer:
            await writer.stop()

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found}, lifespan=lifespan)
    app.state.ctx = ctx
    return app
