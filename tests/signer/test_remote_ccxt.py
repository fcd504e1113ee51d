"""Stock ccxt behaviour with no secret on the caller's side: remote-signed instances trade on the sandbox
through the Sign Center's real Unix socket."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import ccxt
import pytest

from cexlink.ccxt import remote
from cexlink.sandbox.clients import point_ccxt
from cexlink.signer.client import AsyncSignerClient, SignerClient
from signer_support import SignerProcess, client, signer, store  # noqa: F401  (fixtures)


@pytest.mark.parametrize("exchange", ["binance", "okx", "bybit"])
def test_remote_instance_trades_without_the_secret(sandbox, new_key, client: SignerClient, exchange: str) -> None:
    key = new_key(exchange, ips=["127.0.0.1"])
    cred = store(client, key, exchange)
    ex = point_ccxt(remote(exchange, cred, client, config={"enableRateLimit": False}), sandbox.url)
    assert key["secret"] not in repr(vars(ex))
    balance = ex.fetch_balance()
    assert balance["USDT"]["free"] == pytest.approx(100000.0)
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000)
    assert ex.fetch_balance()["USDT"]["used"] == pytest.approx(300.0)
    assert [o["id"] for o in ex.fetch_open_orders("BTC/USDT")] == [order["id"]]
    ex.cancel_order(order["id"], "BTC/USDT")
    assert ex.fetch_balance()["USDT"]["free"] == pytest.approx(100000.0)


@pytest.mark.parametrize("exchange", ["binance", "okx", "bybit"])
def test_async_remote_instance(sandbox, new_key, signer: SignerProcess, exchange: str) -> None:
    key = new_key(exchange, ips=["127.0.0.1"])

    async def run() -> tuple[float, str]:
        aclient = AsyncSignerClient(signer.socket)
        cred = (await aclient.store("user-2", exchange, key["api_key"], key["secret"], key.get("passphrase")))[
            "credential_id"]
        ex = point_ccxt(remote(exchange, cred, aclient, asynchronous=True, config={"enableRateLimit": False}),
                        sandbox.url)
        try:
            free = (await ex.fetch_balance())["USDT"]["free"]
            order = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000)
            canceled = await ex.cancel_order(order["id"], "BTC/USDT")
            return free, canceled["id"]
        finally:
            await ex.close()
            await aclient.close()

    free, canceled_id = asyncio.run(run())
    assert free == pytest.approx(100000.0) and canceled_id


def test_exchange_errors_come_back_as_ccxt_errors(sandbox, new_key, client: SignerClient, admin) -> None:
    key = new_key("binance", ips=["127.0.0.1"])
    cred = store(client, key, "binance")
    admin.delete(f"/keys/binance/{key['api_key']}")  # the user deletes the key on the exchange
    ex = point_ccxt(remote("binance", cred, client, config={"enableRateLimit": False}), sandbox.url)
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        ex.fetch_balance()


def test_signatures_go_only_where_the_sign_center_says(sandbox, new_key, client: SignerClient) -> None:
    """The caller cannot redirect a signature: base URLs are pinned in the Sign Center, not by the caller."""
    key = new_key("binance", ips=["127.0.0.1"])
    cred = store(client, key, "binance")
    request = client.sign(cred, "binance", ["private"], "GET", "account", {},
                          {"urls": {"api": {"private": "https://evil.example/api/v3"}}})
    assert request["url"].startswith(sandbox.url + "/api/v3/account?")


def test_pipelined_async_requests_match_their_answers(new_key, signer: SignerProcess) -> None:
    key = new_key("binance")

    async def run() -> list[str]:
        aclient = AsyncSignerClient(signer.socket)
        cred = (await aclient.store("user-3", "binance", key["api_key"], key["secret"]))["credential_id"]
        try:
            results = await asyncio.gather(*(aclient.sign(cred, "binance", ["private"], "GET", "myTrades",
                                                          {"symbol": f"S{i}"}) for i in range(40)))
        finally:
            await aclient.close()
        return [r["url"] for r in results]

    urls = asyncio.run(run())
    assert all(f"symbol=S{i}&" in url for i, url in enumerate(urls))


def test_answers_say_busy_only_while_callers_take_turns(signer: SignerProcess) -> None:
    """A lone caller may busy-wait for its answers; callers taking turns are told the Sign Center is busy, so
    that they block instead (their busy-waiting would take the CPU it needs)."""
    def connect() -> tuple[socket.socket, object]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(signer.socket))
        return sock, sock.makefile("rb")

    (a, a_in), (b, b_in) = connect(), connect()

    def busy(sock: socket.socket, reader: object, rid: int) -> bool:
        sock.sendall(json.dumps({"id": rid, "op": "health", "args": {}}).encode() + b"\n")
        answer = json.loads(reader.readline())  # type: ignore[attr-defined]
        assert answer["id"] == rid and answer["ok"]
        return bool(answer.get("busy", False))

    def alone(n: int) -> list[bool]:
        told = []
        for i in range(n):
            time.sleep(0.02)  # well past the Sign Center's crowded window (5 ms)
            told.append(busy(a, a_in, i))
        return told

    try:
        assert alone(5) == [False] * 5
        turns = [busy(*((a, a_in) if i % 2 else (b, b_in)), 100 + i) for i in range(40)]
        assert sum(turns[2:]) >= 0.8 * len(turns[2:])  # told from the second change of caller on
        assert alone(5) == [False] * 5
    finally:
        a.close()
        b.close()


def test_unreachable_signer_is_a_clear_error(tmp_path: Path) -> None:
    from cexlink.errors import SignerUnavailable

    with pytest.raises(SignerUnavailable, match="cannot reach the Sign Center"):
        SignerClient(socket_path=tmp_path / "nope.sock").describe("cred_x")
