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
import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import permissions
from .dialect import PUBLIC, READ, TRADE, Call, Dialect, Endpoint, ErrorSpec, json_response
from .ledger import FEE_RATE, ApiKey, Order, Trade
from .markets import BY_INST_ID, BY_SYMBOL, MARKETS, MarketSpec
from .rejects import Reason, Reject

WINDOW_MS = 30_000
IDLE_EXPIRY_MS = 14 * 86_400_000
IDLE_EXPIRING_PERMS = frozenset({"trade", "withdraw"})
KEY_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")
CLORDID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
ORD_TYPES = {"limit": "GTC", "post_only": "GTC", "ioc": "IOC", "fok": "FOK", "market": "GTC"}
STATES = {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled", "CANCELED": "canceled",
          "EXPIRED": "canceled"}

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
JSON_SYNTAX = E(400, "50002", "JSON syntax error")
EMPTY_BODY = E(400, "50000", "Body cannot be empty.")
EITHER = E(400, "50015", "Either parameter {param} or {other} is required.")
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
BATCH_LIMIT = 20
# Fields OKX sends empty for a spot cash account (kept so clients see the real shape).
ORDER_BLANKS = dict.fromkeys("ccy pxUsd pxVol pxType tradeId stpId lever attachAlgoClOrdId tpTriggerPx tpTriggerPxType "
                             "tpOrdPx slTriggerPx slTriggerPxType slOrdPx source cancelSource cancelSourceReason "
                             "quickMgnType algoClOrdId algoId".split(), "")
DETAIL_BLANKS = dict.fromkeys("availEq liab crossLiab isoLiab interest imr mmr mgnRatio maxLoan notionalLever isoEq "
                              "isoUpl upl uplLiab spotInUseAmt spotBal openAvgPx accAvgPx".split(), "")
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


def num(d: Decimal | None) -> str:
    """OKX's plain decimal strings: no exponent, no trailing zeros, "" for nothing."""
    if d is None:
        return ""
    s = format(d.normalize(), "f")
    return "0" if s in ("-0", "0") else s


def opt(p: dict[str, Any], name: str) -> str | None:
    """A parameter, where python-okx's empty strings mean 'not sent'."""
    v = p.get(name)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise Reject(Reason.BAD_PARAM, param=name)
    return v


def need(p: dict[str, Any], name: str) -> str:
    v = opt(p, name)
    if v is None:
        raise Reject(Reason.MISSING_PARAM, param=name)
    return v


def dec(p: dict[str, Any], name: str, required: bool = True) -> Decimal | None:
    raw = need(p, name) if required else opt(p, name)
    if raw is None:
        return None
    try:
        v = Decimal(raw)
    except InvalidOperation:
        raise Reject(Reason.BAD_PARAM, param=name) from None
    if not v.is_finite() or v <= 0:
        raise Reject(Reason.BAD_PARAM, param=name)
    return v


def spec_of(inst_id: str) -> MarketSpec:
    spec = BY_INST_ID.get(inst_id)
    if spec is None:
        raise Reject(Reason.BAD_SYMBOL, inst_id=inst_id)
    return spec


def instrument(m: MarketSpec) -> dict[str, Any]:
    return {
        "alias": "", "auctionEndTime": "", "baseCcy": m.base, "category": "1", "ctMult": "", "ctType": "",
        "ctVal": "", "ctValCcy": "", "expTime": "", "instFamily": "", "instId": m.inst_id, "instType": "SPOT",
        "lever": "", "listTime": "1606468572000", "lotSz": num(m.lot_step), "maxIcebergSz": num(m.max_qty),
        "maxLmtAmt": num(m.max_notional), "maxLmtSz": num(m.max_qty), "maxMktAmt": num(m.max_notional),
        "maxMktSz": num(m.max_notional), "maxStopSz": num(m.max_notional), "maxTriggerSz": num(m.max_qty),
        "maxTwapSz": num(m.max_qty), "minSz": num(m.min_qty), "optType": "", "quoteCcy": m.quote,
        "ruleType": "normal", "settleCcy": "", "state": "live", "stk": "", "tickSz": num(m.tick_size), "uly": "",
    }


class Okx(Dialect):
    name = "okx"
    prefixes: ClassVar[tuple[str, ...]] = ("/api/v5",)
    errors: ClassVar[dict[Reason, ErrorSpec]] = ERRORS
    # Spot only: the sandbox lists no futures, swaps or options (it answers those instTypes with []).
    ccxt_options: ClassVar[dict[str, Any]] = {"fetchMarkets": {"types": ["spot"]}}
    retry_after_header: ClassVar[bool] = False

    @staticmethod
    def ccxt_urls(urls_api: Any, base_url: str) -> Any:
        return {**urls_api, "rest": base_url}

    def endpoints(self) -> list[Endpoint]:
        p = "/api/v5"
        return [
            Endpoint("GET", p + "/public/time", lambda c: [{"ts": str(self.ctx.now_ms())}]),
            Endpoint("GET", p + "/public/instruments", self.instruments),
            Endpoint("GET", p + "/market/ticker", self.ticker),
            Endpoint("GET", p + "/market/tickers", self.tickers),
            Endpoint("GET", p + "/system/status", lambda c: []),
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
            return self.success([self.failed(spec, reject, item) for item in self._raw_items(call)], call)
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
        h = call.headers
        for header, reason in (("ok-access-key", Reason.MISSING_KEY), ("ok-access-sign", Reason.MISSING_SIGNATURE),
                               ("ok-access-timestamp", Reason.MISSING_TIMESTAMP),
                               ("ok-access-passphrase", Reason.MISSING_PASSPHRASE)):
            if not h.get(header):
                raise Reject(reason)
        if abs(self.ctx.now_ms() - parse_ts(h["ok-access-timestamp"])) > WINDOW_MS:
            raise Reject(Reason.TIMESTAMP_OUTSIDE_WINDOW)
        if not KEY_RE.match(h["ok-access-key"]):
            raise Reject(Reason.KEY_FORMAT)
        key = self.ledger.find_key(self.name, h["ok-access-key"])
        now = self.ctx.now_ms()
        if key is None or (key.expires_at is not None and now >= key.expires_at) or self.idle_expired(key, now):
            raise Reject(Reason.INVALID_KEY)  # OKX deletes expired keys: they are unknown keys
        if (h.get("x-simulated-trading", "0") == "1") != key.demo:
            raise Reject(Reason.WRONG_ENVIRONMENT)
        if not hmac.compare_digest((key.passphrase or "").encode(), h["ok-access-passphrase"].encode()):
            raise Reject(Reason.BAD_PASSPHRASE)
        if not hmac.compare_digest(sign(key.secret, prehash(call)).encode(), h["ok-access-sign"].encode()):
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

    # ---- request parsing ----

    def body(self, call: Call) -> Any:
        if not call.body:
            raise Reject(Reason.BAD_PARAM, spec=EMPTY_BODY)
        try:
            return json.loads(call.body)
        except (ValueError, UnicodeDecodeError):
            raise Reject(Reason.BAD_PARAM, spec=JSON_SYNTAX) from None

    def items(self, call: Call, batch: bool) -> list[dict[str, Any]]:
        data = self.body(call)
        items = data if batch and isinstance(data, list) else [data]
        if not items or not all(isinstance(i, dict) for i in items):
            raise Reject(Reason.BAD_PARAM, spec=JSON_SYNTAX)
        if len(items) > BATCH_LIMIT:
            raise Reject(Reason.BATCH_TOO_LARGE, limit=BATCH_LIMIT)
        return items

    def _raw_items(self, call: Call) -> list[dict[str, Any]]:
        try:
            data = json.loads(call.body)
        except (ValueError, UnicodeDecodeError):
            return [{}]
        items = data if isinstance(data, list) else [data]
        return [i if isinstance(i, dict) else {} for i in items] or [{}]

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

    def uid(self, call: Call) -> str:
        assert call.key is not None
        return call.key.uid

    # ---- public ----

    def instruments(self, call: Call) -> list[dict[str, Any]]:
        inst_type = need(call.query, "instType")
        if inst_type not in INST_TYPES:
            raise Reject(Reason.BAD_PARAM, param="instType")
        inst_id = opt(call.query, "instId")
        if inst_type != "SPOT":
            return []
        return [instrument(spec_of(inst_id))] if inst_id else [instrument(m) for m in MARKETS]

    def _ticker(self, m: MarketSpec) -> dict[str, Any]:
        p, t, now = self.ledger.price(m.symbol), m.tick_size, str(self.ctx.now_ms())
        return {"instType": "SPOT", "instId": m.inst_id, "last": num(p), "lastSz": "0.1", "askPx": num(p + t),
                "askSz": "1", "bidPx": num(p - t), "bidSz": "1", "open24h": num(m.price),
                "high24h": num(max(p, m.price)), "low24h": num(min(p, m.price)), "volCcy24h": "0",
                "vol24h": "0", "ts": now, "sodUtc0": num(m.price), "sodUtc8": num(m.price)}

    def ticker(self, call: Call) -> list[dict[str, Any]]:
        return [self._ticker(spec_of(need(call.query, "instId")))]

    def tickers(self, call: Call) -> list[dict[str, Any]]:
        inst_type = need(call.query, "instType")
        if inst_type not in INST_TYPES:
            raise Reject(Reason.BAD_PARAM, param="instType")
        return [self._ticker(m) for m in MARKETS] if inst_type == "SPOT" else []

    # ---- account ----

    def config(self, call: Call) -> list[dict[str, Any]]:
        key, acct = call.key, call.account
        assert key is not None and acct is not None
        return [{
            "uid": acct.uid, "mainUid": acct.parent_uid or acct.uid, "acctLv": "1", "acctStpMode": "cancel_maker",
            "posMode": "net_mode", "autoLoan": False, "greeksType": "PA", "feeType": "0", "level": "Lv1",
            "levelTmp": "", "ctIsoMode": "automatic", "mgnIsoMode": "automatic", "spotOffsetType": "",
            "stgyType": "0", "roleType": "0", "traderInsts": [], "spotRoleType": "0", "spotTraderInsts": [],
            "opAuth": "0", "kycLv": "0" if acct.kyc_required else "2", "label": key.label,
            "ip": ",".join(key.ips), "perm": ",".join(key.permissions.get("perm", [])),
            "type": "1" if acct.is_sub else "0", "liquidationGear": "-1", "enableSpotBorrow": False,
            "spotBorrowAutoRepay": False, "settleCcy": "USDT", "settleCcyList": ["USD", "USDC", "USDG"],
        }]

    def _usd(self, ccy: str, amount: Decimal) -> Decimal:
        if ccy == "USDT":
            return amount
        m = BY_SYMBOL.get(ccy + "USDT")
        return amount * self.ledger.walk.price(m.symbol) if m else Decimal(0)

    def balance(self, call: Call) -> list[dict[str, Any]]:
        acct = call.account
        assert acct is not None
        wanted = set((opt(call.query, "ccy") or "").split(",")) - {""}
        now = str(self.ctx.now_ms())
        details = []
        for ccy, b in sorted(acct.balances.items()):
            if (wanted and ccy not in wanted) or not (b.free or b.locked):
                continue
            eq = b.free + b.locked
            details.append({
                **DETAIL_BLANKS, "ccy": ccy, "eq": num(eq), "cashBal": num(eq), "availBal": num(b.free),
                "frozenBal": num(b.locked), "ordFrozen": num(b.locked), "disEq": num(self._usd(ccy, eq)),
                "eqUsd": num(self._usd(ccy, eq)), "fixedBal": "0", "stgyEq": "0", "spotIsoBal": "0", "twap": "0",
                "uTime": now,
            })
        total = sum((self._usd(d["ccy"], Decimal(d["eq"])) for d in details), Decimal(0))
        return [{"adjEq": "", "availEq": "", "borrowFroz": "", "details": details, "imr": "", "isoEq": "",
                 "mgnRatio": "", "mmr": "", "notionalUsd": "", "ordFroz": "", "totalEq": num(total), "uTime": now,
                 "upl": ""}]

    def trade_fee(self, call: Call) -> list[dict[str, Any]]:
        if need(call.query, "instType") not in INST_TYPES:
            raise Reject(Reason.BAD_PARAM, param="instType")
        rate = num(-FEE_RATE)  # negative: a charge
        return [{"category": "1", "delivery": "", "exercise": "", "instType": call.query["instType"],
                 "level": "Lv1", "maker": rate, "taker": rate, "makerU": "", "takerU": "", "makerUSDC": "",
                 "takerUSDC": "", "ts": str(self.ctx.now_ms()), "feeGroup": [{"groupId": "1", "maker": rate,
                                                                               "taker": rate}]}]

    def currencies(self, call: Call) -> list[dict[str, Any]]:
        assets = sorted({a for m in MARKETS for a in (m.base, m.quote)})
        return [{"ccy": a, "name": a, "chain": f"{a}-{a}", "canDep": True, "canWd": True, "canInternal": True,
                 "mainNet": True, "minDep": "0.00000001", "minWd": "0.001", "maxWd": "1000000", "minFee": "0.0001",
                 "maxFee": "0.001", "wdTickSz": "8", "wdQuota": "10000000", "usedWdQuota": "0", "needTag": False,
                 "logoLink": "", "minDepArrivalConfirm": "1", "minWdUnlockConfirm": "1", "depQuotaFixed": "",
                 "usedDepQuotaFixed": "", "depQuoteDailyLayer2": "", "burningFeeRate": ""} for a in assets]

    # ---- trading ----

    def place(self, call: Call, batch: bool) -> list[dict[str, Any]]:
        items = self.items(call, batch)
        orders = [self.parse_order(i) for i in items]  # malformed input refuses the whole request
        return [self.per_order(item, lambda o=o: self.place_one(call, o)) for item, o in zip(items, orders,
                                                                                               strict=True)]

    def parse_order(self, p: dict[str, Any]) -> dict[str, Any]:
        inst_id = need(p, "instId")
        td_mode = need(p, "tdMode")
        side = need(p, "side")
        ord_type = need(p, "ordType")
        if side not in ("buy", "sell"):
            raise Reject(Reason.BAD_SIDE, param="side")
        if ord_type not in ORD_TYPES:
            raise Reject(Reason.BAD_ORDER_TYPE, param="ordType")
        sz = dec(p, "sz")
        px = dec(p, "px", required=ord_type != "market")
        tgt = opt(p, "tgtCcy")
        if tgt not in (None, "base_ccy", "quote_ccy"):
            raise Reject(Reason.BAD_PARAM, param="tgtCcy")
        cl = opt(p, "clOrdId")
        if cl is not None and not CLORDID_RE.match(cl):
            raise Reject(Reason.BAD_PARAM, param="clOrdId")
        # Spot market buys are sized in the quote currency unless tgtCcy says otherwise (docs: tgtCcy).
        by_quote = ord_type == "market" and (tgt or ("quote_ccy" if side == "buy" else "base_ccy")) == "quote_ccy"
        return {"inst_id": inst_id, "td_mode": td_mode, "side": side, "ord_type": ord_type, "sz": sz, "px": px,
                "by_quote": by_quote, "cl": cl, "tag": opt(p, "tag") or ""}

    def place_one(self, call: Call, o: dict[str, Any]) -> dict[str, Any]:
        spec = spec_of(o["inst_id"])
        if o["td_mode"] != "cash":  # a spot-mode account (acctLv 1) cannot trade on margin
            raise Reject(Reason.BAD_PARAM, spec=ACCOUNT_MODE, per_order=True)
        sz: Decimal = o["sz"]
        qty, quote = (None, sz) if o["by_quote"] else (sz, None)
        if qty is not None:
            if qty < spec.min_qty:
                raise Reject(Reason.FILTER_MIN_QTY)
            if o["ord_type"] != "market" and qty > spec.max_qty:
                raise Reject(Reason.BAD_PARAM, spec=MAX_LIMIT, per_order=True, limit=num(spec.max_qty))
        if o["by_quote"] and o["side"] == "sell":  # the ledger sizes sells in base: convert at the mid
            qty, quote = (sz / self.ledger.price(spec.symbol)).quantize(spec.lot_step, "ROUND_DOWN"), None
        order = self.ledger.place_order(self.name, self.uid(call), spec.symbol, o["side"].upper(),
                                        "MARKET" if o["ord_type"] == "market" else "LIMIT", qty, o["px"], quote,
                                        o["cl"], ORD_TYPES[o["ord_type"]], wire_type=o["ord_type"], tag=o["tag"])
        return {"clOrdId": o["cl"] or "", "ordId": str(order.id), "tag": o["tag"], "ts": str(order.created_at),
                "sCode": "0", "sMsg": "Order placed"}

    def _ref(self, p: dict[str, Any]) -> tuple[MarketSpec, int | None, str | None]:
        spec = spec_of(need(p, "instId"))
        ord_id, cl = opt(p, "ordId"), opt(p, "clOrdId")
        if ord_id is None and cl is None:
            raise Reject(Reason.BAD_PARAM, spec=EITHER, param="ordId", other="clOrdId")
        if ord_id is not None and not ord_id.isdigit():
            raise Reject(Reason.BAD_PARAM, param="ordId")
        return spec, (int(ord_id) if ord_id else None), cl

    def cancel(self, call: Call, batch: bool) -> list[dict[str, Any]]:
        items = self.items(call, batch)
        for i in items:
            need(i, "instId")
            if opt(i, "ordId") is None and opt(i, "clOrdId") is None:
                raise Reject(Reason.BAD_PARAM, spec=EITHER, param="ordId", other="clOrdId")
        return [self.per_order(i, lambda i=i: self.cancel_one(call, i)) for i in items]

    def cancel_one(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        spec, ord_id, cl = self._ref(p)
        try:
            order = self.ledger.cancel_order(self.name, self.uid(call), spec.symbol, ord_id, cl)
        except Reject as reject:
            if reject.reason is Reason.UNKNOWN_ORDER:
                raise Reject(Reason.CANCEL_REJECTED) from None
            raise
        return {"clOrdId": self._cl(order), "ordId": str(order.id),
                "ts": str(order.updated_at), "sCode": "0", "sMsg": ""}

    def get_order(self, call: Call) -> list[dict[str, Any]]:
        spec, ord_id, cl = self._ref(call.query)  # a GET answers 51603 at the top level: it writes no orders
        return [self.order_json(self.ledger.get_order(self.name, self.uid(call), spec.symbol, ord_id, cl))]

    def _listing(self, call: Call, open_: bool, inst_type_required: bool) -> list[Order]:
        q = call.query
        spot, symbol = self._scope(q, inst_type_required)
        if not spot:
            return []
        orders = self.ledger.open_orders(self.name, self.uid(call), symbol) if open_ else \
            [o for o in self.ledger.account_orders(self.name, self.uid(call), symbol) if not o.is_open]
        state, ord_type = opt(q, "state"), opt(q, "ordType")
        orders = [o for o in orders if state in (None, STATES[o.status]) and ord_type in (None, self._ord_type(o))]
        return sorted(orders, key=lambda o: o.id, reverse=True)[:self._limit(q)]

    @staticmethod
    def _scope(q: dict[str, str], inst_type_required: bool) -> tuple[bool, str | None]:
        """(whether spot is asked for, the ledger symbol of instId) for the listing endpoints."""
        inst_type = need(q, "instType") if inst_type_required else opt(q, "instType")
        if inst_type is not None and inst_type not in INST_TYPES:
            raise Reject(Reason.BAD_PARAM, param="instType")
        inst_id = opt(q, "instId")
        return inst_type in (None, "SPOT"), (spec_of(inst_id).symbol if inst_id else None)

    @staticmethod
    def _limit(q: dict[str, str]) -> int:
        raw = opt(q, "limit") or "100"
        if not raw.isdigit() or not 0 < int(raw) <= 100:
            raise Reject(Reason.BAD_PARAM, param="limit")
        return int(raw)

    def orders_pending(self, call: Call) -> list[dict[str, Any]]:
        return [self.order_json(o) for o in self._listing(call, True, False)]

    def orders_history(self, call: Call) -> list[dict[str, Any]]:
        return [self.order_json(o) for o in self._listing(call, False, True)]

    def fills(self, call: Call, inst_type_required: bool) -> list[dict[str, Any]]:
        q = call.query
        spot, symbol = self._scope(q, inst_type_required)
        if not spot:
            return []
        trades = self.ledger.account_trades(self.name, self.uid(call), symbol)
        ord_id, begin, end = opt(q, "ordId"), int(opt(q, "begin") or 0), int(opt(q, "end") or 2**63)
        trades = [t for t in trades if ord_id in (None, str(t.order_id)) and begin <= t.time <= end]
        return [self.fill_json(t) for t in sorted(trades, key=lambda t: t.id, reverse=True)[:self._limit(q)]]

    # ---- rendering ----

    @staticmethod
    def _ord_type(o: Order) -> str:
        return o.wire_type or {"IOC": "ioc", "FOK": "fok"}.get(o.time_in_force, o.type.lower())

    @staticmethod
    def _cl(o: Order) -> str:
        return o.client_order_id if o.client_order_id_given else ""

    def order_json(self, o: Order) -> dict[str, Any]:
        spec, by_quote, filled = BY_SYMBOL[o.symbol], o.quote_qty is not None, o.filled > 0
        avg = num(o.avg_price) if filled else ""
        return {
            **ORDER_BLANKS, "instType": "SPOT", "instId": spec.inst_id, "ordId": str(o.id), "clOrdId": self._cl(o),
            "tag": o.tag, "px": num(o.price), "sz": num(o.quote_qty if by_quote else o.qty),
            "pnl": "0", "ordType": self._ord_type(o), "side": o.side.lower(), "posSide": "net", "tdMode": "cash",
            "accFillSz": num(o.filled), "fillPx": avg, "avgPx": avg, "fillSz": num(o.filled) if filled else "",
            "fillTime": str(o.updated_at) if filled else "", "state": STATES[o.status], "stpMode": "cancel_maker",
            "attachAlgoOrds": [], "linkedAlgoOrd": {"algoId": ""}, "feeCcy": o.fee_asset or spec.quote,
            "fee": num(-o.fee), "rebateCcy": spec.quote, "rebate": "0", "category": "normal", "reduceOnly": "false",
            "isTpLimit": "false", "tgtCcy": "quote_ccy" if by_quote else "", "tradeQuoteCcy": spec.quote,
            "uTime": str(o.updated_at), "cTime": str(o.created_at),
        }

    def fill_json(self, t: Trade) -> dict[str, Any]:
        spec = BY_SYMBOL[t.symbol]
        order = self.ledger.orders.get(t.order_id)
        return {
            "instType": "SPOT", "instId": spec.inst_id, "tradeId": str(t.id), "ordId": str(t.order_id),
            "clOrdId": self._cl(order) if order else "", "billId": str(t.id), "subType": "1",
            "tag": order.tag if order else "", "fillPx": num(t.price), "fillSz": num(t.qty),
            "fillIdxPx": "", "fillPnl": "0", "fillPxVol": "", "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "",
            "fillMarkPx": "", "side": t.side.lower(), "posSide": "net", "execType": "M" if t.maker else "T",
            "feeCcy": t.fee_asset, "fee": num(-t.fee), "feeRate": num(-FEE_RATE), "ts": str(t.time),
            "fillTime": str(t.time),
        }
