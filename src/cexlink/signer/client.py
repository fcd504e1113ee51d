"""Clients of the Sign Center: ``SignerClient`` (sync) and ``AsyncSignerClient``, over its Unix socket or
HTTP. They carry secrets one way only (intake); every answer is free of them."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
from pathlib import Path
from typing import Any

import httpx

from ..errors import InputError, SignerRefused, SignerUnavailable


class ForwardFailed(SignerUnavailable):
    """The Sign Center signed a forwarded request but could not reach the exchange with it."""


def _result(reply: dict[str, Any]) -> Any:
    if reply.get("ok"):
        return reply["result"]
    err = reply.get("error") or {}
    kind = err.get("type")
    if kind == "refused":
        raise SignerRefused(err.get("reason", "refused"), err.get("message", ""))
    if kind == "input":
        raise InputError(err.get("field", "args"), err.get("message", "invalid"))
    if kind == "network":
        raise ForwardFailed(f"the Sign Center could not reach the exchange: {err.get('message', '')}")
    raise SignerUnavailable(f"Sign Center error: {err.get('message', 'unknown')}")


class _Ops:
    """The operations, spelled once for both clients; ``_call`` is the transport."""

    def _call(self, op: str, args: dict[str, Any]) -> Any:
        raise NotImplementedError

    def store(self, owner: str, exchange: str, api_key: str, secret: str, passphrase: str | None = None,
              expires_at: int | None = None) -> dict[str, Any]:
        return self._call("store", {"owner": owner, "exchange": exchange, "api_key": api_key, "secret": secret,
                                    "passphrase": passphrase, "expires_at": expires_at})

    def sign(self, credential_id: str, exchange: str, api: Any, method: str, path: str, params: Any,
             context: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._call("sign", {"credential_id": credential_id, "exchange": exchange, "api": api,
                                   "method": method, "path": path, "params": params, "context": context or {}})

    def forward(self, credential_id: str, exchange: str, api: Any, method: str, path: str, params: Any,
                context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sign and send in the Sign Center; the exchange's response (status, reason, headers, body)."""
        return self._call("forward", {"credential_id": credential_id, "exchange": exchange, "api": api,
                                      "method": method, "path": path, "params": params, "context": context or {}})

    def revoke(self, credential_id: str) -> int:
        return self._call("revoke", {"credential_id": credential_id})

    def revoke_where(self, owner: str | None = None, exchange: str | None = None,
                     created_before: int | None = None, ids: list[str] | None = None) -> int:
        return self._call("revoke_where", {"owner": owner, "exchange": exchange, "created_before": created_before,
                                           "ids": ids})

    def rotate_kek(self, retire_old: bool = False) -> dict[str, int]:
        return self._call("rotate_kek", {"retire_old": retire_old})

    def describe(self, credential_id: str) -> dict[str, Any]:
        return self._call("describe", {"credential_id": credential_id})


class SignerClient(_Ops):
    """Sync client. ``SignerClient(socket_path=...)`` or ``SignerClient(url=..., token=...)``. Thread-safe."""

    def __init__(self, socket_path: str | Path | None = None, url: str | None = None, token: str | None = None,
                 timeout: float = 10.0) -> None:
        if (socket_path is None) == (url is None):
            raise ValueError("give exactly one of socket_path or url")
        if url is not None and not token:
            raise ValueError("a Sign Center over HTTP needs its token")
        self.socket_path = str(socket_path) if socket_path else None
        self.timeout = timeout
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._file: Any = None
        self._http = httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=timeout) \
            if url else None

    def _connect(self) -> None:
        assert self.socket_path
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except OSError as e:
            raise SignerUnavailable(f"cannot reach the Sign Center at {self.socket_path}: {e.strerror}") from None
        self._sock, self._file = sock, sock.makefile("rb")

    def _call(self, op: str, args: dict[str, Any]) -> Any:
        if self._http is not None:
            try:
                r = self._http.post(f"/v1/{op}", content=json.dumps(args))
                return _result(r.json())
            except (httpx.HTTPError, ValueError) as e:
                raise SignerUnavailable(f"Sign Center over HTTP: {type(e).__name__}") from None
        with self._lock:
            for attempt in (1, 2):  # one reconnect: the signer may have restarted since the last call
                if self._sock is None:
                    self._connect()
                assert self._sock is not None
                rid = next(self._ids)
                try:
                    self._sock.sendall(json.dumps({"id": rid, "op": op, "args": args},
                                                  separators=(",", ":")).encode() + b"\n")
                    line = self._file.readline()
                    if not line:
                        raise ConnectionResetError("closed")
                except OSError:
                    self.close()
                    if attempt == 2 or op != "sign":  # never resend an intake, order or revocation blindly
                        raise SignerUnavailable("the Sign Center closed the connection") from None
                    continue
                reply = json.loads(line)
                if reply.get("id") != rid:
                    self.close()
                    raise SignerUnavailable("the Sign Center answered out of order")
                return _result(reply)
        raise SignerUnavailable("unreachable")

    def close(self) -> None:
        if self._sock is not None:
            self._file.close()
            self._sock.close()
            self._sock = None
        if self._http is not None:
            self._http.close()


class AsyncSignerClient(_Ops):
    """asyncio client over the Unix socket: requests are pipelined on one connection, matched by id."""

    def __init__(self, socket_path: str | Path) -> None:
        self.socket_path = str(socket_path)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None

    async def _ensure(self) -> asyncio.StreamWriter:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is None or self._writer.is_closing():
                try:
                    reader, writer = await asyncio.open_unix_connection(self.socket_path, limit=1 << 20)
                except OSError as e:
                    raise SignerUnavailable(f"cannot reach the Sign Center: {e.strerror}") from None
                self._writer = writer
                self._reader_task = asyncio.create_task(self._read(reader))
        return self._writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                reply = json.loads(line)
                fut = self._pending.pop(reply.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(SignerUnavailable("the Sign Center closed the connection"))
            self._pending.clear()
            self._writer = None

    # The operations of _Ops return whatever _call returns: here a coroutine, so ``await client.sign(...)``.
    async def _call(self, op: str, args: dict[str, Any]) -> Any:  # type: ignore[override]
        writer = await self._ensure()
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        writer.write(json.dumps({"id": rid, "op": op, "args": args}, separators=(",", ":")).encode() + b"\n")
        return _result(await fut)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()


class AsyncHttpSignerClient(_Ops):
    """asyncio client of a remote Sign Center over HTTP (bearer token); same operations, awaited."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        if not token:
            raise ValueError("a Sign Center over HTTP needs its token")
        self._http = httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=timeout)

    async def _call(self, op: str, args: dict[str, Any]) -> Any:  # type: ignore[override]
        try:
            r = await self._http.post(f"/v1/{op}", content=json.dumps(args))
            reply = r.json()
        except (httpx.HTTPError, ValueError) as e:
            raise SignerUnavailable(f"Sign Center over HTTP: {type(e).__name__}") from None
        return _result(reply)

    async def close(self) -> None:
        await self._http.aclose()
