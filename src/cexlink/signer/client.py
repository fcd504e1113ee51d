"""Clients of the Sign Center: ``SignerClient`` (sync) and ``AsyncSignerClient``, over its Unix socket or
HTTP. They carry secrets one way only (intake); every answer is free of them."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ..errors import InputError, SignerRefused, SignerUnavailable
from .wire import line as _line
from .wire import parse

READ_SIZE = 1 << 16
BUSY_WAIT_US = 1500.0  # the longest busy-wait for one answer: past a cold signature's time


Verify = bool | str | Path  # TLS for an https:// Sign Center: the system's CAs (True), or a CA file (PEM)


def _tls(verify: Verify) -> ssl.SSLContext | bool:
    """A CA file becomes a context that trusts it (httpx takes no path any more)."""
    return verify if isinstance(verify, bool) else ssl.create_default_context(cafile=str(verify))


HTTP_FAILURES = (httpx.HTTPError, ValueError)  # no answer over HTTP, or one that is not JSON


def _http_unavailable(e: Exception) -> SignerUnavailable:
    """The one mapping of an HTTP client's failure, for both clients: named by type only (an httpx message
    quotes the URL; a JSON error, the body)."""
    return SignerUnavailable(f"Sign Center over HTTP: {type(e).__name__}")


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
                context: dict[str, Any] | None = None, egress: str | None = None) -> dict[str, Any]:
        """Sign and send in the Sign Center (from ``egress``, one of its configured source addresses, if given);
        the exchange's response (status, reason, headers, body)."""
        args = {"credential_id": credential_id, "exchange": exchange, "api": api, "method": method, "path": path,
                "params": params, "context": context or {}}
        if egress is not None:
            args["egress"] = egress
        return self._call("forward", args)

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

    def describe_many(self, credential_ids: list[str]) -> dict[str, Any]:
        return self._call("describe_many", {"credential_ids": credential_ids})

    def audit_heads(self) -> dict[str, Any]:
        """``{"heads": [{"log", "seq", "hash", "time", "sig"}, ...]}``: the newest durable audit checkpoint of
        every log of the Sign Center's data directory, to keep outside it (``audit verify --anchor``)."""
        return self._call("audit_heads", {})


def _wait_ms(deadline: float, clock: Callable[[], float]) -> int:
    """poll(2)'s timeout for what is left until ``deadline`` (0.0: none, wait for ever)."""
    return max(0, math.ceil((deadline - clock()) * 1000)) if deadline else -1


class SpinWait:
    """How long to busy-wait for an answer before blocking: a blocked reader's vCPU is woken late, by as much as
    the Sign Center's whole work. Twice the recent round trip, at most ``cap``; not at all while the Sign Center
    says it is busy (spinning callers would take its CPU). Figures in bench/README.md."""

    def __init__(self, cap_s: float) -> None:
        self.cap_s = cap_s
        self.average = 0.0  # recent round trip, seconds (exponential moving average)
        self.busy = False  # what the last answer said

    def until(self, started: float) -> float:
        """When to stop spinning for the answer to a request sent at ``started``; 0.0: do not spin."""
        return 0.0 if self.busy or not self.cap_s else started + min(2 * self.average, self.cap_s)

    def answered(self, started: float, now: float, busy: bool) -> None:
        self.average += (now - started - self.average) * 0.2
        self.busy = busy


class _Channel:
    """One connection to the Sign Center's Unix socket: sends are plain, answers are read with ``SpinWait``.

    When it blocks, it blocks in poll(2) for POLLIN, not in recv(2): a reader blocked in recv(2) on a Unix stream
    socket is also woken when the Sign Center reads its request, and that needless wake-up preempts the Sign
    Center mid-work. The timeout bounds the whole answer, not each wait: a Sign Center that sends bytes without
    ever ending the line does not hold the caller longer."""

    def __init__(self, sock: socket.socket, busy_wait_s: float, timeout_s: float) -> None:
        self.sock = sock
        self.spin = SpinWait(busy_wait_s)
        self.timeout_s = timeout_s  # 0: no limit, as SO_SNDTIMEO
        self.readable = select.poll()
        self.readable.register(sock, select.POLLIN)
        self.buffer = bytearray()

    def answer(self, started: float) -> Any:
        """The next answer, parsed; ``started`` is when its request was sent."""
        clock = time.perf_counter
        spin_until = self.spin.until(started)
        deadline = started + self.timeout_s if self.timeout_s > 0 else 0.0
        while (end := self.buffer.find(b"\n")) < 0:
            if not spin_until and not self.readable.poll(_wait_ms(deadline, clock)):
                raise TimeoutError("the Sign Center did not answer in time")
            try:
                data = self.sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                if spin_until:
                    if clock() > spin_until:
                        spin_until = 0.0
                    else:
                        os.sched_yield()  # a process that has work on this CPU gets it first
                continue
            if not data:
                raise ConnectionResetError("closed")
            self.buffer += data
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 1]
        now = clock()
        answer = parse(line)
        self.spin.answered(started, now, answer.get("busy", False))
        return answer


class SignerClient(_Ops):
    """Sync client. ``SignerClient(socket_path=...)`` or ``SignerClient(url=..., token=...)``. Thread-safe.

    ``busy_wait_us`` bounds the busy-wait for an answer over the Unix socket (see ``SpinWait``); 0 never
    busy-waits. ``verify`` is for an ``https://`` URL: a CA file (PEM) to trust, default the system's CAs."""

    def __init__(self, socket_path: str | Path | None = None, url: str | None = None, token: str | None = None,
                 timeout: float = 10.0, busy_wait_us: float = BUSY_WAIT_US, verify: Verify = True) -> None:
        if (socket_path is None) == (url is None):
            raise ValueError("give exactly one of socket_path or url")
        if url is not None and not token:
            raise ValueError("a Sign Center over HTTP needs its token")
        self.socket_path = str(socket_path) if socket_path else None
        self.timeout = timeout
        self.busy_wait_s = busy_wait_us / 1e6
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._channel: _Channel | None = None  # the connection: its socket and what was read from it
        self._http = httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=timeout,
                                  verify=_tls(verify)) if url else None

    def _connect(self) -> _Channel:
        assert self.socket_path
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.socket_path)
        except OSError as e:
            raise SignerUnavailable(f"cannot reach the Sign Center at {self.socket_path}: {e.strerror}") from None
        # SO_SNDTIMEO rather than settimeout(): the socket stays blocking, so a send is one send(2), not
        # poll(2) then send(2). Reads are timed by _Channel.
        timeval = struct.pack("ll", int(self.timeout), int(self.timeout % 1 * 1e6))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        self._channel = _Channel(sock, self.busy_wait_s, self.timeout)
        return self._channel

    def _call(self, op: str, args: dict[str, Any]) -> Any:
        if self._http is not None:
            try:
                reply = self._http.post(f"/v1/{op}", content=json.dumps(args)).json()
            except HTTP_FAILURES as e:
                raise _http_unavailable(e) from None
            return _result(reply)
        with self._lock:
            for attempt in (1, 2):  # one reconnect: the signer may have restarted since the last call
                channel = self._channel or self._connect()
                rid = next(self._ids)
                try:
                    started = time.perf_counter()
                    channel.sock.sendall(_line({"id": rid, "op": op, "args": args}))
                    answer = channel.answer(started)
                except TimeoutError:
                    self.close()  # a late answer must not be taken for the next call's
                    raise SignerUnavailable(f"the Sign Center did not answer within {self.timeout:g} s") from None
                except OSError:
                    self.close()
                    if attempt == 2 or op != "sign":  # never resend an intake, order or revocation blindly
                        raise SignerUnavailable("the Sign Center closed the connection") from None
                    continue
                if answer.get("id") != rid:
                    self.close()
                    raise SignerUnavailable("the Sign Center answered out of order")
                return _result(answer)
        raise SignerUnavailable("unreachable")

    def close(self) -> None:
        if self._channel is not None:
            self._channel.sock.close()
            self._channel = None
        if self._http is not None:
            self._http.close()


class AsyncSignerClient(_Ops):
    """asyncio client over the Unix socket: requests are pipelined on one connection, matched by id.

    ``timeout`` bounds connecting and each answer: a frozen Sign Center (stopped, deadlocked) costs a caller that
    long, then ``SignerUnavailable``; a late answer is dropped (its id is no longer pending)."""

    def __init__(self, socket_path: str | Path, timeout: float = 10.0) -> None:
        self.socket_path = str(socket_path)
        self.timeout = timeout
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
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_unix_connection(self.socket_path, limit=1 << 20), self.timeout)
                except TimeoutError:
                    raise SignerUnavailable(f"the Sign Center did not accept within {self.timeout:g} s") from None
                except OSError as e:
                    raise SignerUnavailable(f"cannot reach the Sign Center: {e.strerror}") from None
                self._writer = writer
                self._reader_task = asyncio.create_task(self._read(reader))
        return self._writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                reply = parse(line)
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
    async def _call(self, op: str, args: dict[str, Any]) -> Any:
        writer = await self._ensure()
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        writer.write(_line({"id": rid, "op": op, "args": args}))
        try:
            reply = await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            raise SignerUnavailable(f"the Sign Center did not answer within {self.timeout:g} s") from None
        finally:
            self._pending.pop(rid, None)
        return _result(reply)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()


class AsyncHttpSignerClient(_Ops):
    """asyncio client of a remote Sign Center over HTTP (bearer token); same operations, awaited."""

    def __init__(self, url: str, token: str, timeout: float = 10.0, verify: Verify = True) -> None:
        if not token:
            raise ValueError("a Sign Center over HTTP needs its token")
        self._http = httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=timeout,
                                       verify=_tls(verify))

    async def _call(self, op: str, args: dict[str, Any]) -> Any:
        try:
            reply = (await self._http.post(f"/v1/{op}", content=json.dumps(args))).json()
        except HTTP_FAILURES as e:
            raise _http_unavailable(e) from None
        return _result(reply)

    async def close(self) -> None:
        await self._http.aclose()
