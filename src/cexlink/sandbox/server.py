"""Running the sandbox on a real socket: in the foreground (the CLI) or in a thread (tests, ``cexlink up``)."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from ..serving import ServerThread, bind, config
from .app import create_app, make_context
from .dialect import Context

FAST = {"http": "httptools", "loop": "uvloop", "timeout_keep_alive": 30}
__all__ = ["SandboxServer", "bind", "serve_forever"]


class SandboxServer(ServerThread):
    """The sandbox on 127.0.0.1 in a background thread; ``url`` is its base URL once started."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state_file: Path | None = None,
                 ctx: Context | None = None) -> None:
        self.ctx = ctx or make_context()
        self.app = create_app(self.ctx, state_file)
        super().__init__(self.app, host, port, **FAST)

    def start(self, timeout: float = 10.0) -> SandboxServer:
        super().start(timeout)
        return self


def serve_forever(host: str, port: int, state_file: Path | None, on_ready: object = None) -> None:
    sock = bind(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    app = create_app(make_context(), state_file)
    if callable(on_ready):
        on_ready(url)
    uvicorn.Server(config(app, **FAST)).run(sockets=[sock])
