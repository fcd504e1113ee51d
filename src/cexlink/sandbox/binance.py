"""Binance spot dialect: ``/api/v3/*`` and the ``/sapi/v1/*`` calls clients make for a spot account.

Signing (binance-spot-api-docs rest-api.md): HMAC-SHA256, hex, over the raw query string concatenated with
the raw body, minus the ``signature`` parameter; ``timestamp`` must satisfy
``timestamp < serverTime + 1000`` and ``serverTime - timestamp <= recvWindow`` (default 5000, max 60000).
``timestamp`` may be in milliseconds or microseconds; ``X-MBX-TIME-UNIT: MICROSECOND`` asks for times in µs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from starlette.responses import Response

from . import binance_json as js
from . import forbidden, permissions
from .dialect import (
    READ,
    TRADE,
    Call,
    Dialect,
    Endpoint,
    ErrorSpec,
    decimal_param,
    json_response,
    market_param,
    optional,
    order_id_param,
    required,
)
from .markets import MARKETS, MarketSpec
from .rejects import Reason, Reject

__all__ = ["ERRORS", "Binance", "signed_payload"]

DAY_MS = 86_400_000
TRADING_WITHOUT_IP_MS = 30 * DAY_MS  # a key with no IP whitelist loses spot trading 30 days after creation
KEY_RE = re.compile(r"^[A-Za-z0-9]{64}$")
SIG_RE = re.compile(r"(^|&)signature=([^&]*)")
# The only spelling Binance takes for a DECIMAL parameter (its -1100 message quotes this very pattern): no sign,
# exponent, underscore, space, NaN or Infinity, at most 20 digits each side.
DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
MAX_RECV_WINDOW = 60000

_INVALID_KEY = ErrorSpec(401, -2015, "Invalid API-key, IP, or permissions for action.")
_KEY_FORMAT = ErrorSpec(401, -2014, "API-key format invalid.")
_MANDATORY = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."

# Error table: (HTTP status, code, message) exactly as Binance sends them (errors.md; HTTP statuses as seen).
ERRORS: dict[Reason, ErrorSpec] = {
    Reason.MISSING_KEY: _KEY_FORMAT, Reason.KEY_FORMAT: _KEY_FORMAT,
    # One answer for every key problem, as Binance gives (the reason is never told).
    **dict.fromkeys((Reason.INVALID_KEY, Reason.IP_NOT_WHITELISTED, Reason.NO_PERMISSION, Reason.KEY_EXPIRED,
                     Reason.TRADING_EXPIRED), _INVALID_KEY),
    Reason.MISSING_SIGNATURE: ErrorSpec(400, -1102, _MANDATORY.format("signature")),
    Reason.BAD_SIGNATURE: ErrorSpec(400, -1022, "Signature for this request is not valid."),
    Reason.MISSING_TIMESTAMP: ErrorSpec(400, -1102, _MANDATORY.format("timestamp")),
    Reason.BAD_TIMESTAMP: ErrorSpec(400, -1102, _MANDATORY.format("timestamp")),
    Reason.TIMESTAMP_OUTSIDE_WINDOW: ErrorSpec(400, -1021, "Timestamp for this request is outside of the recvWindow."),
    Reason.TIMESTAMP_AHEAD: ErrorSpec(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."),
    Reason.RECV_WINDOW_TOO_LARGE: ErrorSpec(400, -1131, "recvWindow must be less than 60000"),
    # No public source shows the wire format for an unaccepted API trading agreement; errors.md's -2010
    # "Rest API trading is not enabled." (REST trading off for this caller) is the closest documented refusal.
    Reason.AGREEMENT_REQUIRED: ErrorSpec(400, -2010, "Rest API trading is not enabled."),
    # errors.md: "Contact customer support: trading operations have been disabled for this account."
    Reason.ACCOUNT_SUSPENDED: ErrorSpec(400, -2010, "This account may not place or cancel orders."),
    # HTTP 451 + code 0 is what api.binance.com sends to restricted locations (ccxt/ccxt#19167, dali-rp2#237).
    Reason.REGION_RESTRICTED: ErrorSpec(451, 0, "Service unavailable from a restricted location according to "
                                                "'b. Eligibility' in https://www.binance.com/en/terms. Please "
                                                "contact customer service if you believe you received this "
                                                "message in error."),
    Reason.KYC_REQUIRED: ErrorSpec(400, -2010, "This action is disabled on this account."),
    Reason.INSUFFICIENT_BALANCE: ErrorSpec(400, -2010, "Account has insufficient balance for requested action."),
    Reason.DUPLICATE_ORDER: ErrorSpec(400, -2010, "Duplicate order sent."),
    Reason.WOULD_TAKE: ErrorSpec(400, -2010, "Order would immediately match and take."),
    Reason.BAD_SIDE: ErrorSpec(400, -1117, "Invalid side."),
    Reason.BAD_ORDER_TYPE: ErrorSpec(400, -1116, "Invalid orderType."),
    Reason.BAD_TIME_IN_FORCE: ErrorSpec(400, -1115, "Invalid timeInForce."),
    Reason.UNKNOWN_ORDER: ErrorSpec(400, -2013, "Order does not exist."),
    Reason.CANCEL_REJECTED: ErrorSpec(400, -2011, "Unknown order sent."),
    Reason.BAD_SYMBOL: ErrorSpec(400, -1121, "Invalid symbol."),
    Reason.FILTER_PRICE: ErrorSpec(400, -1013, "Filter failure: PRICE_FILTER"),
    # Binance has one LOT_SIZE filter for the minimum, the maximum and the step.
    **dict.fromkeys((Reason.FILTER_LOT_SIZE, Reason.FILTER_MIN_QTY), ErrorSpec(400, -1013, "Filter failure: LOT_SIZE")),
    Reason.FILTER_MARKET_LOT_SIZE: ErrorSpec(400, -1013, "Filter failure: MARKET_LOT_SIZE"),
    Reason.FILTER_NOTIONAL: ErrorSpec(400, -1013, "Filter failure: NOTIONAL"),
    Reason.MISSING_PARAM: ErrorSpec(400, -1102, _MANDATORY.format("{param}")),
    Reason.BAD_PARAM: ErrorSpec(400, -1100, "Illegal characters found in parameter '{param}'; legal range is "
                                            "'^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."),
    # Binance's edge answers unknown paths with a bare HTML 404 (ccxt/ccxt#18797); we keep the status but send
    # JSON like every sandbox answer. ccxt: OperationFailed here, ExchangeNotAvailable on the real one.
    Reason.NOT_FOUND: ErrorSpec(404, -1000, "An unknown error occurred while processing the request."),
    # {"code":1,"msg":"System is under maintenance."}: the body ccxt's binance.py quotes beside its OnMaintenance
    # rule; -1016 would be "This service is no longer available." (errors.md SERVICE_SHUTTING_DOWN).
    Reason.MAINTENANCE: ErrorSpec(503, 1, "System is under maintenance."),
    Reason.RATE_LIMITED: ErrorSpec(429, -1003, "Too much request weight used; current limit is {limit} request "
                                               "weight per 1 MINUTE. Please use WebSocket Streams for live updates "
                                               "to avoid polling the API."),
    Reason.IP_BANNED: ErrorSpec(418, -1003, "Way too much request weight used; IP banned until {until}. Please "
                                            "use WebSocket Streams for live updates to avoid bans."),
}
# A refusal the shared Reason set has no word for, raised as Reject(BAD_PARAM, spec=...) (errors.md wording).
BAD_RESP_TYPE = ErrorSpec(400, -1100, "Illegal characters found in parameter 'newOrderRespType'; legal range is "
                                      "'ACK, RESULT, FULL'.")
# Enumerated order parameters: allowed values and the refusal (reason, extra detail) for anything else.
ENUMS: dict[str, tuple[tuple[str, ...], Reason, dict[str, Any]]] = {
    "side": (("BUY", "SELL"), Reason.BAD_SIDE, {}),
    "type": (js.ORDER_TYPES, Reason.BAD_ORDER_TYPE, {}),
    "timeInForce": (("GTC", "IOC", "FOK"), Reason.BAD_TIME_IN_FORCE, {}),
    "newOrderRespType": (("ACK", "RESULT", "FULL"), Reason.BAD_PARAM, {"spec": BAD_RESP_TYPE}),
}

def signed_payload(raw_query: str, body: bytes) -> tuple[str, str | None]:
    """(payload to verify, signature) from the raw query and body: the bytes as sent, minus ``signature``."""
    signature = None
    parts = []
    for raw in (raw_query, body.decode("latin-1")):
        m = SIG_RE.search(raw)
        if m:
            signature = m.group(2)
            raw = raw[:m.start()] + (raw[m.end():] if m.group(1) else raw[m.end() + 1:])
        parts.append(raw)
    return "".join(parts), signature


class Binance(Dialect):
    """Binance spot: ``GET /api/v3/exchangeInfo`` is the only market call a stock ccxt pointed here makes
    (exchanges/endpoints.py switches off the others)."""

    name = "binance"
    prefixes: ClassVar[tuple[str, ...]] = ("/api/v3", "/sapi/v1", "/sapi/v2")
    errors: ClassVar[dict[Reason, ErrorSpec]] = ERRORS
    # A restricted location is refused everything (HTTP 451), but a suspended account may still read:
    # /api/v3/account answers with canTrade=false and only orders are refused (errors.md -2010).
    refuses_reads: ClassVar[frozenset[str]] = frozenset({"region_restricted"})
    # The same refusal on a cancel is CANCEL_REJECTED (errors.md).
    method_codes: ClassVar[dict[tuple[str, int | str], int | str]] = {("DELETE", -2010): -2011}

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.order_times: dict[str, deque[int]] = {}  # uid -> order attempts in the last day (ms)

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("GET", "/api/v3/ping", lambda c: {}),
            Endpoint("GET", "/api/v3/time", lambda c: {"serverTime": self.ctx.now_ms()}),
            Endpoint("GET", "/api/v3/exchangeInfo", self.exchange_info, weight=20),
            Endpoint("GET", "/api/v3/ticker/price", self.ticker_price, weight=2),
            Endpoint("GET", "/api/v3/ticker/bookTicker", self.book_ticker, weight=2),
            Endpoint("GET", "/api/v3/account", self.account, READ, weight=20),
            Endpoint("POST", "/api/v3/order", self.new_order, TRADE),
            Endpoint("POST", "/api/v3/order/test", self.test_order, TRADE),
            Endpoint("GET", "/api/v3/order", self.get_order, READ, weight=4),
            Endpoint("DELETE", "/api/v3/order", self.cancel_order, TRADE),
            Endpoint("GET", "/api/v3/openOrders", self.open_orders, READ, weight=6),
            Endpoint("GET", "/api/v3/allOrders", self.all_orders, READ, weight=20),
            Endpoint("GET", "/api/v3/myTrades", self.my_trades, READ, weight=20),
            Endpoint("GET", "/sapi/v1/account/apiRestrictions", self.api_restrictions, READ),
            Endpoint("GET", "/sapi/v1/account/status", lambda c: {"data": "Normal"}, READ),
            Endpoint("GET", "/sapi/v1/system/status", self.system_status, system_status=True),
            *forbidden.endpoints(self),
        ]

    # ---- pipeline parts ----

    def success(self, data: Any, call: Call) -> Response:
        if call.headers.get("x-mbx-time-unit", "").upper() == "MICROSECOND":
            data = js.micro(data)
        return json_response(data, 200, call.response_headers)

    def error_body(self, spec: ErrorSpec, reject: Reject, call: Call | None) -> Any:
        return {"code": spec.code, "msg": spec.message(reject.detail)}

    def charge(self, call: Call, endpoint: Endpoint) -> None:
        # Binance counts request weight per IP; the header tells clients how much of the minute they used.
        try:
            used = self.ctx.limits.hit(self.name, call.ip, endpoint.weight)
        except Reject as reject:
            if "used" in reject.detail:
                call.response_headers["X-MBX-USED-WEIGHT-1M"] = str(reject.detail["used"])
            raise
        call.response_headers["X-MBX-USED-WEIGHT-1M"] = str(used)

    def authenticate(self, call: Call, access: str) -> None:
        api_key = call.headers.get("x-mbx-apikey")
        if not api_key:
            raise Reject(Reason.MISSING_KEY)
        if not KEY_RE.match(api_key):
            raise Reject(Reason.KEY_FORMAT)
        key = self.check_key_state(call, self.ledger.find_key(self.name, api_key))
        call.key = key
        params = self.params(call)
        payload, signature = signed_payload(call.raw_query, call.body)
        if "timestamp" not in params:
            raise Reject(Reason.MISSING_TIMESTAMP)
        self.check_timestamp(params)
        if not signature:
            raise Reject(Reason.MISSING_SIGNATURE)
        expected = hmac.new(key.secret.encode(), payload.encode("latin-1"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise Reject(Reason.BAD_SIGNATURE)
        if not permissions.allows(self.name, key.permissions, READ):
            raise Reject(Reason.NO_PERMISSION)
        self.check_account(call, access)
        if access == TRADE:
            if not key.agreement_accepted:
                raise Reject(Reason.AGREEMENT_REQUIRED)
            if not permissions.allows(self.name, key.permissions, TRADE):
                raise Reject(Reason.NO_PERMISSION)
            expiry = self.trading_expiry(key)
            if expiry is not None and self.ctx.now_ms() >= expiry:
                raise Reject(Reason.TRADING_EXPIRED)

    def check_timestamp(self, params: dict[str, str]) -> None:
        try:
            ts = int(params["timestamp"])
            window = Decimal(params.get("recvWindow") or "5000")
        except ValueError:
            raise Reject(Reason.BAD_TIMESTAMP) from None
        if ts > 10**14:  # microseconds are accepted too
            ts //= 1000
        if window > MAX_RECV_WINDOW or window <= 0:
            raise Reject(Reason.RECV_WINDOW_TOO_LARGE)
        now = self.ctx.now_ms()
        if ts >= now + 1000:
            raise Reject(Reason.TIMESTAMP_AHEAD)
        if now - ts > window:
            raise Reject(Reason.TIMESTAMP_OUTSIDE_WINDOW)

    @staticmethod
    def trading_expiry(key: Any) -> int | None:
        return None if key.ips else key.created_at + TRADING_WITHOUT_IP_MS

    @staticmethod
    def params(call: Call) -> dict[str, str]:
        # POST/DELETE parameters may sit in the query, the form body or both; the query wins on duplicates.
        form = call.form() if call.body and call.method != "GET" else {}
        return {**form, **call.query}

    def request_params(self, call: Call) -> dict[str, Any]:
        return self.params(call)

    def decimal(self, params: Mapping[str, Any], name: str, required: bool = True,
                positive: bool = False) -> Decimal | None:
        raw = params.get(name)
        if raw not in (None, "") and not (isinstance(raw, str) and DECIMAL_RE.match(raw)):
            raise Reject(Reason.BAD_PARAM, param=name)
        return decimal_param(params, name, required, positive)

    # ---- public ----

    def exchange_info(self, call: Call) -> dict[str, Any]:
        wanted = call.query.get("symbol")
        markets = [m for m in MARKETS if wanted in (None, m.symbol)]
        if wanted and not markets:
            raise Reject(Reason.BAD_SYMBOL, symbol=wanted)
        return js.exchange_info(markets, self.ctx.now_ms(), self.ctx.limits.config(self.name).weight_per_window)

    def _prices(self, call: Call) -> list[tuple[MarketSpec, Decimal]]:
        self.ledger.tick()
        if "symbol" in call.query:
            spec = market_param(call.query)
            return [(spec, self.ledger.walk.price(spec.symbol))]
        return [(m, self.ledger.walk.price(m.symbol)) for m in MARKETS]

    def ticker_price(self, call: Call) -> Any:
        rows = [js.price_row(m, p) for m, p in self._prices(call)]
        return rows[0] if "symbol" in call.query else rows

    def book_ticker(self, call: Call) -> Any:
        rows = [js.book_row(m, p) for m, p in self._prices(call)]
        return rows[0] if "symbol" in call.query else rows

    # ---- private ----

    def account(self, call: Call) -> dict[str, Any]:
        acct = call.account
        assert acct is not None and call.key is not None
        expiry, now = self.trading_expiry(call.key), self.ctx.now_ms()
        can_trade = permissions.allows(self.name, call.key.permissions, TRADE) and call.key.agreement_accepted \
            and (expiry is None or now < expiry)
        return js.account_json(acct, can_trade, self.params(call).get("omitZeroBalances") == "true", now)

    def api_restrictions(self, call: Call) -> dict[str, Any]:
        assert call.key is not None  # a signed endpoint: the pipeline found the key
        return js.restrictions_json(call.key, self.trading_expiry(call.key), self.ctx.now_ms())

    def count_order(self, call: Call, uid: str) -> None:
        # Binance reports the account's order count on every order response (rest-api.md, "Unfilled Order Count").
        now = self.ctx.now_ms()
        times = self.order_times.setdefault(uid, deque())
        times.append(now)
        while times and times[0] <= now - DAY_MS:
            times.popleft()
        call.response_headers["X-MBX-ORDER-COUNT-10S"] = str(sum(1 for t in times if t > now - 10_000))
        call.response_headers["X-MBX-ORDER-COUNT-1D"] = str(len(times))

    def new_order(self, call: Call) -> dict[str, Any]:
        p = self.params(call)
        self.count_order(call, self.uid(call))
        spec = market_param(p)
        side, type_ = required(p, "side").upper(), required(p, "type").upper()
        if type_ == "LIMIT" and "timeInForce" not in p:
            raise Reject(Reason.MISSING_PARAM, param="timeInForce")
        # rest-api.md: MARKET and LIMIT default to FULL, every other type to ACK.
        resp_type = p.get("newOrderRespType", "FULL" if type_ in ("LIMIT", "MARKET") else "ACK").upper()
        tif = p.get("timeInForce", "GTC").upper()
        for name, value in (("side", side), ("type", type_), ("timeInForce", tif), ("newOrderRespType", resp_type)):
            allowed, reason, detail = ENUMS[name]
            if value not in allowed:
                raise Reject(reason, param=name, **detail)
        qty = self.decimal(p, "quantity", required=False)
        quote_qty = self.decimal(p, "quoteOrderQty", required=False)
        price = self.decimal(p, "price", required=type_ != "MARKET")
        if type_ == "MARKET" and qty is None and quote_qty is None:
            raise Reject(Reason.MISSING_PARAM, param="quantity")
        order = self.ledger.place_order(self.name, self.uid(call), spec.symbol, side,
                                        "LIMIT" if type_ == "LIMIT_MAKER" else type_, qty, price, quote_qty,
                                        p.get("newClientOrderId"), tif, wire_type=type_,
                                        post_only=type_ == "LIMIT_MAKER")
        return js.new_order_json(order, resp_type, [t for t in self.ledger.trades[-1:] if t.order_id == order.id])

    def test_order(self, call: Call) -> dict[str, Any]:
        """rest-api.md "Test new order": authenticated and validated like an order, never sent to matching.
        Platforms use it to learn whether a key may trade without touching the user's funds."""
        p = self.params(call)
        market_param(p)
        for name in ("side", "type"):
            allowed, reason, detail = ENUMS[name]
            if required(p, name).upper() not in allowed:
                raise Reject(reason, param=name, **detail)
        return {}

    @staticmethod
    def _order_ref(p: dict[str, str]) -> tuple[int | None, str | None]:
        order_id, client_id = order_id_param(p, "orderId"), optional(p, "origClientOrderId")
        if order_id is None and client_id is None:
            raise Reject(Reason.MISSING_PARAM, param="orderId")
        return order_id, client_id

    def get_order(self, call: Call) -> dict[str, Any]:
        p = self.params(call)
        spec = market_param(p)
        order_id, client_id = self._order_ref(p)
        order = self.ledger.get_order(self.name, self.uid(call), spec.symbol, order_id, client_id)
        return js.order_json(order)

    def cancel_order(self, call: Call) -> Any:
        p = self.params(call)
        spec = market_param(p)
        order_id, client_id = self._order_ref(p)
        try:
            order = self.ledger.cancel_order(self.name, self.uid(call), spec.symbol, order_id, client_id)
        except Reject as reject:
            if reject.reason is Reason.UNKNOWN_ORDER:
                raise Reject(Reason.CANCEL_REJECTED, order_id=order_id) from None
            raise
        return js.canceled_json(order, p.get("newClientOrderId"))

    def open_orders(self, call: Call) -> list[dict[str, Any]]:
        p = self.params(call)
        symbol = market_param(p).symbol if "symbol" in p else None
        return [js.order_json(o) for o in self.ledger.open_orders(self.name, self.uid(call), symbol)]

    def all_orders(self, call: Call) -> list[dict[str, Any]]:
        p = self.params(call)
        spec = market_param(p)
        limit = min(int(p.get("limit") or 500), 1000)
        orders = self.ledger.account_orders(self.name, self.uid(call), spec.symbol)
        return [js.order_json(o) for o in orders][-limit:]

    def my_trades(self, call: Call) -> list[dict[str, Any]]:
        p = self.params(call)
        spec = market_param(p)
        trades = self.ledger.account_trades(self.name, self.uid(call), spec.symbol)
        if "orderId" in p:
            trades = [t for t in trades if str(t.order_id) == p["orderId"]]
        limit = min(int(p.get("limit") or 500), 1000)
        return [js.trade_json(t) for t in trades][-limit:]
