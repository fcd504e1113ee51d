"""Running the sandbox on a real socket: in the foreground (the CLI) or in a thread (tests, ``cexlink up``)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn

from .app import create_app, make_context
from .dialect import Context


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def config(app: object) -> uvicorn.Config:
    # proxy_headers=False: the sandbox must see the client's real source address (IP whitelists), and a
    # client must not be able to claim another one with X-Forwarded-For.
    return uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False,
                          http="httptools", loop="uvloop", timeout_keep_alive=30)


class SandboxServer:
    """The sandbox on 127.0.0.1 in a background thread; ``url`` is its base URL once started."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state_file: Path | None = None,
                 ctx: Context | None = None) -> None:
        self.ctx = ctx or make_context()
        self.app = create_app(self.ctx, state_file)
        self.sock = bind(host, port)
        self.url = f"http://{host}:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(config(self.app))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> SandboxServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("sandbox did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def serve_forever(host: str, port: int, state_file: Path | None, on_ready: object = None) -> None:
    sock = bind(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    app = create_app(make_context(), state_file)
    if callable(on_ready):
        on_ready(url)
    uvicorn.Server(config(app)).run(sockets=[sock])
