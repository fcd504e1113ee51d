"""Putting the Sign Center on a socket: a Unix domain socket by default (JSON lines), HTTP with a bearer
token when callers are remote. Both speak protocol.py; the socket file is 0600 (the boundary is who may open
it).

The Unix socket is served by one thread of its own on epoll, not by asyncio: a signature is a few tens
of microseconds of work, and an event loop's per-message machinery cost as much again. After an answer the
thread may poll for the next request a moment (``PollWindow``); figures in bench/README.md.

The HTTP server stays on the asyncio loop of the main thread; forwarded requests are sent from a pool of
threads (the exchange's answer takes milliseconds, during which the socket thread goes on signing).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import os
import re
import resource
import select
import signal
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import uvicorn

from .. import serving
from ..errors import InputError
from .buckets import Buckets
from .engine import SignCenter
from .http_app import http_app
from .protocol import Forwarder, Service, decode, encode

MAX_LINE = 1 << 20
BUSY_POLL_S = 100e-6
CROWDED_S = 5e-3  # no busy-polling for this long after two callers were answered close together
READ_SIZE = 1 << 16
FORWARD_THREADS = 16  # forwards waiting on exchanges at once; each is a blocking HTTP exchange


class _Connection:
    """One caller on the Unix socket. Answers may be written by the serving thread or, for forward, from the
    forwarding threads: ``write`` is safe from any, and what the socket does not take at once waits in
    ``outbox`` for epoll to report it writable."""

    __slots__ = ("sock", "fd", "inbox", "outbox", "lock", "closed")

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.fd = sock, sock.fileno()
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.lock = threading.Lock()
        self.closed = False

    def write(self, data: bytes) -> bool:
        """Send ``data`` after what already waits; True when something is left for epoll."""
        with self.lock:
            if self.closed:
                return False
            self.outbox += data
            if self._send() and len(self.outbox) > MAX_LINE * 4:  # a caller that does not read its answers
                self.closed = True
            return bool(self.outbox) and not self.closed

    def flush(self) -> bool:
        """Send what waits; True while something is still left."""
        with self.lock:
            return self._send()

    def _send(self) -> bool:
        try:
            sent = self.sock.send(self.outbox)
        except BlockingIOError:
            return True
        except OSError:
            self.closed = True
            return False
        del self.outbox[:sent]
        return bool(self.outbox)


_IN, _OUT = select.EPOLLIN, select.EPOLLOUT
_READABLE = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR


class PollWindow:
    """After an answer, poll for the next request a moment instead of blocking: a blocked thread's vCPU is woken
    late, which would double a lone caller's round trip. Only for a lone caller that comes straight back; while
    callers take turns nobody polls, and their answers say ``"busy"`` so that they block too."""

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        self.last_answer = self.crowded_at = -1.0
        self.last_caller: object | None = None
        self.pays = True  # the last request came soon enough after an answer for polling to have caught it

    def should_poll(self, now: float) -> bool:
        return self.pays and now - self.last_answer < self.poll_s and now - self.crowded_at > CROWDED_S

    def arrived(self, now: float) -> bool:
        """A round of requests came at ``now``; whether callers crowd in (their answers then say so)."""
        self.pays = now - self.last_answer < 2 * self.poll_s  # 2x: a blocked thread's wake-up is in the measure
        return now - self.crowded_at < CROWDED_S

    def answered(self, now: float, callers: list[object]) -> None:
        self.last_answer = now
        if any(caller is not self.last_caller for caller in callers):
            if self.last_caller is not None:
                self.crowded_at = now
            self.last_caller = callers[-1]


class UnixServer:
    """JSON lines on a Unix socket. Every complete line of a read is answered; ``forward`` is handed to a pool
    of forwarding threads (each signs, then waits for the exchange without the lock) and its answer written
    when it comes (callers match answers by id).
    epoll is used directly: ``selectors`` wraps each event in Python objects, per signature."""

    def __init__(self, service: Service, listener: socket.socket, busy_poll_s: float = BUSY_POLL_S) -> None:
        self.service, self.listener, self.busy_poll_s = service, listener, busy_poll_s
        listener.setblocking(False)
        self._epoll = select.epoll()
        self._epoll.register(listener.fileno(), _IN)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._epoll.register(self._wake_r.fileno(), _IN)
        self._conns: dict[int, _Connection] = {}  # by file descriptor
        self._want_write: list[_Connection] = []
        self._want_lock = threading.Lock()
        self._stopping = False
        self._forwarding = ThreadPoolExecutor(FORWARD_THREADS, thread_name_prefix="signer-forward")
        self._thread = threading.Thread(target=self._serve, name="signer-unix", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stopping = True
        self._wake()
        self._thread.join(timeout=10)
        self._forwarding.shutdown(wait=True)  # answers under way are written before their sockets close
        for conn in list(self._conns.values()):  # the listener belongs to whoever bound it
            conn.sock.close()
        self._epoll.close()
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # a wake-up already pending, or closing

    def _serve(self) -> None:
        clock, poll, conns = time.perf_counter, self._epoll.poll, self._conns
        listener, waker = self.listener.fileno(), self._wake_r.fileno()
        window = PollWindow(self.busy_poll_s)
        while not self._stopping:
            polling = window.should_poll(clock())
            events = poll(0 if polling else -1)
            if polling and not events:
                os.sched_yield()  # polling must not keep a process with work on this CPU waiting
                continue
            inbound: list[tuple[_Connection, dict[str, Any]]] = []
            touched: list[_Connection] = []
            for fd, mask in events:
                conn = conns.get(fd)
                if conn is None:
                    if fd == listener:
                        self._accept()
                    elif fd == waker:
                        self._drain_wake()
                    continue
                touched.append(conn)
                if mask & _OUT and not conn.flush():
                    self._watch(conn, writing=False)
                if mask & _READABLE:
                    self._read(conn, inbound)
            if inbound:  # every request of this round answered together: one audit write for its signatures
                self._reply(inbound, crowded=window.arrived(clock()))
                window.answered(clock(), [conn for conn, _ in inbound])
            for conn in touched:
                if conn.closed:
                    self._drop(conn)

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        self._conns[sock.fileno()] = _Connection(sock)
        self._epoll.register(sock.fileno(), _IN)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        with self._want_lock:
            pending, self._want_write = self._want_write, []
        for conn in pending:
            if conn.closed:
                self._drop(conn)
            else:
                self._watch(conn, writing=True)

    def _watch(self, conn: _Connection, writing: bool) -> None:
        if self._conns.get(conn.fd) is conn:  # not dropped meanwhile
            with contextlib.suppress(OSError):  # this thread must outlive any one caller's socket
                self._epoll.modify(conn.fd, (_IN | _OUT) if writing else _IN)

    def _drop(self, conn: _Connection) -> None:
        with conn.lock:
            conn.closed = True
        if self._conns.get(conn.fd) is not conn:
            return
        del self._conns[conn.fd]
        with contextlib.suppress(OSError):
            self._epoll.unregister(conn.fd)
        conn.sock.close()

    def _read(self, conn: _Connection, inbound: list[tuple[_Connection, dict[str, Any]]]) -> None:
        """Collect every complete line now readable; forward goes to the forwarding threads at once."""
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            conn.closed = True
            return
        if conn.inbox or not data.endswith(b"\n"):  # a line split across reads: gather it first
            conn.inbox += data
            end = conn.inbox.rfind(b"\n") + 1
            data = bytes(conn.inbox[:end])
            del conn.inbox[:end]
            if len(conn.inbox) > MAX_LINE:
                conn.closed = True  # a line that long is not a request
        for line in data.split(b"\n")[:-1]:
            message = decode(line)
            if message.get("op") == "forward":
                self._forward(conn, message)
            else:
                inbound.append((conn, message))

    def _reply(self, inbound: list[tuple[_Connection, dict[str, Any]]], crowded: bool) -> None:
        """Answer a round. While callers crowd in, each answer says ``"busy": true``: a caller waiting for
        its next answer then blocks at once instead of busy-waiting (client.py), as this thread does."""
        answers = self.service.answer_many([message for _, message in inbound])
        out: dict[_Connection, list[bytes]] = {}
        for (conn, _), answer in zip(inbound, answers, strict=True):
            if crowded:
                answer["busy"] = True
            out.setdefault(conn, []).append(encode(answer))
        for conn, lines in out.items():
            if conn.write(b"".join(lines)):
                self._watch(conn, writing=True)

    def _forward(self, conn: _Connection, message: dict[str, Any]) -> None:
        self._forwarding.submit(self._forward_now, conn, message)

    def _forward_now(self, conn: _Connection, message: dict[str, Any]) -> None:
        if conn.write(encode(self.service.forward_now(message))) or conn.closed:  # what is left goes by epoll
            with self._want_lock:
                self._want_write.append(conn)
            self._wake()


Tls = tuple[Path, Path]  # certificate chain file, private key file (PEM)


async def serve(engine: SignCenter, unix: socket.socket | None, http: socket.socket | None, token: str | None,
                on_ready: Callable[[], None] | None = None, busy_poll_s: float = BUSY_POLL_S,
                tls: Tls | None = None) -> None:
    """One Sign Center process on already bound sockets, until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    service = Service(engine, Forwarder())
    unix_server = UnixServer(service, unix, busy_poll_s) if unix is not None else None
    uv = None
    if http is not None:
        if not token:
            raise ValueError("an HTTP Sign Center needs a token")
        ssl_files = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])} if tls else {}
        uv = uvicorn.Server(serving.config(http_app(service, token), **ssl_files))
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if unix_server is not None:
        unix_server.start()
    tasks = [asyncio.create_task(uv.serve(sockets=[http]))] if uv and http else []
    if on_ready is not None:
        on_ready()
    await stop.wait()
    if uv:
        uv.should_exit = True
    if unix_server is not None:
        await asyncio.to_thread(unix_server.close)
    service.forwarder.close()
    for t in tasks:
        await t
    with service.lock:
        engine.close()


PR_SET_DUMPABLE = 4


def harden_process() -> None:
    """Before any secret is loaded: no core dump (RLIMIT_CORE 0), and not dumpable, so no process of the same
    user without CAP_SYS_PTRACE can ptrace it or read its /proc/<pid>/mem or environ (the kernel also gives
    those files to root). Files it makes are its user's only (umask 077), whatever the caller's umask was.
    Forked workers inherit all three; they call this again all the same, at no cost."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")
    os.umask(0o077)


TOKEN_BYTES = 32
# A token's alphabet -> how many of its characters carry TOKEN_BYTES random bytes (checked in this order).
TOKEN_FORMS = ((re.compile(r"[0-9a-fA-F]+"), 64, "hex digits"),
               (re.compile(r"[A-Za-z0-9_+/-]+={0,2}"), 43, "base64 characters"))
TOKEN_HOWTO = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def read_token(path: Path) -> str:
    """The HTTP bearer token from its file, which must be its owner's only and hold at least 32 random bytes:
    a guessable or readable token is a remote signer for anyone. InputError names the file, never the token."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        token = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError("--token-file", f"cannot read {path}: {getattr(e, 'strerror', None) or 'not text'}") \
            from None
    if mode & 0o077:
        raise InputError("--token-file", f"{path} is mode {mode:o}: it must be readable by its owner only "
                                         "(chmod 600)")
    for form, minimum, what in TOKEN_FORMS:
        if form.fullmatch(token):
            if len(token.rstrip("=")) < minimum:
                raise InputError("--token-file", f"{path} holds {len(token)} {what}; a token needs at least "
                                                 f"{minimum} ({TOKEN_BYTES} random bytes), e.g. {TOKEN_HOWTO}")
            return token
    raise InputError("--token-file", f"{path} must hold one token of at least {TOKEN_BYTES} random bytes in hex "
                                     f"or base64 and nothing else, e.g. {TOKEN_HOWTO}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def http_listen(spec: str, tls_cert: Path | None, tls_key: Path | None) -> tuple[tuple[str, int], Tls | None]:
    """``--http HOST:PORT`` with its TLS files, checked before anything is bound: beyond loopback the bearer
    token and every signed request cross a network, so TLS is required there. InputError names the option."""
    host, _, port_text = spec.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise InputError("--http", "use HOST:PORT, e.g. 127.0.0.1:8710")
    if (tls_cert is None) != (tls_key is None):
        raise InputError("--tls-cert" if tls_cert is None else "--tls-key", "give both --tls-cert and --tls-key")
    tls = (tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None
    if tls is None and not _loopback(host):
        raise InputError("--http", f"{host} is not a loopback address: remote callers need TLS "
                                   "(--tls-cert and --tls-key)")
    if tls is not None:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(*tls)
        except (OSError, ssl.SSLError) as e:
            raise InputError("--tls-cert", f"cannot load {tls[0]} with the key {tls[1]}: "
                                           f"{getattr(e, 'strerror', None) or getattr(e, 'reason', None) or e}") \
                from None
    return (host, int(port_text)), tls


def bind_unix(path: Path) -> socket.socket:
    if path.exists():
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


EngineFactory = Callable[[str, "Buckets | None"], SignCenter]


def run(make_engine: EngineFactory, socket_path: Path | None, http: tuple[str, int] | None, token: str | None,
        workers: int = 1, busy_poll_s: float = BUSY_POLL_S, on_ready: Callable[[], None] | None = None,
        shared_buckets: Callable[[], Buckets] | None = None, tls: Tls | None = None) -> int:
    """Bind the sockets, then serve them from this process (``workers=1``) or from that many forked worker
    processes (see workers.py). ``make_engine(replica_suffix, buckets)`` builds a process's engine. The exit
    status."""
    harden_process()
    unix = bind_unix(socket_path) if socket_path is not None else None
    tcp = serving.bind(*http) if http is not None else None

    def worker(index: int, ready: Callable[[], None]) -> None:
        harden_process()
        asyncio.run(serve(make_engine(f".{index}", buckets), unix, tcp, token, ready, busy_poll_s, tls))

    try:
        if workers <= 1:
            asyncio.run(serve(make_engine("", None), unix, tcp, token, on_ready, busy_poll_s, tls))
            return 0
        from .workers import supervise

        buckets = shared_buckets() if shared_buckets else None
        return supervise(workers, worker, on_ready)
    finally:
        for sock in (unix, tcp):
            if sock is not None:
                sock.close()
        if socket_path is not None and socket_path.exists():
            socket_path.unlink()
