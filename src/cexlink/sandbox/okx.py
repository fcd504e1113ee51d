"""OKX v5 dialect: ``/api/v5/*`` for a spot (``acctLv`` 1) trading account.

Signing (docs-v5 "REST Authentication"): ``OK-ACCESS-SIGN`` = Base64(HMAC-SHA256(secret, timestamp + METHOD +
requestPath[?query] + body)) over the raw bytes sent; ``OK-ACCESS-TIMESTAMP`` is ISO-8601 UTC with ms and must
be within 30 s of server time. Envelope ``{"code":"0","msg":"","data":[...]}``; codes are strings. Order
placement and cancellation report per-order failures as ``data[i].sCode``/``sMsg`` under outer code "1"
(all failed) or "2" (some failed), which is what ccxt's okx ``handle_errors`` reads.

Demo trading: a sandbox key is a *live* key unless created with ``demo: true``, as keys made on okx.com's API
page are. The environment a request asks for (``x-simulated-trading: 1`` is demo) must be the key's, else 50101
either way; python-okx therefore needs ``flag='0'`` with a live key (its default is '1').

Key lifetime (okx.com API FAQ): a key with trade or withdraw permission and no IP whitelist is deleted after
14 days without use (demo keys are kept); a deleted key is an unknown key (50119). ``last_used_at`` is noted on
every authenticated request, and the ledger's clock decides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import forbidden, permissions
from . import okx_json as js
from . import okx_params as params
from .dialect import (
    PUBLIC,
    READ,
    TRADE,
    Call,
    Dialect,
    Endpoint,
    ErrorSpec,
    json_response,
    optional,
    required,
    required_headers,
)
from .markets import MARKETS, MarketSpec
from .okx_params import EITHER, ORD_TYPES, NewOrder, spec_of
from .records import ApiKey, Order
from .rejects import Reason, Reject

__all__ = ["ERRORS", "Okx", "parse_ts", "prehash", "sign"]

WINDOW_MS = 30_000
IDLE_EXPIRY_MS = 14 * 86_400_000
IDLE_EXPIRING_PERMS = frozenset({"trade", "withdraw"})
KEY_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")

E = ErrorSpec
# Error table (docs-v5 "Error Code", HTTP statuses from the same table; observed bodies where noted).
ERRORS: dict[Reason, ErrorSpec] = {
    Reason.MISSING_KEY: E(401, "50103", 'Request header "OK-ACCESS-KEY" cannot be empty.'),
    Reason.MISSING_PASSPHRASE: E(401, "50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.'),
    Reason.BAD_PASSPHRASE: E(401, "50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.'),
    Reason.MISSING_SIGNATURE: E(401, "50106", 'Request header "OK-ACCESS-SIGN" cannot be empty.'),
    Reason.MISSING_TIMESTAMP: E(401, "50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.'),
    Reason.BAD_TIMESTAMP: E(401, "50112", "Invalid OK-ACCESS-TIMESTAMP."),
    Reason.TIMESTAMP_OUTSIDE_WINDOW: E(401, "50102", "Timestamp request expired."),
    Reason.TIMESTAMP_AHEAD: E(401, "50102", "Timestamp request expired."),
    Reason.KEY_FORMAT: E(401, "50111", "Invalid OK-ACCESS-KEY."),
    # A well-formed key OKX does not know: 401 {"msg":"API key doesn't exist","code":"50119"} (freqtrade#9422,
    # ccxt#23779). OKX *deletes* trading keys that expire (14 days idle without IP; "demo keys will not be
    # removed"), so an expired key is an unknown key: same answer, not 50100 (that is a key frozen by OKX).
    Reason.INVALID_KEY: E(401, "50119", "API key doesn't exist"),
    Reason.KEY_EXPIRED: E(401, "50119", "API key doesn't exist"),
    Reason.WRONG_ENVIRONMENT: E(401, "50101", "APIKey does not match current environment."),
    Reason.KEY_FROZEN: E(400, "50100", "API frozen, please contact customer service."),
    Reason.BAD_SIGNATURE: E(401, "50113", "Invalid signature."),
    Reason.IP_NOT_WHITELISTED: E(401, "50110", "Your IP {ip} is not included in your API key's IP whitelist."),
    Reason.NO_PERMISSION: E(200, "50120", "This API key doesn't have permission to use this function"),
    Reason.ACCOUNT_SUSPENDED: E(200, "50007", "Account blocked."),
    # Observed (ccxt okx exceptions comment): {"code":"4088","data":[],"msg":"You can’t trade or deposit ..."}.
    Reason.KYC_REQUIRED: E(200, "4088", "You can’t trade or deposit until you’ve verified your identity again. "
                                        "Head to Identity Verification to complete it."),
    Reason.REGION_RESTRICTED: E(200, "51155", "You can't trade this pair or borrow this crypto due to local "
                                              "compliance restrictions."),
    Reason.INSUFFICIENT_BALANCE: E(200, "51008", "Order failed. Insufficient {asset} balance in account."),
    Reason.BAD_SYMBOL: E(200, "51001", "Instrument ID doesn't exist."),
    Reason.UNKNOWN_ORDER: E(200, "51603", "Order does not exist."),
    Reason.CANCEL_REJECTED: E(200, "51400", "Order cancellation failed as the order has been filled, canceled "
                                            "or does not exist."),
    Reason.DUPLICATE_ORDER: E(200, "51016", "Duplicated clOrdId."),
    # OKX has no tick-size code: a px off the tick grid is a bad px.
    Reason.FILTER_PRICE: E(200, "51000", "Parameter px error"),
    Reason.FILTER_LOT_SIZE: E(200, "51121", "Order quantity must be a multiple of the lot size."),
    Reason.FILTER_MARKET_LOT_SIZE: E(200, "51202", "Market order amount exceeds the maximum amount."),
    Reason.FILTER_NOTIONAL: E(200, "51020", "Your order should meet or exceed the minimum order amount."),
    Reason.FILTER_MIN_QTY: E(200, "51020", "Your order should meet or exceed the minimum order amount."),
    Reason.BATCH_TOO_LARGE: E(400, "51111", "Maximum {limit} orders can be placed in bulk."),
    Reason.MISSING_PARAM: E(400, "50014", "Parameter {param} cannot be empty."),
    Reason.BAD_PARAM: E(400, "51000", "Parameter {param} error"),
    # Unknown path: OKX's gateway answers 404 with its own envelope (no documented 5xxxx code exists for it).
    Reason.NOT_FOUND: E(404, "404", "Not Found"),
    Reason.MAINTENANCE: E(503, "50001", "Service temporarily unavailable. Please try again later."),
    Reason.RATE_LIMITED: E(429, "50011", "Too Many Requests"),
    Reason.IP_BANNED: E(429, "50011", "Too Many Requests"),  # OKX has no escalating ban: still 50011
}
BAD_METHOD = E(405, "50115", "Invalid request method.")
ACCOUNT_MODE = E(200, "51010", "You can't complete this request under your current account mode.")
MAX_LIMIT = E(200, "51203", "Order amount exceeds the limit {limit}.")

# Refusals that OKX reports per order (sCode in data[]) on the order-writing endpoints; a dialect-only one says
# so with ``per_order=True`` in its detail.
PER_ORDER = {Reason.INSUFFICIENT_BALANCE, Reason.BAD_SYMBOL, Reason.REGION_RESTRICTED, Reason.CANCEL_REJECTED,
             Reason.DUPLICATE_ORDER, Reason.FILTER_PRICE, Reason.FILTER_LOT_SIZE, Reason.FILTER_MIN_QTY,
             Reason.FILTER_MARKET_LOT_SIZE, Reason.FILTER_NOTIONAL, Reason.UNKNOWN_ORDER}
ORDER_WRITES = {"/api/v5/trade/order", "/api/v5/trade/batch-orders", "/api/v5/trade/cancel-order",
                "/api/v5/trade/cancel-batch-orders"}
# Auth headers in the order OKX checks them, each with the refusal for its absence.
AUTH_HEADERS = {"ok-access-key": Reason.MISSING_KEY, "ok-access-sign": Reason.MISSING_SIGNATURE,
                "ok-access-timestamp": Reason.MISSING_TIMESTAMP, "ok-access-passphrase": Reason.MISSING_PASSPHRASE}
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def sign(secret: str, prehash: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), prehash, hashlib.sha256).digest()).decode()


def prehash(call: Call) -> bytes:
    """timestamp + METHOD + path[?raw query] + raw body, byte for byte as the client sent them."""
    path = call.path + ("?" + call.raw_query if call.raw_query else "")
    return (call.headers.get("ok-access-timestamp", "") + call.method.upper() + path).encode("latin-1") + call.body


def parse_ts(value: str) -> int:
    if not TS_RE.match(value):
        raise Reject(Reason.BAD_TIMESTAMP)
    try:
        return int(datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ" if "." in value else "%Y-%m-%dT%H:%M:%SZ")
                   .replace(tzinfo=UTC).timestamp() * 1000)
    except ValueError:
        raise Reject(Reason.BAD_TIMESTAMP) from None


class Okx(Dialect):
    name = "okx"
    prefixes: ClassVar[tuple[str, ...]] = ("/api/v5",)
    errors: ClassVar[dict[Reason, ErrorSpec]] = ERRORS
    retry_after_header: ClassVar[bool] = False

    def endpoints(self) -> list[Endpoint]:
        p = "/api/v5"
        return [
            Endpoint("GET", p + "/public/time", lambda c: [{"ts": str(self.ctx.now_ms())}]),
            Endpoint("GET", p + "/public/instruments", self.instruments),
            Endpoint("GET", p + "/market/ticker", self.ticker),
            Endpoint("GET", p + "/market/tickers", self.tickers),
            Endpoint("GET", p + "/system/status", self.system_status, system_status=True),
            Endpoint("GET", p + "/account/config", self.config, READ),
            Endpoint("GET", p + "/account/balance", self.balance, READ),
            Endpoint("GET", p + "/account/trade-fee", self.trade_fee, READ),
            Endpoint("GET", p + "/asset/currencies", self.currencies, READ),
            Endpoint("POST", p + "/trade/order", lambda c: self.place(c, batch=False), TRADE),
            Endpoint("POST", p + "/trade/batch-orders", lambda c: self.place(c, batch=True), TRADE),
            Endpoint("GET", p + "/trade/order", self.get_order, READ),
            Endpoint("POST", p + "/trade/cancel-order", lambda c: self.cancel(c, batch=False), TRADE),
            Endpoint("POST", p + "/trade/cancel-batch-orders", lambda c: self.cancel(c, batch=True), TRADE),
            Endpoint("GET", p + "/trade/orders-pending", self.orders_pending, READ),
            Endpoint("GET", p + "/trade/orders-history", self.orders_history, READ),
            Endpoint("GET", p + "/trade/orders-history-archive", self.orders_history, READ),
            Endpoint("GET", p + "/trade/fills", lambda c: self.fills(c, inst_type_required=False), READ),
            Endpoint("GET", p + "/trade/fills-history", lambda c: self.fills(c, inst_type_required=True), READ),
            *forbidden.endpoints(self),
        ]

    # ---- pipeline parts ----

    def success(self, data: Any, call: Call) -> Response:
        body: dict[str, Any] = {"code": "0", "msg": "", "data": data}
        if self.writes_orders(call):
            failed = sum(1 for item in data if item.get("sCode") != "0")
            if failed:
                all_failed = failed == len(data)
                body.update(code="1" if all_failed else "2",
                            msg="All operations failed" if all_failed else "Bulk operation partially succeeded")
            now_us = str(self.ctx.now_ms() * 1000)
            body.update(inTime=now_us, outTime=now_us)
        return json_response(body, 200, call.response_headers)

    def request_params(self, call: Call) -> dict[str, Any]:
        if not call.body:
            raise Reject(Reason.BAD_PARAM, spec=params.EMPTY_BODY)
        try:
            return super().request_params(call)
        except Reject:
            raise Reject(Reason.BAD_PARAM, spec=params.JSON_SYNTAX) from None

    @staticmethod
    def writes_orders(call: Call) -> bool:
        return call.method == "POST" and call.path in ORDER_WRITES

    def error_body(self, spec: ErrorSpec, reject: Reject, call: Call | None) -> Any:
        return {"code": str(spec.code), "msg": spec.message(reject.detail), "data": []}

    @staticmethod
    def is_per_order(reject: Reject) -> bool:
        return bool(reject.detail.get("per_order")) or reject.reason in PER_ORDER

    def render(self, reject: Reject, call: Call | None) -> Response:
        if call is not None and self.writes_orders(call) and self.is_per_order(reject):
            # Refused before the orders were looked at (e.g. the account's region): every order fails alike.
            spec = self.spec_for(reject)
            return self.success([self.failed(spec, reject, item) for item in params.raw_items(call.body)], call)
        return super().render(reject, call)

    def routes(self) -> list[Route]:
        # A catch-all after the real routes: the app's 404 handler picks a dialect by path prefix and Binance's
        # "/api/" would claim /api/v5 paths, so OKX answers its own unknown paths and wrong methods here.
        async def unknown(request: Request) -> Response:
            return self.not_found(request)

        return [*super().routes(), Route("/api/v5/{rest:path}", unknown, methods=list(ALL_METHODS))]

    def not_found(self, request: Request) -> Response:
        known = {ep.path for ep in self.endpoints()}
        if request.url.path in known:
            return self.render(Reject(Reason.BAD_PARAM, spec=BAD_METHOD), None)
        return super().not_found(request)

    def charge(self, call: Call, endpoint: Endpoint) -> None:
        # OKX limits each endpoint separately: per user ID (here: per API key) for private ones, per IP for public.
        who = call.headers.get("ok-access-key") if endpoint.access != PUBLIC else None
        self.ctx.limits.hit(self.name, f"{who or call.ip} {endpoint.method} {endpoint.path}", endpoint.weight)

    def authenticate(self, call: Call, access: str) -> None:
        api_key, signature, timestamp, passphrase = required_headers(call, AUTH_HEADERS)
        if abs(self.ctx.now_ms() - parse_ts(timestamp)) > WINDOW_MS:
            raise Reject(Reason.TIMESTAMP_OUTSIDE_WINDOW)
        if not KEY_RE.match(api_key):
            raise Reject(Reason.KEY_FORMAT)
        key = self.ledger.find_key(self.name, api_key)
        now = self.ctx.now_ms()
        if key is None or (key.expires_at is not None and now >= key.expires_at) or self.idle_expired(key, now):
            raise Reject(Reason.INVALID_KEY)  # OKX deletes expired keys: they are unknown keys
        if (call.headers.get("x-simulated-trading", "0") == "1") != key.demo:
            raise Reject(Reason.WRONG_ENVIRONMENT)
        if not hmac.compare_digest((key.passphrase or "").encode(), passphrase.encode()):
            raise Reject(Reason.BAD_PASSPHRASE)
        if not hmac.compare_digest(sign(key.secret, prehash(call)).encode(), signature.encode()):
            raise Reject(Reason.BAD_SIGNATURE)
        if key.frozen:
            raise Reject(Reason.KEY_FROZEN)
        call.key = self.check_key_state(call, key)
        if not permissions.allows(self.name, key.permissions, access):
            raise Reject(Reason.NO_PERMISSION)
        self.check_account(call, access)

    @staticmethod
    def idle_expired(key: ApiKey, now: int) -> bool:
        """OKX's 14-day rule for keys that may trade or withdraw from anywhere (demo keys are exempt)."""
        if key.demo or key.ips or not IDLE_EXPIRING_PERMS & set(key.permissions.get("perm", [])):
            return False
        return now - (key.last_used_at or key.created_at) >= IDLE_EXPIRY_MS

    def failed(self, spec: ErrorSpec, reject: Reject, item: dict[str, Any]) -> dict[str, Any]:
        return {"clOrdId": str(item.get("clOrdId") or ""), "ordId": str(item.get("ordId") or ""),
                "sCode": str(spec.code), "sMsg": spec.message(reject.detail), "tag": str(item.get("tag") or ""),
                "ts": str(self.ctx.now_ms())}

    def per_order(self, item: dict[str, Any], run: Any) -> dict[str, Any]:
        try:
            return run()
        except Reject as reject:
            if not self.is_per_order(reject):
                raise
            return self.failed(self.spec_for(reject), reject, item)

    # ---- public ----

    def instruments(self, call: Call) -> list[dict[str, Any]]:
        if params.inst_type(call.query) != "SPOT":
            return []
        inst_id = optional(call.query, "instId")
        return [js.instrument(spec_of(inst_id))] if inst_id else [js.instrument(m) for m in MARKETS]

    def _ticker(self, m: MarketSpec) -> dict[str, Any]:
        return js.ticker(m, self.ledger.price(m.symbol), self.ctx.now_ms())

    def ticker(self, call: Call) -> list[dict[str, Any]]:
        return [self._ticker(spec_of(required(call.query, "instId")))]

    def tickers(self, call: Call) -> list[dict[str, Any]]:
        return [self._ticker(m) for m in MARKETS] if params.inst_type(call.query) == "SPOT" else []

    # ---- account ----

    def config(self, call: Call) -> list[dict[str, Any]]:
        assert call.key is not None and call.account is not None
        return [js.config(call.key, call.account)]

    def balance(self, call: Call) -> list[dict[str, Any]]:
        acct = call.account
        assert acct is not None
        wanted = set((optional(call.query, "ccy") or "").split(",")) - {""}
        return [js.balance(acct, wanted, self.ledger.walk.usd, self.ctx.now_ms())]

    def trade_fee(self, call: Call) -> list[dict[str, Any]]:
        return [js.trade_fee(str(params.inst_type(call.query)), self.ctx.now_ms())]

    def currencies(self, call: Call) -> list[dict[str, Any]]:
        return js.currencies()

    # ---- trading ----

    def place(self, call: Call, batch: bool) -> list[dict[str, Any]]:
        items = params.items(call.body, batch)
        orders = [NewOrder.parse(i) for i in items]  # malformed input refuses the whole request
        return [self.per_order(item, lambda o=o: self.place_one(call, o)) for item, o in zip(items, orders,
                                                                                               strict=True)]

    def place_one(self, call: Call, o: NewOrder) -> dict[str, Any]:
        spec = spec_of(o.inst_id)
        if o.td_mode != "cash":  # a spot-mode account (acctLv 1) cannot trade on margin
            raise Reject(Reason.BAD_PARAM, spec=ACCOUNT_MODE, per_order=True)
        qty, quote = (None, o.sz) if o.by_quote else (o.sz, None)
        if qty is not None:
            if qty < spec.min_qty:
                raise Reject(Reason.FILTER_MIN_QTY)
            if o.ord_type != "market" and qty > spec.max_qty:
                raise Reject(Reason.BAD_PARAM, spec=MAX_LIMIT, per_order=True, limit=js.num(spec.max_qty))
        if o.by_quote and o.side == "sell":  # the ledger sizes sells in base: convert at the mid
            qty, quote = (o.sz / self.ledger.price(spec.symbol)).quantize(spec.lot_step, "ROUND_DOWN"), None
        order = self.ledger.place_order(self.name, self.uid(call), spec.symbol, o.side.upper(),
                                        "MARKET" if o.ord_type == "market" else "LIMIT", qty, o.px, quote,
                                        o.cl, ORD_TYPES[o.ord_type], wire_type=o.ord_type, tag=o.tag)
        return {"clOrdId": o.cl or "", "ordId": str(order.id), "tag": o.tag, "ts": str(order.created_at),
                "sCode": "0", "sMsg": "Order placed"}

    def cancel(self, call: Call, batch: bool) -> list[dict[str, Any]]:
        items = params.items(call.body, batch)
        for i in items:
            required(i, "instId")
            if optional(i, "ordId") is None and optional(i, "clOrdId") is None:
                raise Reject(Reason.BAD_PARAM, spec=EITHER, param="ordId", other="clOrdId")
        return [self.per_order(i, lambda i=i: self.cancel_one(call, i)) for i in items]

    def cancel_one(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        spec, ord_id, cl = params.order_ref(p)
        try:
            order = self.ledger.cancel_order(self.name, self.uid(call), spec.symbol, ord_id, cl)
        except Reject as reject:
            if reject.reason is Reason.UNKNOWN_ORDER:
                raise Reject(Reason.CANCEL_REJECTED) from None
            raise
        return {"clOrdId": js.cl_ord_id(order), "ordId": str(order.id),
                "ts": str(order.updated_at), "sCode": "0", "sMsg": ""}

    def get_order(self, call: Call) -> list[dict[str, Any]]:
        spec, ord_id, cl = params.order_ref(call.query)  # a GET answers 51603 at the top level: it writes no orders
        return [js.order_json(self.ledger.get_order(self.name, self.uid(call), spec.symbol, ord_id, cl))]

    def _listing(self, call: Call, open_: bool, inst_type_required: bool) -> list[Order]:
        q = call.query
        spot, symbol = params.scope(q, inst_type_required)
        if not spot:
            return []
        orders = self.ledger.open_orders(self.name, self.uid(call), symbol) if open_ else \
            self.ledger.account_orders(self.name, self.uid(call), symbol, is_open=False)
        state, ord_type = optional(q, "state"), optional(q, "ordType")
        orders = [o for o in orders if state in (None, js.STATES[o.status]) and ord_type in (None, js.ord_type(o))]
        return sorted(orders, key=lambda o: o.id, reverse=True)[:params.limit(q)]

    def orders_pending(self, call: Call) -> list[dict[str, Any]]:
        return [js.order_json(o) for o in self._listing(call, True, False)]

    def orders_history(self, call: Call) -> list[dict[str, Any]]:
        return [js.order_json(o) for o in self._listing(call, False, True)]

    def fills(self, call: Call, inst_type_required: bool) -> list[dict[str, Any]]:
        q = call.query
        spot, symbol = params.scope(q, inst_type_required)
        if not spot:
            return []
        trades = self.ledger.account_trades(self.name, self.uid(call), symbol)
        ord_id, begin, end = optional(q, "ordId"), int(optional(q, "begin") or 0), int(optional(q, "end") or 2**63)
        trades = [t for t in trades if ord_id in (None, str(t.order_id)) and begin <= t.time <= end]
        return [js.fill_json(t, self.ledger.orders.get(t.order_id))
                for t in sorted(trades, key=lambda t: t.id, reverse=True)[:params.limit(q)]]
