"""Stock ccxt behaviour with no secret on the caller's side: remote-signed instances trade on the sandbox
through the Sign Center's real Unix socket."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import ccxt
import pytest

from cexlink.ccxt import remote
from cexlink.sandbox.clients import point_ccxt
from cexlink.signer.client import AsyncSignerClient, SignerClient
from tests.support.sandbox import SANDBOXED
from tests.support.signer import SignerProcess, start_signer, store


@pytest.mark.parametrize("exchange", SANDBOXED)
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


@pytest.mark.parametrize("exchange", SANDBOXED)
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
    """The caller cannot redirect a signed request: base URLs are pinned in the Sign Center, not by the caller
    (an unreachable host named by the caller would end in a network error, not the sandbox's answer)."""
    key = new_key("binance", ips=["127.0.0.1"])
    cred = store(client, key, "binance")
    answer = client.forward(cred, "binance", ["private"], "GET", "account", {},
                            {"urls": {"api": {"private": "https://evil.example/api/v3"}}})
    assert answer["status"] == 200 and '"balances"' in answer["body"]


@pytest.mark.parametrize(("exchange", "section", "path"), [("mexc", "spot", "ping"),
                                                      ("htx", "spot", "v1/common/timestamp"),
                                                      ("cryptocom", "v1", "public/get-instruments")])
def test_public_calls_stay_local_where_the_access_is_named_second(client: SignerClient, exchange: str, section: str,
                                                                   path: str) -> None:
    """MEXC, HTX and Crypto.com name the sub-API first (``["spot", "public"]``): a public call is built on the
    caller's side as ccxt builds it, and only the private one goes to the Sign Center (whose policy here has no
    endpoint of theirs, so it refuses)."""
    cred = client.store("user-3", exchange, "k" * 32, "s" * 64)["credential_id"]
    ex = remote(exchange, cred, client)
    assert ex.sign(path, [section, "public"], "GET", {}) == getattr(ccxt, exchange)().sign(path, [section, "public"],
                                                                                          "GET", {})
    with pytest.raises(ccxt.PermissionDenied, match="endpoint_not_allowed"):  # forwarded: none is known safe
        ex.fetch2(path, [section, "private"], "GET", {})


def test_pipelined_async_requests_match_their_answers(signer: SignerProcess) -> None:
    """KuCoin's signature binds the whole request, so ``sign`` answers it: 40 pipelined, each its own."""

    async def run() -> list[str]:
        aclient = AsyncSignerClient(signer.socket)
        cred = (await aclient.store("user-3", "kucoin", "64f1a2b3c4d5e6f708192a3b",
                                    "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b", "kc-pass-123"))["credential_id"]
        try:
            results = await asyncio.gather(*(aclient.sign(cred, "kucoin", ["private"], "GET", "fills",
                                                          {"symbol": f"S{i}"}) for i in range(40)))
        finally:
            await aclient.close()
        return [r["url"] for r in results]

    urls = asyncio.run(run())
    assert all(url.endswith(f"symbol=S{i}") for i, url in enumerate(urls))


class _RawCaller:
    """A caller on the Sign Center's socket without our client: what the answers say, as they come."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("rb")

    def health(self, rid: int) -> dict:
        self.sock.sendall(json.dumps({"id": rid, "op": "health", "args": {}}).encode() + b"\n")
        answer = json.loads(self.reader.readline())
        assert answer["id"] == rid and answer["ok"]
        return answer

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.mark.timing
def test_answers_say_busy_only_while_callers_take_turns(signer: SignerProcess) -> None:
    """A lone caller may busy-wait for its answers; callers taking turns are told the Sign Center is busy, so
    that they block instead (their busy-waiting would take the CPU it needs)."""
    a, b = _RawCaller(signer.socket), _RawCaller(signer.socket)

    def busy(caller: _RawCaller, rid: int) -> bool:
        return bool(caller.health(rid).get("busy", False))

    def alone(n: int) -> list[bool]:
        told = []
        for i in range(n):
            time.sleep(0.02)  # well past the Sign Center's crowded window (5 ms)
            told.append(busy(a, i))
        return told

    try:
        assert alone(5) == [False] * 5
        turns = [busy(a if i % 2 else b, 100 + i) for i in range(40)]
        assert sum(turns[2:]) >= 0.8 * len(turns[2:])  # told from the second change of caller on
        assert alone(5) == [False] * 5
    finally:
        a.close()
        b.close()


def _runnable_ns(pid: int) -> int:
    """Time every thread of ``pid`` has spent runnable so far, on a CPU or waiting for one, in nanoseconds
    (schedstat: exact, unlike stat's ticks). Not CPU time alone: a polling thread yields to any process with
    work, so on a busy machine its CPU time says more about the load than about whether it polled."""
    return sum(sum(map(int, (task / "schedstat").read_text().split()[:2]))
               for task in Path(f"/proc/{pid}/task").iterdir())


@pytest.mark.timing
def test_polls_after_an_answer_only_for_a_caller_that_comes_straight_back(tmp_path: Path) -> None:
    """After an answer the Sign Center polls for the next request (``--busy-poll-us``, 5 ms here) only while
    its caller comes straight back; for a caller that does other work between signatures it would be CPU
    taken from that work."""
    signer = start_signer(tmp_path, None, extra=["--busy-poll-us", "5000"])
    caller = _RawCaller(signer.socket)
    health = caller.health
    try:
        polled_after_tight = 0
        for attempt in range(3):  # a stall of the VM in the last round trip (> 10 ms) rightly stops the poll
            for i in range(50):  # straight back each time
                health(attempt * 50 + i)
            before = _runnable_ns(signer.proc.pid)
            time.sleep(0.05)
            polled_after_tight = max(polled_after_tight, _runnable_ns(signer.proc.pid) - before)
            if polled_after_tight >= 3_000_000:
                break
        for i in range(3):  # back after 15 ms: three times the poll, so polling would not have caught it
            time.sleep(0.015)
            health(1000 + i)
        before = _runnable_ns(signer.proc.pid)
        for i in range(20):
            time.sleep(0.015)
            health(2000 + i)
        paced = _runnable_ns(signer.proc.pid) - before
    finally:
        caller.close()
        signer.stop()
    assert polled_after_tight >= 3_000_000  # it polled (5 ms) after the straight-back caller's last answer
    assert paced < 20 * 1_500_000  # it did not poll after these 20 answers: that alone would be 20 × 5 ms


def test_a_signer_that_does_not_answer_is_a_clear_error_after_the_timeout(tmp_path: Path) -> None:
    from cexlink.errors import SignerUnavailable

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "mute.sock"))
    listener.listen(1)
    client = SignerClient(socket_path=tmp_path / "mute.sock", timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(SignerUnavailable, match="did not answer within 0.3 s"):
            client.describe("cred_x")
        assert time.monotonic() - started < 3
    finally:
        client.close()
        listener.close()


def test_a_signer_that_trickles_bytes_without_ending_its_answer_times_out_in_total(tmp_path: Path) -> None:
    """Each byte comes well inside the timeout, the line never ends: the timeout bounds the whole answer."""
    from cexlink.errors import SignerUnavailable

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "slow.sock"))
    listener.listen(1)
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            while not stop.wait(0.05):
                try:
                    conn.send(b" ")  # whitespace: still no line
                except OSError:
                    return

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    client = SignerClient(socket_path=tmp_path / "slow.sock", timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(SignerUnavailable, match="did not answer within 0.3 s"):
            client.describe("cred_x")
        assert time.monotonic() - started < 1.0  # per wait, the 50 ms bytes would have held it for ever
    finally:
        stop.set()
        client.close()
        server.join(timeout=5)
        listener.close()


def test_unreachable_signer_is_a_clear_error(tmp_path: Path) -> None:
    from cexlink.errors import SignerUnavailable

    with pytest.raises(SignerUnavailable, match="cannot reach the Sign Center"):
        SignerClient(socket_path=tmp_path / "nope.sock").describe("cred_x")
