"""Serving an ASGI app on a real socket in a background thread: the sandbox, and the API in ``cexlink up``,
the tests and the benchmarks. One place binds (port 0 picks a free one), starts, waits and stops."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def config(app: Any, **options: Any) -> uvicorn.Config:
    # proxy_headers=False: a server must see the client's real source address (the sandbox checks IP
    # whitelists), and a client must not be able to claim another one with X-Forwarded-For.
    return uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False, **options)


class ServerThread:
    """``app`` on ``host:port`` (0: a free port) in a daemon thread; ``url`` is known before it starts."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.sock = bind(host, port)
        scheme = "https" if options.get("ssl_certfile") else "http"  # uvicorn's TLS options
        self.url = f"{scheme}://{host}:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(config(app, **options))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self, timeout: float = 30.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the server at {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
