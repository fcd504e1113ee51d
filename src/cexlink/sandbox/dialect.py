"""What every exchange dialect shares: the raw request, the endpoint table, the request pipeline.

A dialect (binance.py, okx.py, bybit.py) is mostly data: a table of endpoints, a table of errors, and the
few functions that differ per exchange (how a request is authenticated, how an answer is wrapped). The
pipeline here runs, for every request: rate limit → maintenance → authentication → handler → envelope,
and turns any ``Reject`` or malformed input into the exchange's own error, never a 500.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .ledger import Ledger
from .markets import MarketSpec
from .ratelimit import RateLimiter
from .records import Account, ApiKey
from .rejects import Reason, Reject
from .status import RENDERERS, SystemStatus, failure_body

__all__ = ["ACCOUNT_REFUSALS", "PUBLIC", "READ", "TRADE", "Call", "Context", "Dialect", "Endpoint", "ErrorSpec",
           "decimal_param", "json_response", "limit_param", "market_param", "optional", "order_id_param", "plain",
           "required", "required_headers"]

PUBLIC, READ, TRADE = "public", "read", "trade"
# Account flags that refuse an authenticated request, in the order they are checked.
ACCOUNT_REFUSALS: tuple[tuple[str, Reason], ...] = (
    ("suspended", Reason.ACCOUNT_SUSPENDED),
    ("region_restricted", Reason.REGION_RESTRICTED),
    ("kyc_required", Reason.KYC_REQUIRED),
)


@dataclass(frozen=True)
class ErrorSpec:
    """One row of a dialect's error table: HTTP status, the exchange's code, and its message template."""

    http: int
    code: int | str
    msg: str

    def message(self, detail: dict[str, Any]) -> str:
        try:
            return self.msg.format(**detail)
        except (KeyError, IndexError):
            return self.msg


@dataclass
class Context:
    """The state all dialects serve from."""

    ledger: Ledger
    limits: RateLimiter
    clock: Callable[[], float]
    status: SystemStatus = field(default_factory=SystemStatus)  # maintenance windows, failing status endpoints

    def now_ms(self) -> int:
        return int(self.clock() * 1000)


@dataclass
class Call:
    """One inbound request, kept raw: signatures are checked over the exact bytes the client sent."""

    method: str
    path: str
    raw_query: str
    body: bytes
    headers: Headers
    ip: str
    query: dict[str, str]
    key: ApiKey | None = None
    account: Account | None = None
    response_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    async def read(cls, request: Request) -> Call:
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        body = await request.body()
        client = request.client
        return cls(request.method, request.url.path, raw_query, body, request.headers,
                   client.host if client else "", dict(parse_qsl(raw_query, keep_blank_values=True)))

    def form(self) -> dict[str, str]:
        try:
            return dict(parse_qsl(self.body.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            raise Reject(Reason.BAD_PARAM, param="body") from None

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            raise Reject(Reason.BAD_PARAM, param="body") from None


Handler = Callable[[Call], Any]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    access: str = PUBLIC  # public | read | trade
    weight: int = 1
    # The exchange's status endpoint: it answers during maintenance (to say so) and can be told to fail (status.py).
    system_status: bool = False


# ---- request parameters shared by the dialects (query strings, forms and JSON bodies alike) ----

def optional(params: Mapping[str, Any], name: str) -> str | None:
    """A parameter's text; None when absent or blank (python-okx and pybit send "" for "not given"). A value
    that is not text (a JSON number where the exchange wants a string) is refused."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Reject(Reason.BAD_PARAM, param=name)
    return value


def required(params: Mapping[str, Any], name: str) -> str:
    value = optional(params, name)
    if value is None:
        raise Reject(Reason.MISSING_PARAM, param=name)
    return value


def decimal_param(params: Mapping[str, Any], name: str, required: bool = True,
                  positive: bool = False) -> Decimal | None:
    """A finite decimal, zero or more (above zero if ``positive``), or the Reject the exchange would send."""
    raw = optional(params, name)
    if raw is None:
        if required:
            raise Reject(Reason.MISSING_PARAM, param=name)
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise Reject(Reason.BAD_PARAM, param=name) from None
    if not value.is_finite() or value < 0 or (positive and value == 0):
        raise Reject(Reason.BAD_PARAM, param=name)
    return value


def order_id_param(params: Mapping[str, Any], name: str, bad: Reason = Reason.BAD_PARAM) -> int | None:
    """An exchange order id (digits only), None when not sent; anything else is refused with ``bad``."""
    raw = optional(params, name)
    if raw is not None and not raw.isdigit():
        raise Reject(bad, param=name)
    return None if raw is None else int(raw)


def limit_param(params: Mapping[str, Any], default: int, cap: int) -> int:
    """A page size ``limit`` from 1 to ``cap``; ``default`` when not sent."""
    raw = optional(params, "limit") or str(default)
    if not raw.isdigit() or not 1 <= int(raw) <= cap:
        raise Reject(Reason.BAD_PARAM, param="limit")
    return int(raw)


def market_param(params: Mapping[str, Any], name: str = "symbol") -> MarketSpec:
    """The market a ``symbol`` (Binance/Bybit spelling) names, or BAD_SYMBOL."""
    return Ledger.market(required(params, name))


def required_headers(call: Call, headers: Mapping[str, Reason]) -> list[str]:
    """The values of auth headers that must all be sent, each one's absence refused with its own reason."""
    for header, reason in headers.items():
        if not call.headers.get(header):
            raise Reject(reason)
    return [call.headers[h] for h in headers]


class Dialect:
    """Base of the three exchange dialects. Subclasses fill the class tables and the abstract methods."""

    name: ClassVar[str]
    prefixes: ClassVar[tuple[str, ...]]
    errors: ClassVar[dict[Reason, ErrorSpec]]
    # Whether refusals that know when to come back (429, bans) carry a Retry-After header.
    retry_after_header: ClassVar[bool] = True
    # Account flags that refuse reading too (checked first); the others refuse trading only. OKX and Bybit
    # shut a suspended account out entirely; Binance lets it read (see binance.py).
    refuses_reads: ClassVar[frozenset[str]] = frozenset({"suspended"})
    # (HTTP method, code) -> the code the same refusal has on that method (Binance: -2010 on a cancel is -2011).
    method_codes: ClassVar[dict[tuple[str, int | str], int | str]] = {}

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ledger: Ledger = ctx.ledger

    # ---- to be provided by each dialect ----

    def endpoints(self) -> list[Endpoint]:
        raise NotImplementedError

    def authenticate(self, call: Call, access: str) -> None:
        """Find and check the key; set ``call.key`` and ``call.account`` or raise a Reject."""
        raise NotImplementedError

    def success(self, data: Any, call: Call) -> Response:
        raise NotImplementedError

    def error_body(self, spec: ErrorSpec, reject: Reject, call: Call | None) -> Any:
        raise NotImplementedError

    def charge(self, call: Call, endpoint: Endpoint) -> None:
        """Count the request against the exchange's rate limits; may set response headers or raise."""

    # ---- shared ----

    def spec_for(self, reject: Reject) -> ErrorSpec:
        """The row a refusal is rendered from: its own (dialect-only refusals), the table's, or BAD_PARAM's."""
        spec: ErrorSpec | None = reject.detail.get("spec")
        return spec or self.errors.get(reject.reason) or self.errors[Reason.BAD_PARAM]

    def render(self, reject: Reject, call: Call | None) -> Response:
        spec = self.spec_for(reject)
        if call is not None and (call.method, spec.code) in self.method_codes:
            spec = replace(spec, code=self.method_codes[(call.method, spec.code)])
        headers = dict(call.response_headers) if call else {}
        if self.retry_after_header and "retry_after" in reject.detail:
            headers["Retry-After"] = str(reject.detail["retry_after"])
        return json_response(self.error_body(spec, reject, call), spec.http, headers)

    @staticmethod
    def uid(call: Call) -> str:
        """The account uid of an authenticated call."""
        assert call.key is not None, "only after authenticate()"
        return call.key.uid

    def check_key_state(self, call: Call, key: ApiKey | None) -> ApiKey:
        """The checks common to all three: the key exists, is not expired, and the caller's IP is allowed."""
        if key is None:
            raise Reject(Reason.INVALID_KEY)
        if key.ips and call.ip not in key.ips:
            raise Reject(Reason.IP_NOT_WHITELISTED, ip=call.ip)
        if key.expires_at is not None and self.ctx.now_ms() >= key.expires_at:
            raise Reject(Reason.KEY_EXPIRED)
        return key

    def request_params(self, call: Call) -> dict[str, Any]:
        """A request's parameters as sent, for the endpoints that take them whole (forbidden.py): here a JSON
        object body; Binance overrides it with its query and form."""
        body = call.json()
        if not isinstance(body, dict):
            raise Reject(Reason.BAD_PARAM, param="body")
        return body

    def decimal(self, params: Mapping[str, Any], name: str, required: bool = True,
                positive: bool = False) -> Decimal | None:
        """A decimal parameter in this exchange's accepted spelling (Binance narrows it)."""
        return decimal_param(params, name, required, positive)

    def check_account(self, call: Call, access: str) -> Account:
        assert call.key is not None
        account = self.ledger.account(self.name, call.key.uid)
        call.account = account
        for flag, reason in sorted(ACCOUNT_REFUSALS, key=lambda row: row[0] not in self.refuses_reads):
            if getattr(account, flag) and (access == TRADE or flag in self.refuses_reads):
                raise Reject(reason)
        return account

    def routes(self) -> list[Route]:
        return [Route(ep.path, self._wrap(ep), methods=[ep.method]) for ep in self.endpoints()]

    def _wrap(self, ep: Endpoint) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            call = await Call.read(request)
            if ep.system_status:
                failed = await self._status_failure()
                if failed is not None:
                    return failed
            try:
                # Weight first: every answer, maintenance included, reports the weight used (X-MBX-USED-WEIGHT-1M).
                self.charge(call, ep)
                if not ep.system_status and self.ctx.status.under_maintenance(self.name, self.ctx.now_ms()):
                    raise Reject(Reason.MAINTENANCE)
                if ep.access != PUBLIC:
                    self.authenticate(call, ep.access)
                    if call.key is not None:
                        self.ledger.touch_key(call.key)
                with self.ledger.lock:
                    data = ep.handler(call)
                return self.success(data, call)
            except Reject as reject:
                return self.render(reject, call)
            except (ValueError, ArithmeticError, TypeError, AttributeError, LookupError, RecursionError):
                # Malformed input the handler did not anticipate still gets the exchange's own error.
                return self.render(Reject(Reason.BAD_PARAM, param="request"), call)

        run.__name__ = f"{self.name}_{ep.method}_{ep.path}"
        return run

    def system_status(self, call: Call) -> Any:
        """The exchange's status endpoint: what its maintenance windows say now (status.py)."""
        return RENDERERS[self.name](self.ctx.status, self.name, self.ctx.now_ms(), call.query)

    async def _status_failure(self) -> Response | None:
        """The gateway's 5xx when the status endpoint is told to fail; after a hang, None: it then answers (to
        a client still waiting)."""
        with self.ledger.lock:
            failure = self.ctx.status.take_failure(self.name)
        if failure is None:
            return None
        if failure.mode == "hang":
            await asyncio.sleep(failure.seconds)
            return None
        return Response(failure_body(failure.http), failure.http, media_type="text/html")

    def not_found(self, request: Request) -> Response:
        return self.render(Reject(Reason.NOT_FOUND, path=request.url.path), None)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Compact JSON and an explicit content type: some SDKs parse error bodies only when it says JSON.
    return Response(json.dumps(body, separators=(",", ":")), status, headers,
                    media_type="application/json")


def plain(d: Decimal) -> str:
    """A decimal as OKX and Bybit write numbers: plain notation, no exponent, no trailing zeros, never "-0"."""
    text = format(d.normalize(), "f")
    return "0" if text == "-0" else text
