"""Signed order requests per second the sandbox serves to stock ccxt (async, keep-alive), beside the same
client's rate against a trivial public endpoint in the same run. Target: ≥ 1,000 signed order requests/s.

Each worker alternates create (a resting limit buy) and cancel, so every request is a signed order request
and the book stays small. The sandbox runs in its own process; the client uses the other core.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from cexlink.sandbox.clients import ccxt_client

from .common import report, sandbox_process

CONCURRENCY = 16
DURATION = 5.0


async def _run(url: str, key: dict, signed: bool) -> float:
    ex = ccxt_client("binance", url, key, asynchronous=True)
    await ex.load_markets()
    count = 0
    stop_at = 0.0

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < stop_at:
            if signed:
                order = await ex.create_order("BTC/USDT", "limit", "buy", 0.001, 20000)
                await ex.cancel_order(order["id"], "BTC/USDT")
                count += 2
            else:
                await ex.public_get_ping()
                count += 1

    # warm up connections, then measure
    await asyncio.gather(*(ex.public_get_ping() for _ in range(CONCURRENCY)))
    stop_at = time.perf_counter() + DURATION
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    await ex.close()
    return count / elapsed


def main() -> None:
    with sandbox_process() as url:
        key = httpx.post(url + "/sandbox/v1/keys", json={
            "exchange": "binance", "ips": ["127.0.0.1"], "balances": {"USDT": "100000000"}}).json()
        trivial = asyncio.run(_run(url, key, signed=False))
        signed = asyncio.run(_run(url, key, signed=True))
    report("sandbox: signed order requests (ccxt async)", signed, "req/s", trivial, "same client, /api/v3/ping",
           target="≥ 1,000 req/s")


if __name__ == "__main__":
    main()
