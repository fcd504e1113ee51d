"""A bare signer, the benchmarks' floor for the Sign Center: a process that answers ``sign`` and ``forward`` lines
of the Sign Center's protocol on a Unix socket with ccxt's own ``sign()`` on a keyed instance (and, for forward,
one keep-alive httpx client that sends it), and does nothing else: no policy, no audit, no store, no checks, no
busy-polling. What it costs is the process boundary on this machine;
what the Sign Center costs beyond it is its own work. Never a signer to use: it holds a plaintext key and signs
whatever it is sent.

Run by ``bare_signer_process`` (common.py): the key arrives on standard input, never in the command line.
"""

from __future__ import annotations

import json
import select
import socket
import sys
from typing import Any

import ccxt
import httpx

from cexlink.exchanges.endpoints import point_ccxt
from cexlink.signer.wire import line as encode
from cexlink.signer.wire import parse


def _answer(exchange: Any, http: httpx.Client, line: bytes) -> bytes:
    message = parse(line)
    if message.get("op") not in ("sign", "forward"):
        reply = {"id": message.get("id"), "ok": False, "error": {"type": "input", "field": "op",
                                                                 "message": "a bare signer only signs"}}
    else:
        args = message["args"]
        signed = exchange.sign(args["path"], args["api"], args["method"], args["params"])
        result = {"url": signed["url"], "method": signed["method"], "headers": signed.get("headers"),
                  "body": signed.get("body")}
        if message["op"] == "forward":
            body = result["body"]
            resp = http.request(result["method"], result["url"], headers=result["headers"] or {},
                                content=body.encode() if isinstance(body, str) else body)
            result = {"status": resp.status_code, "reason": resp.reason_phrase, "headers": dict(resp.headers),
                      "body": resp.text}
        reply = {"id": message["id"], "ok": True, "result": result}
    return encode(reply)


def serve(path: str, exchange_id: str, base_url: str, api_key: str, secret: str, passphrase: str | None) -> None:
    exchange = getattr(ccxt, exchange_id)({"apiKey": api_key, "secret": secret, "password": passphrase})
    if base_url != "-":
        point_ccxt(exchange, base_url)
    http = httpx.Client(timeout=10.0)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    epoll = select.epoll()
    epoll.register(listener.fileno(), select.EPOLLIN)
    conns: dict[int, tuple[socket.socket, bytearray]] = {}
    print("ready", flush=True)
    while True:
        for fd, _ in epoll.poll():
            if fd == listener.fileno():
                conn, _ = listener.accept()  # blocking sockets: epoll says when a read will not wait
                conns[conn.fileno()] = (conn, bytearray())
                epoll.register(conn.fileno(), select.EPOLLIN)
                continue
            conn, inbox = conns[fd]
            data = conn.recv(1 << 16)
            if not data:
                epoll.unregister(fd)
                conn.close()
                del conns[fd]
                continue
            inbox += data
            end = inbox.rfind(b"\n") + 1
            lines = bytes(inbox[:end]).split(b"\n")[:-1]
            del inbox[:end]
            if lines:
                conn.sendall(b"".join(_answer(exchange, http, line) for line in lines))


if __name__ == "__main__":
    key = json.loads(sys.stdin.readline())
    serve(sys.argv[1], sys.argv[2], sys.argv[3], key["api_key"], key["secret"], key.get("passphrase"))
