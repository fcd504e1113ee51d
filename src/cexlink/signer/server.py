"""Putting the Sign Center on a socket: a Unix domain socket by default (JSON lines), HTTP with a bearer
token when callers are remote. Both speak protocol.py; the socket file is 0600 (the boundary is who may open
it)."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import signal
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .engine import SignCenter
from .protocol import Forwarder, decode, dispatch, encode, handle

MAX_LINE = 1 << 20


class _LineProtocol(asyncio.Protocol):
    """JSON lines over the Unix socket. Every complete line in one read is answered, and the answers go out in
    one write: a pipelining caller costs one syscall per batch, not per request. ``forward`` awaits the
    exchange, so its answer is written when it comes (callers match answers by id)."""

    def __init__(self, engine: SignCenter, forwarder: Forwarder) -> None:
        self.engine, self.forwarder = engine, forwarder
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = []
        while (end := self.buffer.find(b"\n")) >= 0:
            message = decode(bytes(self.buffer[:end]))
            del self.buffer[:end + 1]
            if message.get("op") == "forward":
                asyncio.ensure_future(self._forward(message))
            else:
                replies.append(encode(dispatch(self.engine, message)))
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))
        if len(self.buffer) > MAX_LINE and self.transport is not None:
            self.transport.close()  # a line that long is not a request

    async def _forward(self, message: dict[str, object]) -> None:
        reply = await handle(self.engine, message, self.forwarder)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode(reply))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve_unix(engine: SignCenter, path: Path, forwarder: Forwarder) -> asyncio.AbstractServer:
    if path.exists():
        path.unlink()
    loop = asyncio.get_running_loop()
    server = await loop.create_unix_server(lambda: _LineProtocol(engine, forwarder), str(path))
    os.chmod(path, 0o600)
    return server


def http_app(engine: SignCenter, token: str, forwarder: Forwarder) -> Starlette:
    async def op(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not hmac.compare_digest(auth.encode(), f"Bearer {token}".encode()):
            return Response('{"ok":false,"error":{"type":"auth","message":"bearer token required"}}', 401,
                            media_type="application/json")
        try:
            args = json.loads(await request.body() or b"{}")
        except ValueError:
            args = None
        reply = await handle(engine, {"id": None, "op": request.path_params["op"], "args": args}, forwarder)
        status = 200 if reply["ok"] else {"refused": 403, "input": 422}.get(reply["error"]["type"], 500)
        return Response(encode(reply), status, media_type="application/json")

    return Starlette(routes=[Route("/v1/{op}", op, methods=["POST"])])


async def run(engine: SignCenter, socket_path: Path | None, http: tuple[str, int] | None, token: str | None,
              on_ready: object = None) -> None:
    servers: list[asyncio.AbstractServer] = []
    forwarder = Forwarder()
    uv = None
    if socket_path is not None:
        servers.append(await serve_unix(engine, socket_path, forwarder))
    if http is not None:
        import uvicorn

        if not token:
            raise ValueError("an HTTP Sign Center needs a token")
        app = http_app(engine, token, forwarder)
        uv = uvicorn.Server(uvicorn.Config(app, host=http[0], port=http[1], log_level="warning", access_log=False,
                                           proxy_headers=False))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(uv.serve())] if uv else []
    if callable(on_ready):
        on_ready()
    await stop.wait()
    if uv:
        uv.should_exit = True
    for s in servers:
        s.close()
    if socket_path is not None and socket_path.exists():
        socket_path.unlink()
    await forwarder.close()
    for t in tasks:
        await t
    engine.close()
