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


async def _handle(engine: SignCenter, forwarder: Forwarder, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            message = decode(line)
            if message.get("op") == "forward":
                reply = await handle(engine, message, forwarder)
            else:
                reply = dispatch(engine, message)
            writer.write(encode(reply))
            # drain only when the buffer is large: a pipelining client is not slowed by one await per line
            if writer.transport.get_write_buffer_size() > 65536:
                await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()


async def serve_unix(engine: SignCenter, path: Path, forwarder: Forwarder) -> asyncio.AbstractServer:
    if path.exists():
        path.unlink()
    server = await asyncio.start_unix_server(lambda r, w: _handle(engine, forwarder, r, w), str(path),
                                             limit=1 << 20)
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
