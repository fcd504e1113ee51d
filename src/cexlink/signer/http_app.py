"""The Sign Center over HTTP, for callers on other hosts: ``POST /v1/{op}`` with the protocol's arguments as the
body and a bearer token (compared in constant time); the answer is the protocol's, with an HTTP status for its
error type. server.py serves it with uvicorn (TLS off loopback)."""

from __future__ import annotations

import hmac
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .protocol import Service, encode

__all__ = ["WIRE_HTTP_STATUS", "http_app"]

# The Sign Center's wire error types (protocol.py) as HTTP statuses; anything else is the server's failure.
WIRE_HTTP_STATUS: dict[str, int] = {"refused": 403, "input": 422}


def http_app(service: Service, token: str) -> Starlette:
    async def op(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not hmac.compare_digest(auth.encode(), f"Bearer {token}".encode()):
            return Response('{"ok":false,"error":{"type":"auth","message":"bearer token required"}}', 401,
                            media_type="application/json")
        try:
            args = json.loads(await request.body() or b"{}")
        except ValueError:
            args = None
        reply = await service.handle({"id": None, "op": request.path_params["op"], "args": args})
        status = 200 if reply["ok"] else WIRE_HTTP_STATUS.get(reply["error"]["type"], 500)
        return Response(encode(reply), status, media_type="application/json")

    return Starlette(routes=[Route("/v1/{op}", op, methods=["POST"])])
