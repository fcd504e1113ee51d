"""Binance spot JSON bodies: markets, orders, trades, the account and a key's restrictions.

Pure functions of the ledger's records, shaped and spelled as api.binance.com answers (numbers as 8-decimal
strings, times in ms). binance.py decides *what* to answer; this module only says how it looks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import permissions
from .markets import MarketSpec
from .records import Account, ApiKey, Order, Trade

ORDER_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER")  # what the sandbox matches; exchangeInfo lists only these
# Fields that carry times, scaled to µs when the client sends X-MBX-TIME-UNIT: MICROSECOND.
TIME_FIELDS = ("serverTime", "time", "updateTime", "transactTime", "workingTime")


def f8(d: Decimal | None) -> str:
    return f"{(d or Decimal(0)):.8f}"


def filters(m: MarketSpec) -> list[dict[str, Any]]:
    return [
        {"filterType": "PRICE_FILTER", "minPrice": f8(m.tick_size), "maxPrice": "1000000.00000000",
         "tickSize": f8(m.tick_size)},
        {"filterType": "LOT_SIZE", "minQty": f8(m.min_qty), "maxQty": f8(m.max_qty), "stepSize": f8(m.lot_step)},
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": f8(m.max_market_qty),
         "stepSize": "0.00000000"},
        {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
         "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
        {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
         "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5},
        {"filterType": "NOTIONAL", "minNotional": f8(m.min_notional), "applyMinToMarket": True,
         "maxNotional": f8(m.max_notional), "applyMaxToMarket": False, "avgPriceMins": 5},
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
    ]


def symbol_info(m: MarketSpec) -> dict[str, Any]:
    return {
        "symbol": m.symbol, "status": "TRADING", "baseAsset": m.base, "baseAssetPrecision": 8,
        "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True, "cancelReplaceAllowed": True, "amendAllowed": True, "pegInstructionsAllowed": True,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False, "filters": filters(m), "permissions": [],
        "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"],
    }


def exchange_info(markets: list[MarketSpec], now: int, weight_limit: int) -> dict[str, Any]:
    return {
        "timezone": "UTC", "serverTime": now,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_limit},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [], "symbols": [symbol_info(m) for m in markets],
    }


def price_row(m: MarketSpec, p: Decimal) -> dict[str, Any]:
    return {"symbol": m.symbol, "price": f8(p)}


def book_row(m: MarketSpec, p: Decimal) -> dict[str, Any]:
    return {"symbol": m.symbol, "bidPrice": f8(p - m.tick_size), "bidQty": "1.00000000",
            "askPrice": f8(p + m.tick_size), "askQty": "1.00000000"}


def order_base(o: Order) -> dict[str, Any]:
    return {
        "symbol": o.symbol, "orderId": o.id, "orderListId": -1, "clientOrderId": o.client_order_id,
        "price": f8(o.price), "origQty": f8(o.qty), "executedQty": f8(o.filled),
        "origQuoteOrderQty": f8(o.quote_qty), "cummulativeQuoteQty": f8(o.cum_quote), "status": o.status,
        # LIMIT_MAKER rests in the ledger as a LIMIT; the type as sent is kept beside it.
        "timeInForce": o.time_in_force, "type": o.wire_type or o.type, "side": o.side,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def order_json(o: Order) -> dict[str, Any]:
    return {**order_base(o), "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": o.created_at,
            "updateTime": o.updated_at, "isWorking": True, "workingTime": o.created_at}


def new_order_json(o: Order, resp_type: str, trades: list[Trade]) -> dict[str, Any]:
    """POST /api/v3/order in the asked ``newOrderRespType``: ACK, RESULT or FULL (RESULT plus the fills)."""
    if resp_type == "ACK":
        return {"symbol": o.symbol, "orderId": o.id, "orderListId": -1, "clientOrderId": o.client_order_id,
                "transactTime": o.created_at}
    out = {**order_base(o), "transactTime": o.created_at, "workingTime": o.created_at}
    if resp_type == "FULL":
        out["fills"] = [{"price": f8(t.price), "qty": f8(t.qty), "commission": f8(t.fee),
                         "commissionAsset": t.fee_asset, "tradeId": t.id} for t in trades]
    return out


def canceled_json(o: Order, new_client_order_id: str | None) -> dict[str, Any]:
    return {**order_base(o), "origClientOrderId": o.client_order_id,
            "clientOrderId": new_client_order_id or o.client_order_id, "transactTime": o.updated_at}


def trade_json(t: Trade) -> dict[str, Any]:
    return {"symbol": t.symbol, "id": t.id, "orderId": t.order_id, "orderListId": -1, "price": f8(t.price),
            "qty": f8(t.qty), "quoteQty": f8(t.quote_qty), "commission": f8(t.fee),
            "commissionAsset": t.fee_asset, "time": t.time, "isBuyer": t.side == "BUY", "isMaker": t.maker,
            "isBestMatch": True}


def account_json(acct: Account, can_trade: bool, omit_zero: bool, now: int) -> dict[str, Any]:
    balances = [{"asset": a, "free": f8(b.free), "locked": f8(b.locked)}
                for a, b in sorted(acct.balances.items()) if not (omit_zero and not (b.free or b.locked))]
    return {
        "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                            "seller": "0.00000000"},
        "canTrade": can_trade and not acct.suspended, "canWithdraw": not acct.suspended and not acct.is_sub,
        "canDeposit": True, "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
        "updateTime": now, "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"],
        "uid": int(acct.uid),
    }


def restrictions_json(key: ApiKey, trading_expiry: int | None, now: int) -> dict[str, Any]:
    """GET /sapi/v1/account/apiRestrictions: the key's flags, with spot trading off once its right lapsed."""
    flags = {f: bool(key.permissions.get(f)) for f in permissions.BINANCE_ALL_FLAGS}
    if trading_expiry is not None and now >= trading_expiry:
        flags["enableSpotAndMarginTrading"] = False
    out: dict[str, Any] = {"ipRestrict": bool(key.ips), "createTime": key.created_at, **flags}
    if trading_expiry is not None and key.permissions.get("enableSpotAndMarginTrading"):
        out["tradingAuthorityExpirationTime"] = trading_expiry
    return out


def micro(data: Any) -> Any:
    """The same body with every time field in microseconds."""
    if isinstance(data, list):
        return [micro(d) for d in data]
    if isinstance(data, dict):
        return {k: (v * 1000 if k in TIME_FIELDS and isinstance(v, int) else micro(v)) for k, v in data.items()}
    return data
