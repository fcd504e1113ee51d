"""What every dialect of the sandbox must do, written once and run per exchange (keyring's ``BackendBasicTests``):
stock ccxt trades, every key refusal arrives as the exchange's own code with the ccxt class the real exchange's
answer gets, maintenance and rate limits look like the exchange's, malformed input never gets a 500, and the
signing vectors hold.

A subclass says only what differs: the exchange, its expected answers (data), and how to sign a raw request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from cexlink.sandbox.clients import ccxt_client
from cexlink.sandbox.server import SandboxServer
from tests.support.sandbox import limits

VECTORS_DIR = Path(__file__).parents[1] / "vectors"
NewKey = Callable[..., dict[str, Any]]
# (ccxt exception class, exchange code, HTTP status, text the answer's message must contain)
Refusal = tuple[type[Exception], int | str, int, str]


def load_vectors(exchange: str) -> dict[str, Any]:
    """tests/vectors/<exchange>.json: ``exchange``, ``algorithm``, ``source`` and ``vectors`` (each with ``name``,
    ``method``, ``path``, ``query``, ``body``, ``secret``, ``signature`` and the exchange's extra inputs)."""
    return json.loads((VECTORS_DIR / f"{exchange}.json").read_text())


class Answers:
    """The HTTP answers a ccxt instance received, newest last (ccxt quotes bodies only for code-matched errors)."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, Any]] = []

    def watch(self, ex: Any) -> Any:
        original = ex.on_rest_response

        def on_rest_response(code: int, reason: str, url: str, method: str, *rest: Any) -> Any:
            body = original(code, reason, url, method, *rest)
            self.seen.append((code, ex.parse_json(body)))
            return body

        ex.on_rest_response = on_rest_response
        return ex


class DialectContract:
    """The tests every dialect passes; subclasses (``TestBinanceContract`` …) set the class attributes below."""

    EXCHANGE: ClassVar[str]
    CODE_FIELD: ClassVar[str]  # where the exchange puts its error code in a JSON answer
    MESSAGE_FIELD: ClassVar[str]
    KEY: ClassVar[dict[str, Any]] = {}  # extra fields for a trading key (OKX wants explicit permissions)
    FETCH_ORDER_PARAMS: ClassVar[dict[str, Any]] = {}  # Bybit: {"acknowledged": True}
    REFUSALS: ClassVar[dict[str, Refusal]]  # wrong_secret, unknown_key, ip_not_whitelisted, expired_key
    MAINTENANCE: ClassVar[Refusal]
    RATE_LIMITED: ClassVar[Refusal]
    RATE_LIMITS: ClassVar[dict[str, Any]]  # what the test sets so that a few balance calls run out
    TIME_PATH: ClassVar[str]  # a public endpoint: maintenance covers it too
    ORDER_PATH: ClassVar[str]  # where an order is placed, for malformed bodies
    UNKNOWN_PATHS: ClassVar[list[tuple[str, str, int, int | str, str]]]  # (method, path, status, code, text)
    ENCODING: ClassVar[str]  # how the HMAC-SHA256 digest is written: "hex" or "base64"

    # ------------------------------------------------------------ hooks

    def unknown_key(self) -> dict[str, Any]:
        """A key of this exchange's format that the exchange never issued."""
        raise NotImplementedError

    def send(self, url: str, key: dict[str, Any], method: str, path: str, query: str = "",
             body: bytes = b"") -> httpx.Response:
        """A request signed by hand as the exchange documents it, carrying exactly these query and body bytes."""
        raise NotImplementedError

    def prehash(self, vector: dict[str, Any]) -> bytes:
        """The bytes the exchange's documentation says are signed, written out by hand from the vector."""
        raise NotImplementedError

    def sandbox_signature(self, vector: dict[str, Any]) -> str:
        """The signature the sandbox's own code expects for the vector's request."""
        raise NotImplementedError

    def during_maintenance(self, sandbox: SandboxServer, key: dict[str, Any]) -> None:
        """Exchange-specific checks while maintenance is on (headers, messages)."""

    # ------------------------------------------------------------ plumbing

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "vector" in metafunc.fixturenames:
            vectors = load_vectors(self.EXCHANGE)["vectors"]
            metafunc.parametrize("vector", vectors, ids=[v["name"] for v in vectors])

    @pytest.fixture(autouse=True)
    def _restore_prices(self, admin: httpx.Client) -> Iterator[None]:
        """Put back the prices a test moved: the session sandbox is shared by every exchange's tests."""
        before = admin.get("/prices").json()
        yield
        for symbol in ("BTCUSDT", "ETHUSDT"):
            admin.post("/prices", json={"symbol": symbol, "price": before[symbol]})

    def client(self, sandbox: SandboxServer, key: dict[str, Any] | None, answers: Answers | None = None,
               **kw: Any) -> Any:
        ex = ccxt_client(self.EXCHANGE, sandbox.url, key, **kw)
        return answers.watch(ex) if answers else ex

    def refused(self, call: Callable[[Answers], Any], expected: Refusal) -> None:
        """``call`` must raise exactly the ccxt class, for an answer with the exchange's code, status and text."""
        cls, code, http, text = expected
        answers = Answers()
        with pytest.raises(cls) as info:
            call(answers)
        assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
        status, body = answers.seen[-1]
        assert (status, body[self.CODE_FIELD]) == (http, code), (status, body)
        assert text in body[self.MESSAGE_FIELD], body

    def key(self, new_key: NewKey, **body: Any) -> dict[str, Any]:
        return new_key(self.EXCHANGE, **{**self.KEY, **body})

    # ------------------------------------------------------------ 1. the happy path, with stock ccxt

    def test_balance_place_open_orders_cancel(self, sandbox: SandboxServer, admin: httpx.Client,
                                              new_key: NewKey) -> None:
        ex = self.client(sandbox, self.key(new_key))
        ex.load_markets()
        usdt = ex.fetch_balance()["USDT"]
        assert (usdt["free"], usdt["used"], usdt["total"]) == (100000, 0, 100000)
        assert ex.fetch_balance()["BTC"]["free"] == 2
        assert admin.post("/prices", json={"symbol": "BTCUSDT", "price": "60000"}).status_code == 200
        mine = "c" + secrets.token_hex(8)
        order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 30000, {"clientOrderId": mine})
        assert order["clientOrderId"] == mine
        usdt = ex.fetch_balance()["USDT"]
        assert (D(usdt["free"]), D(usdt["used"]), D(usdt["total"])) == (D(99700), D(300), D(100000))
        [listed] = ex.fetch_open_orders("BTC/USDT")
        assert (listed["id"], listed["clientOrderId"], listed["status"]) == (order["id"], mine, "open")
        assert (listed["price"], listed["amount"], listed["remaining"]) == (30000, 0.01, 0.01)
        assert ex.cancel_order(order["id"], "BTC/USDT")["id"] == order["id"]
        assert ex.fetch_open_orders("BTC/USDT") == []
        fetched = ex.fetch_order(order["id"], "BTC/USDT", self.FETCH_ORDER_PARAMS)
        assert (fetched["status"], fetched["filled"], fetched["amount"]) == ("canceled", 0, 0.01)
        usdt = ex.fetch_balance()["USDT"]
        assert (usdt["free"], usdt["used"], usdt["total"]) == (100000, 0, 100000)

    # ------------------------------------------------------------ 2. key refusals

    def test_wrong_secret(self, sandbox: SandboxServer, new_key: NewKey) -> None:
        key = {**self.key(new_key), "secret": "0" * 32}
        self.refused(lambda a: self.client(sandbox, key, a).fetch_balance(), self.REFUSALS["wrong_secret"])

    def test_unknown_key(self, sandbox: SandboxServer) -> None:
        key = self.unknown_key()
        self.refused(lambda a: self.client(sandbox, key, a).fetch_balance(), self.REFUSALS["unknown_key"])

    def test_revoked_key(self, sandbox: SandboxServer, admin: httpx.Client, new_key: NewKey) -> None:
        key = self.key(new_key)
        assert admin.delete(f"/keys/{self.EXCHANGE}/{key['api_key']}").status_code == 200
        self.refused(lambda a: self.client(sandbox, key, a).fetch_balance(), self.REFUSALS["unknown_key"])

    def test_ip_not_whitelisted(self, sandbox: SandboxServer, new_key: NewKey) -> None:
        key = self.key(new_key, ips=["127.0.0.9"])
        self.refused(lambda a: self.client(sandbox, key, a, source_ip="127.0.0.5").fetch_balance(),
                     self.REFUSALS["ip_not_whitelisted"])
        assert self.client(sandbox, key, source_ip="127.0.0.9").fetch_balance()["USDT"]["free"] == 100000

    @pytest.mark.parametrize("how", ["created_expired", "expired_later"])
    def test_expired_key(self, sandbox: SandboxServer, admin: httpx.Client, new_key: NewKey, how: str) -> None:
        if how == "created_expired":
            key = self.key(new_key, expires_at=1)
        else:
            key = self.key(new_key)
            assert self.client(sandbox, key).fetch_balance()["USDT"]["free"] == 100000
            r = admin.patch(f"/keys/{self.EXCHANGE}/{key['api_key']}", json={"expires_at": 1})
            assert r.status_code == 200, r.text
        self.refused(lambda a: self.client(sandbox, key, a).fetch_balance(), self.REFUSALS["expired_key"])

    # ------------------------------------------------------------ 3. the exchange's own troubles

    def test_maintenance(self, sandbox: SandboxServer, admin: httpx.Client, new_key: NewKey) -> None:
        key = self.key(new_key)
        try:
            admin.post("/maintenance", json={"exchange": self.EXCHANGE, "on": True})
            self.refused(lambda a: self.client(sandbox, key, a).fetch_balance(), self.MAINTENANCE)
            public = httpx.get(sandbox.url + self.TIME_PATH)
            assert (public.status_code, public.json()[self.CODE_FIELD]) == (503, self.MAINTENANCE[1])
            self.during_maintenance(sandbox, key)
        finally:
            admin.post("/maintenance", json={"exchange": self.EXCHANGE, "on": False})
        assert self.client(sandbox, key).fetch_balance()["USDT"]["free"] == 100000

    def test_rate_limit(self, sandbox: SandboxServer, admin: httpx.Client, new_key: NewKey) -> None:
        key = self.key(new_key)
        ex = self.client(sandbox, key, source_ip="127.0.0.66")  # limits count per IP: keep others' out
        ex.load_markets()

        def spend(answers: Answers) -> None:
            answers.watch(ex)
            for _ in range(10):
                ex.fetch_balance()

        with limits(admin, self.EXCHANGE, **self.RATE_LIMITS):
            self.refused(spend, self.RATE_LIMITED)
        assert ex.fetch_balance()["USDT"]["free"] == 100000  # generous limits again, counters forgotten

    # ------------------------------------------------------------ 4. malformed input: the exchange's JSON, never a 500

    @pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"symbol": ' * 200, b"", b"=&=&"],
                             ids=["not-json", "json-array", "not-utf8", "unclosed-nesting", "empty", "empty-pairs"])
    def test_malformed_order_body_is_refused_in_the_exchanges_shape(self, sandbox: SandboxServer, new_key: NewKey,
                                                                    body: bytes) -> None:
        r = self.send(sandbox.url, self.key(new_key), "POST", self.ORDER_PATH, body=body)
        assert r.status_code < 500 and r.headers["content-type"].startswith("application/json"), r.text
        code = r.json()[self.CODE_FIELD]
        assert code not in (0, "0"), r.text  # refused, not placed

    def test_unknown_paths(self, sandbox: SandboxServer) -> None:
        for method, path, status, code, text in self.UNKNOWN_PATHS:
            r = httpx.request(method, sandbox.url + path)
            assert (r.status_code, r.json()[self.CODE_FIELD]) == (status, code), (method, path, r.text)
            assert r.headers["content-type"] == "application/json" and text in r.json()[self.MESSAGE_FIELD]

    # ------------------------------------------------------------ 5. signing vectors

    def test_signing_vector(self, vector: dict[str, Any]) -> None:
        digest = hmac.new(vector["secret"].encode(), self.prehash(vector), hashlib.sha256).digest()
        assert ENCODINGS[self.ENCODING](digest) == vector["signature"]
        assert self.sandbox_signature(vector) == vector["signature"]


def D(value: Any) -> Decimal:
    """A ccxt float as the Decimal it prints as, so sums compare exactly."""
    return Decimal(str(value))


ENCODINGS: dict[str, Callable[[bytes], str]] = {"hex": bytes.hex, "base64": lambda d: base64.b64encode(d).decode()}
