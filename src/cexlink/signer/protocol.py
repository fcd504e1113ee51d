"""The Sign Center's wire protocol, shared by the Unix-socket and HTTP servers and the client.

One JSON object per line: ``{"id": n, "op": "sign", "args": {...}}`` → ``{"id": n, "ok": true, "result": …}``
or ``{"id": n, "ok": false, "error": {"type": "refused"|"input"|"network"|"internal", "reason"|"field",
"message"}}``. On the Unix socket an answer may also carry ``"busy": true``, an optional scheduling hint:
callers are crowding the Sign Center, so a caller had better block for its next answer than busy-wait
(``PollWindow`` in server.py, ``SpinWait`` in client.py). A caller may ignore it; it changes no result.

``forward`` takes the arguments of ``sign`` and an optional ``egress`` (one of the Sign Center's configured
source addresses); the Sign Center sends the signed request itself, to the URL it built, and answers with the
exchange's response (``status``, ``reason``, ``headers``, ``body``). It is the only way to Binance and Bybit
(their signatures do not bind the path, so a signature handed out could be replayed on a withdrawal) and to
OKX (its passphrase header); ``sign`` answers only where the signature binds the whole request.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

import urllib3

from ..errors import InputError, SignerRefused
from .engine import SignCenter
from .wire import line, parse

log = logging.getLogger("cexlink.signer")

# op -> engine method; the only things a caller can ask for. None of them returns a secret.
OPS = {
    "store": "store_credential",
    "sign": "sign",
    "revoke": "revoke",
    "revoke_where": "revoke_where",
    "rotate_kek": "rotate_kek",
    "describe": "describe",
    "describe_many": "describe_many",
    "audit_heads": "audit_heads",
}
FORWARD_TIMEOUT = urllib3.Timeout(connect=5.0, read=10.0)
FORWARD_POOL = 16  # keep-alive connections per exchange host and source address


Spec = dict[str, tuple[str, frozenset[str], frozenset[str]]]
_SPECS: dict[type, Spec] = {}


def _specs(cls: type) -> Spec:
    """op -> (method, accepted, required) for an engine class: computed once, checked with set operations
    (inspect's bind() costs tens of microseconds per call). ``forward`` and ``egress`` are never accepted
    argument names: only the forward operation sets them."""
    if cls in _SPECS:
        return _SPECS[cls]
    specs: Spec = {}
    for op, method in OPS.items():
        params = list(inspect.signature(getattr(cls, method)).parameters.values())[1:]  # without self
        specs[op] = (method, frozenset(p.name for p in params) - {"forward", "egress"},
                     frozenset(p.name for p in params if p.default is inspect.Parameter.empty))
    _SPECS[cls] = specs
    return specs


def _error(rid: Any, e: Exception) -> dict[str, Any]:
    if isinstance(e, SignerRefused):
        return {"id": rid, "ok": False, "error": {"type": "refused", "reason": e.reason, "message": e.message}}
    if isinstance(e, InputError):
        return {"id": rid, "ok": False, "error": {"type": "input", "field": e.field, "message": e.message}}
    if isinstance(e, urllib3.exceptions.HTTPError):  # the URL is the pinned exchange's; say only the error's kind
        return {"id": rid, "ok": False, "error": {"type": "network", "message": type(e).__name__}}
    log.error("internal error: %s", type(e).__name__)  # never a repr that could hold secret material
    return {"id": rid, "ok": False, "error": {"type": "internal", "message": type(e).__name__}}


class Forwarder:
    """Sends signed requests for the forward operation: one keep-alive urllib3 pool per source address (the
    engine has checked that a named one is configured), no redirects, no retries (an order is never sent twice
    by us). Blocking, on the forwarding threads: measured against the same request sent by httpx's async client
    on the event loop, it spared the hop into the loop and most of the client's own work."""

    def __init__(self) -> None:
        self._pools: dict[str | None, urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def _pool(self, egress: str | None) -> urllib3.PoolManager:
        with self._lock:
            pool = self._pools.get(egress)
            if pool is None:
                pool = self._pools[egress] = urllib3.PoolManager(
                    maxsize=FORWARD_POOL, timeout=FORWARD_TIMEOUT, retries=False,
                    source_address=(egress, 0) if egress else None)
            return pool

    def send(self, request: dict[str, Any], egress: str | None = None) -> dict[str, Any]:
        body = request.get("body")
        resp = (self._pools.get(egress) or self._pool(egress)).request(
            request["method"], request["url"], headers=request.get("headers") or {},
            body=body.encode() if isinstance(body, str) else body, redirect=False)
        return {"status": resp.status, "reason": resp.reason, "headers": dict(resp.headers),
                "body": resp.data.decode("utf-8", "replace")}

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.clear()
            self._pools.clear()


class Service:
    """The engine as the servers see it: one lock around it (the Unix-socket thread and the HTTP server's event
    loop both call it; the engine itself is single-threaded), and the forwarder."""

    def __init__(self, engine: SignCenter, forwarder: Forwarder) -> None:
        self.engine, self.forwarder = engine, forwarder
        self.lock = threading.Lock()
        # op -> (the engine's bound method, accepted, required), looked up once rather than per request.
        self._ops = {op: (getattr(engine, method), accepted, needed)
                     for op, (method, accepted, needed) in _specs(type(engine)).items()}

    def _checked(self, op: Any, args: Any) -> Callable[..., Any]:
        """The engine method for ``op``, once ``args`` are found to be its keyword arguments (errors name them,
        never values)."""
        spec = self._ops.get(op) if isinstance(op, str) else None
        if spec is None:
            raise InputError("op", f"must be one of {', '.join([*OPS, 'forward', 'health'])}")
        if not isinstance(args, dict):
            raise InputError("args", "must be an object")
        method, accepted, needed = spec
        if not (needed <= args.keys() <= accepted):
            if "forward" in args:  # only the forward operation may produce a request that carries secret material
                raise InputError("args", "unexpected argument 'forward'")
            unknown = args.keys() - accepted
            if unknown:
                raise InputError("args", f"unexpected argument {sorted(unknown)[0]!r}")
            raise InputError("args", f"missing argument {sorted(needed - args.keys())[0]!r}")
        return method

    def _dispatch(self, message: dict[str, Any]) -> dict[str, Any]:
        rid, op = message.get("id"), message.get("op")
        if op == "health":
            return {"id": rid, "ok": True, "result": {"status": "ok", "replica": self.engine.config.replica}}
        try:
            args = message.get("args") or {}
            return {"id": rid, "ok": True, "result": self._checked(op, args)(**args)}
        except Exception as e:
            return _error(rid, e)

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        """Any operation but forward."""
        with self.lock:
            return self._dispatch(message)

    def answer_many(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Answers in order. Signatures are answered as one batch whose audit records go out in one write (a
        busy Sign Center's callers arrive together); every other operation on its own, as ``answer``."""
        signs = [m for m in messages if m.get("op") == "sign"]
        if len(signs) < 2:
            return [self.answer(m) for m in messages]
        with self.lock:
            try:
                with self.engine.signing_batch():
                    signed = [self._dispatch(m) for m in signs]
            except SignerRefused as refused:
                signed = [_error(m.get("id"), refused) for m in signs]
        answers = iter(signed)
        return [next(answers) if m.get("op") == "sign" else self.answer(m) for m in messages]

    async def forward(self, message: dict[str, Any]) -> dict[str, Any]:
        """``forward_now`` on a thread of the event loop's executor (the HTTP server's path)."""
        return await asyncio.to_thread(self.forward_now, message)

    def forward_now(self, message: dict[str, Any]) -> dict[str, Any]:
        """Sign, then send it to the exchange without holding the lock while the exchange answers."""
        rid = message.get("id")
        try:
            args = message.get("args") or {}
            egress = args.pop("egress", None) if isinstance(args, dict) else None
            if egress is not None and not isinstance(egress, str):
                raise InputError("egress", "must be an IP address (one of the Sign Center's egress addresses)")
            self._checked("sign", args)  # checks the op's arguments
            with self.lock:
                request = self.engine.sign(**args, forward=True, egress=egress)
            return {"id": rid, "ok": True, "result": self.forwarder.send(request, egress)}
        except Exception as e:
            return _error(rid, e)

    async def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        return await self.forward(message) if message.get("op") == "forward" else self.answer(message)


def decode(data: bytes) -> dict[str, Any]:
    try:
        message = parse(data)
    except ValueError:
        return {"id": None, "op": None}
    return message if isinstance(message, dict) else {"id": None, "op": None}


encode = line
