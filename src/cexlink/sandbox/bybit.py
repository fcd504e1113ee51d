"""Bybit v5 dialect: ``/v5/*`` for a unified trading account (UTA 2.0) trading spot.

Signing (bybit-exchange/docs ``docs/v5/guide.mdx``): headers X-BAPI-API-KEY, X-BAPI-TIMESTAMP (ms), X-BAPI-SIGN,
X-BAPI-RECV-WINDOW (default 5000); HMAC-SHA256 lowercase hex over ``timestamp + apiKey + recvWindow + payload``,
payload = the raw query string (GET) or the raw JSON body (POST), verified over the bytes as sent. Valid iff
``server_time - recv_window <= timestamp < server_time + 1000``.

HTTP status vs retCode (docs/v5/error.mdx "HTTP Code"; what ccxt's handle_errors and pybit expect):
- 401: the gateway could not identify the caller — unknown key (10003) or missing auth headers (10007).
- 403: IP-level refusals — region ban (10009) and the IP rate limit (10018); pybit reads 403 as exactly these.
- 404: unknown route (10017). 503: maintenance (10016).
- 200 for everything decided after the key is known: 10002 (pybit retries it with a larger recv_window, which
  it can only do on HTTP 200), 10004, 10005, 10006 (pybit retries it using X-Bapi-Limit-Reset-Timestamp),
  10008, 10010, 10024, 33004 and all order errors. ccxt reads the retCode before the status, so its exception
  class is the same either way.
"""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Any, ClassVar

from starlette.responses import Response

from . import bybit_json as js
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
    limit_param,
    market_param,
    optional,
    order_id_param,
    required,
    required_headers,
)
from .markets import BY_SYMBOL, MARKETS, MarketSpec
from .records import Order
from .rejects import Reason, Reject

__all__ = ["ERRORS", "Bybit", "limit_headers", "sign"]

AUTH_FAILED = ErrorSpec(401, 10007, "User authentication failed.")
BAD_KEY = ErrorSpec(401, 10003, "API key is invalid.")
BAD_TS = ErrorSpec(200, 10002, "invalid request, please check your server timestamp or recv_window param. "
                               "req_timestamp[{ts}],server_timestamp[{now}],recv_window[{window}]")
NOT_EXIST = ErrorSpec(200, 170213, "Order does not exist.")

ERRORS: dict[Reason, ErrorSpec] = {
    Reason.MISSING_KEY: AUTH_FAILED,
    Reason.MISSING_SIGNATURE: AUTH_FAILED,
    Reason.MISSING_TIMESTAMP: AUTH_FAILED,
    Reason.KEY_FORMAT: BAD_KEY,
    Reason.INVALID_KEY: BAD_KEY,
    Reason.WRONG_ENVIRONMENT: BAD_KEY,
    Reason.BAD_TIMESTAMP: BAD_TS,
    Reason.TIMESTAMP_OUTSIDE_WINDOW: BAD_TS,
    Reason.TIMESTAMP_AHEAD: BAD_TS,
    Reason.RECV_WINDOW_TOO_LARGE: BAD_TS,
    Reason.BAD_SIGNATURE: ErrorSpec(200, 10004, "error sign! origin_string[{origin}]"),
    Reason.NO_PERMISSION: ErrorSpec(200, 10005, "Permission denied, please check your API key permissions."),
    Reason.IP_NOT_WHITELISTED: ErrorSpec(200, 10010, "Unmatched IP, please check your API key's bound IP "
                                                     "addresses."),
    # docs/v5/user/create-subuid-apikey.mdx: an expired key gets 33004 (derivatives) / -2015 (old spot API);
    # the v5 gateway is shared by all categories, so UTA spot calls see 33004.
    Reason.KEY_EXPIRED: ErrorSpec(200, 33004, "Your api key has expired."),
    Reason.ACCOUNT_SUSPENDED: ErrorSpec(200, 10008, "User has been banned."),
    Reason.REGION_RESTRICTED: ErrorSpec(403, 10009, "IP has been banned."),
    Reason.KYC_REQUIRED: ErrorSpec(200, 10024, "Compliance rules triggered"),
    Reason.INSUFFICIENT_BALANCE: ErrorSpec(200, 170131, "Insufficient balance."),
    Reason.UNKNOWN_ORDER: NOT_EXIST,
    Reason.CANCEL_REJECTED: NOT_EXIST,
    Reason.BAD_SYMBOL: ErrorSpec(200, 170121, "Invalid symbol."),
    Reason.FILTER_PRICE: ErrorSpec(200, 170134, "Order price decimal too long."),
    Reason.FILTER_LOT_SIZE: ErrorSpec(200, 170137, "Order volume decimal too long"),
    Reason.FILTER_MARKET_LOT_SIZE: ErrorSpec(200, 170135, "Order quantity too large."),
    Reason.FILTER_NOTIONAL: ErrorSpec(200, 170140, "Order value exceeded lower limit."),
    Reason.FILTER_MIN_QTY: ErrorSpec(200, 170136, "Order quantity lower than the minimum."),
    Reason.DUPLICATE_ORDER: ErrorSpec(200, 170141, "Duplicate clientOrderId"),
    Reason.WOULD_TAKE: ErrorSpec(200, 170218, "The LIMIT-MAKER order is rejected due to invalid price."),
    Reason.MISSING_PARAM: ErrorSpec(200, 10001, "params error: {param} is required"),
    Reason.BAD_PARAM: ErrorSpec(200, 10001, "params error: {param} invalid"),
    Reason.NOT_FOUND: ErrorSpec(404, 10017, "Route not found."),
    Reason.MAINTENANCE: ErrorSpec(503, 10016, "Server error."),
    Reason.RATE_LIMITED: ErrorSpec(200, 10006, "Too many visits!"),
    Reason.IP_BANNED: ErrorSpec(403, 10018, "Exceeded the IP Rate Limit."),
}

# Bybit-only refusals with no neutral Reason, raised as Reject(BAD_PARAM, spec=...): spot engine filter codes
# (docs/v5/error.mdx "Spot Trade") and parameter answers.
QTY_TOO_LARGE = ERRORS[Reason.FILTER_MARKET_LOT_SIZE]  # 170135 for limit orders too
AMOUNT_TOO_LARGE = ErrorSpec(200, 170124, "Order amount too large.")
MARKET_AMOUNT_DECIMALS = ErrorSpec(200, 170148, "Market order amount decimal too long")
UNSUPPORTED_SYMBOL = ErrorSpec(200, 10001, "Not supported symbols")
UNIFIED_ONLY = ErrorSpec(200, 10001, "accountType only support UNIFIED.")

AUTH_HEADERS = {"x-bapi-api-key": Reason.MISSING_KEY, "x-bapi-timestamp": Reason.MISSING_TIMESTAMP,
                "x-bapi-sign": Reason.MISSING_SIGNATURE}
SIDES = {"Buy": "BUY", "Sell": "SELL"}
TYPES = {"Limit": "LIMIT", "Market": "MARKET"}
TIFS = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "PostOnly": "GTC"}
def sign(secret: str, timestamp: str, api_key: str, recv_window: str, payload: bytes) -> str:
    prefix = (timestamp + api_key + recv_window).encode()
    return hmac.new(secret.encode(), prefix + payload, hashlib.sha256).hexdigest()


def limit_headers(limit: int, remaining: int, reset_ms: int) -> dict[str, str]:
    return {"X-Bapi-Limit": str(limit), "X-Bapi-Limit-Status": str(remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(reset_ms)}


class Bybit(Dialect):
    name = "bybit"
    prefixes: ClassVar[tuple[str, ...]] = ("/v5",)
    errors: ClassVar[dict[Reason, ErrorSpec]] = ERRORS
    # Spot markets only: linear/inverse/option are served empty (ccxt is kept from asking: exchanges/endpoints.py).
    retry_after_header: ClassVar[bool] = False  # Bybit says when to retry in X-Bapi-Limit-Reset-Timestamp

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("GET", "/v5/market/time", self.server_time),
            Endpoint("GET", "/v5/system/status", self.system_status, system_status=True),
            Endpoint("GET", "/v5/market/instruments-info", self.instruments),
            Endpoint("GET", "/v5/market/tickers", self.tickers),
            Endpoint("GET", "/v5/user/query-api", self.query_api, READ),
            Endpoint("GET", "/v5/account/info", self.account_info, READ),
            Endpoint("GET", "/v5/account/wallet-balance", self.wallet_balance, READ),
            Endpoint("GET", "/v5/asset/coin/query-info", self.coin_info, READ),
            Endpoint("POST", "/v5/order/create", self.create_order, TRADE),
            Endpoint("POST", "/v5/order/cancel", self.cancel_order, TRADE),
            Endpoint("GET", "/v5/order/realtime", lambda c: self._order_page(c, open_only=True), READ),
            Endpoint("GET", "/v5/order/history", lambda c: self._order_page(c, open_only=False), READ),
            Endpoint("GET", "/v5/execution/list", self.executions, READ),
            *forbidden.endpoints(self),
        ]

    # ---- pipeline parts ----

    def success(self, data: Any, call: Call) -> Response:
        body = {"retCode": 0, "retMsg": "OK", "result": data, "retExtInfo": {}, "time": self.ctx.now_ms()}
        return json_response(body, 200, call.response_headers)

    def error_body(self, spec: ErrorSpec, reject: Reject, call: Call | None) -> Any:
        return {"retCode": spec.code, "retMsg": spec.message(reject.detail), "result": {}, "retExtInfo": {},
                "time": self.ctx.now_ms()}

    def charge(self, call: Call, endpoint: Endpoint) -> None:
        # Bybit limits per UID and endpoint; before authentication the key stands in for the UID.
        caller = call.headers.get("x-bapi-api-key") or f"ip:{call.ip}"
        limits = self.ctx.limits
        cfg = limits.config(self.name)
        try:
            used = limits.hit(self.name, caller, endpoint.weight)
        except Reject as reject:
            reset = self.ctx.now_ms() + 1000 * int(reject.detail.get("retry_after", 1))
            call.response_headers.update(limit_headers(cfg.weight_per_window, 0, reset))
            raise
        start, _ = limits.window(self.name, caller)
        call.response_headers.update(limit_headers(cfg.weight_per_window, max(0, cfg.weight_per_window - used),
                                                   int((start + cfg.window_seconds) * 1000)))

    def authenticate(self, call: Call, access: str) -> None:
        api_key, timestamp, signature = required_headers(call, AUTH_HEADERS)
        recv_raw = call.headers.get("x-bapi-recv-window")
        key = self.ledger.find_key(self.name, api_key)
        if key is None:
            raise Reject(Reason.INVALID_KEY)
        self.check_timestamp(timestamp, recv_raw)
        payload = call.raw_query.encode("latin-1") if call.method == "GET" else call.body
        expected = sign(key.secret, timestamp, api_key, recv_raw or "", payload)
        if not hmac.compare_digest(expected.encode(), signature.encode("latin-1")):
            origin = (timestamp + api_key + (recv_raw or "")).encode() + payload
            raise Reject(Reason.BAD_SIGNATURE, origin=origin.decode("utf-8", "replace"))
        call.key = self.check_key_state(call, key)
        self.check_account(call, access)
        if not permissions.allows(self.name, key.permissions, access):
            raise Reject(Reason.NO_PERMISSION)

    def check_timestamp(self, timestamp: str, recv_raw: str | None) -> None:
        now = self.ctx.now_ms()
        detail = {"ts": timestamp, "now": now, "window": recv_raw or "5000"}
        if not timestamp.isdigit() or not (recv_raw or "5000").isdigit():
            raise Reject(Reason.BAD_TIMESTAMP, **detail)
        ts, window = int(timestamp), int(recv_raw or "5000")
        if ts >= now + 1000:
            raise Reject(Reason.TIMESTAMP_AHEAD, **detail)
        if ts < now - window:
            raise Reject(Reason.TIMESTAMP_OUTSIDE_WINDOW, **detail)

    @staticmethod
    def params(call: Call) -> dict[str, str]:
        if call.method == "GET":
            return call.query
        body = call.json()
        if not isinstance(body, dict):
            raise Reject(Reason.BAD_PARAM, param="body")
        return {k: str(v) for k, v in body.items() if v is not None and not isinstance(v, (dict, list))}

    @staticmethod
    def choice(p: dict[str, str], name: str, allowed: Any, default: str | None = None,
               reason: Reason = Reason.BAD_PARAM) -> str:
        value = p.get(name) or default or required(p, name)
        if value not in allowed:
            raise Reject(reason, param=name)
        return value

    def category(self, p: dict[str, str], spot_only: bool = False) -> str:
        return self.choice(p, "category", ("spot",) if spot_only else ("spot", "linear", "inverse", "option"))


    # ---- public ----

    def server_time(self, call: Call) -> dict[str, str]:
        now = self.ctx.clock()
        return {"timeSecond": str(int(now)), "timeNano": str(int(now * 1e9))}

    def instruments(self, call: Call) -> dict[str, Any]:
        category = self.category(call.query)
        wanted = call.query.get("symbol")
        rows = [js.instrument_json(m) for m in MARKETS if category == "spot" and wanted in (None, m.symbol)]
        return {"category": category, "list": rows, "nextPageCursor": ""}

    def tickers(self, call: Call) -> dict[str, Any]:
        category = self.category(call.query)
        wanted = call.query.get("symbol")
        if wanted and (category != "spot" or wanted not in BY_SYMBOL):
            raise Reject(Reason.BAD_PARAM, spec=UNSUPPORTED_SYMBOL)
        self.ledger.tick()
        rows = [js.ticker_json(m, self.ledger.walk.price(m.symbol))
                for m in (MARKETS if category == "spot" else ()) if wanted in (None, m.symbol)]
        return {"category": category, "list": rows}

    # ---- private: account ----

    def query_api(self, call: Call) -> dict[str, Any]:
        assert call.key is not None and call.account is not None
        return js.key_info_json(call.key, call.account, self.ctx.now_ms())

    def account_info(self, call: Call) -> dict[str, Any]:
        return js.account_info_json(self.ctx.now_ms())

    def wallet_balance(self, call: Call) -> dict[str, Any]:
        p = call.query
        if required(p, "accountType") != "UNIFIED":
            raise Reject(Reason.BAD_PARAM, spec=UNIFIED_ONLY)
        assert call.account is not None
        self.ledger.tick()
        return js.wallet_json(call.account, set(p["coin"].split(",")) if p.get("coin") else None, self.ledger.walk.usd)

    def coin_info(self, call: Call) -> dict[str, Any]:
        return js.coins_json(call.query.get("coin"))

    # ---- private: trading ----

    def check_filters(self, m: MarketSpec, type_: str, side: str, qty: Decimal, by_quote: bool,
                      price: Decimal | None, mid: Decimal) -> None:
        """The spot engine's own codes, checked before the ledger's neutral filters."""
        if price is not None and price % m.tick_size:
            raise Reject(Reason.FILTER_PRICE)
        if by_quote:
            if qty % js.QUOTE_PRECISION:
                raise Reject(Reason.BAD_PARAM, spec=MARKET_AMOUNT_DECIMALS)
            notional = qty
        else:
            if qty % m.lot_step:
                raise Reject(Reason.FILTER_LOT_SIZE)
            if qty < m.min_qty:
                raise Reject(Reason.FILTER_MIN_QTY)
            if qty > (m.max_market_qty if type_ == "MARKET" else m.max_qty):
                raise Reject(Reason.BAD_PARAM, spec=QTY_TOO_LARGE)
            notional = qty * (price if price is not None else mid)
        if notional < m.min_notional:
            raise Reject(Reason.FILTER_NOTIONAL)
        if notional > m.max_notional:
            raise Reject(Reason.BAD_PARAM, spec=AMOUNT_TOO_LARGE)

    def create_order(self, call: Call) -> dict[str, str]:
        p = self.params(call)
        self.category(p, spot_only=True)
        m = market_param(p)
        side = SIDES[self.choice(p, "side", SIDES, reason=Reason.BAD_SIDE)]
        type_ = TYPES[self.choice(p, "orderType", TYPES, reason=Reason.BAD_ORDER_TYPE)]
        qty = decimal_param(p, "qty")
        assert qty is not None
        if qty == 0:
            raise Reject(Reason.FILTER_MIN_QTY)
        price = decimal_param(p, "price", required=type_ == "LIMIT") if type_ == "LIMIT" else None
        if price is not None and price <= 0:
            raise Reject(Reason.BAD_PARAM, param="price")
        tif_raw = self.choice(p, "timeInForce", TIFS, "GTC", Reason.BAD_TIME_IN_FORCE)
        # Spot market buys are sized in quote currency unless marketUnit says baseCoin (create-order.mdx).
        unit = self.choice(p, "marketUnit", ("baseCoin", "quoteCoin"), "quoteCoin" if side == "BUY" else "baseCoin")
        by_quote = type_ == "MARKET" and unit == "quoteCoin"
        if by_quote and side == "SELL":
            raise Reject(Reason.BAD_PARAM, param="marketUnit")
        mid = self.ledger.price(m.symbol)
        self.check_filters(m, type_, side, qty, by_quote, price, mid)
        order = self.ledger.place_order(self.name, self.uid(call), m.symbol, side, type_,
                                        None if by_quote else qty, price, qty if by_quote else None,
                                        optional(p, "orderLinkId"), TIFS[tif_raw] if type_ == "LIMIT" else "IOC",
                                        post_only=type_ == "LIMIT" and tif_raw == "PostOnly")
        return {"orderId": str(order.id), "orderLinkId": order.client_order_id}

    @staticmethod
    def _order_ref(p: dict[str, str]) -> tuple[int | None, str | None]:
        # An id that cannot be Bybit's is an order that does not exist.
        return order_id_param(p, "orderId", Reason.UNKNOWN_ORDER), optional(p, "orderLinkId")

    def cancel_order(self, call: Call) -> dict[str, str]:
        p = self.params(call)
        self.category(p, spot_only=True)
        m = market_param(p)
        order_id, link_id = self._order_ref(p)
        if order_id is None and link_id is None:
            raise Reject(Reason.MISSING_PARAM, param="orderId")
        order = self.ledger.cancel_order(self.name, self.uid(call), m.symbol, order_id, link_id)
        return {"orderId": str(order.id), "orderLinkId": order.client_order_id}

    def _orders(self, call: Call, open_only: bool) -> list[Order]:
        p = call.query
        symbol = market_param(p).symbol if p.get("symbol") else None
        if p.get("orderId") or p.get("orderLinkId"):
            # A lookup by id reaches recent orders of any status (open-order.mdx, UTA); none found is an empty list.
            try:
                return [self.ledger.get_order(self.name, self.uid(call), symbol, *self._order_ref(p))]
            except Reject:
                return []
        if open_only:
            orders = self.ledger.open_orders(self.name, self.uid(call), symbol)
        else:
            orders = self.ledger.account_orders(self.name, self.uid(call), symbol, is_open=False)
        status = p.get("orderStatus")
        return sorted((o for o in orders if status in (None, "", js.STATUS[o.status])), key=lambda o: -o.id)

    def _order_page(self, call: Call, open_only: bool) -> dict[str, Any]:
        category = self.category(call.query)
        limit = limit_param(call.query, 20, 50)
        orders = self._orders(call, open_only) if category == "spot" else []
        return {"category": category, "list": [js.order_json(o) for o in orders[:limit]], "nextPageCursor": ""}

    def executions(self, call: Call) -> dict[str, Any]:
        p = call.query
        category = self.category(p)
        limit = limit_param(p, 50, 100)
        symbol = market_param(p).symbol if p.get("symbol") else None
        trades = self.ledger.account_trades(self.name, self.uid(call), symbol) if category == "spot" else []
        if p.get("orderId"):
            trades = [t for t in trades if str(t.order_id) == p["orderId"]]
        start, end = p.get("startTime"), p.get("endTime")
        trades = [t for t in trades if (not start or t.time >= int(start)) and (not end or t.time <= int(end))]
        rows = [js.execution_json(t, self.ledger.orders[t.order_id]) for t in reversed(trades)][:limit]
        return {"category": category, "list": rows, "nextPageCursor": ""}
