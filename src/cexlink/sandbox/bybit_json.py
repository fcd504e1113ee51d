"""Bybit v5 JSON rows: instruments, tickers, a key's own info, the wallet, orders and executions.

Pure functions of the ledger's records, shaped as api.bybit.com answers a unified (UTA 2.0) account trading spot:
numbers as plain strings without trailing zeros, times as ms strings, fields Bybit fills the same way for every
spot order kept as constants. bybit.py decides *what* to answer and wraps it in the ``retCode`` envelope.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .dialect import plain
from .ledger import FEE_RATE
from .markets import ASSETS, MarketSpec
from .records import Account, ApiKey, Order, Trade

DAY_MS = 86_400_000
QUOTE_PRECISION = Decimal("0.00000001")

STATUS = {"NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled", "FILLED": "Filled", "CANCELED": "Cancelled",
          "EXPIRED": "Cancelled"}

COIN_FIXED: dict[str, Any] = {
    "free": "", "availableToWithdraw": "", "availableToBorrow": "", "borrowAmount": "0", "accruedInterest": "0",
    "totalOrderIM": "0", "totalPositionIM": "0", "totalPositionMM": "0", "unrealisedPnl": "0",
    "cumRealisedPnl": "0", "bonus": "0", "collateralSwitch": True, "marginCollateral": True,
    "spotHedgingQty": "0", "spotBorrow": "0",
}
# query-api lists every permission group, empty when not granted (docs/v5/user/apikey-info.mdx).
PERMISSION_GROUPS = ("ContractTrade", "Spot", "Wallet", "Options", "Derivatives", "CopyTrading", "BlockTrade",
                     "Exchange", "NFT", "Affiliate", "Earn")


def num(d: Decimal | None) -> str:
    return "0" if d is None else plain(d)  # Bybit sends "0" for a number it has not got


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


# Fields a spot order always carries with the same value (no TP/SL, triggers, SMP or leverage here).
ORDER_FIXED: dict[str, Any] = {
    "blockTradeId": "", "isLeverage": "0", "positionIdx": 0, "createType": "CreateByUser",
    "rejectReason": "EC_NoError", "stopOrderType": "", "orderIv": "", "triggerPrice": "0", "takeProfit": "0",
    "stopLoss": "0", "tpslMode": "", "ocoTriggerBy": "", "tpLimitPrice": "", "slLimitPrice": "", "tpTriggerBy": "",
    "slTriggerBy": "", "triggerDirection": 0, "triggerBy": "", "lastPriceOnCreated": "", "reduceOnly": False,
    "closeOnTrigger": False, "placeType": "", "smpType": "None", "smpGroup": 0, "smpOrderId": "",
}
CHAIN_FIXED: dict[str, Any] = {
    "confirmation": "1", "withdrawFee": "0", "depositMin": "0", "withdrawMin": "0", "chainDeposit": "1",
    "chainWithdraw": "1", "minAccuracy": "8", "withdrawPercentageFee": "0", "contractAddress": "",
    "safeConfirmNumber": "1",
}


def order_json(o: Order) -> dict[str, Any]:
    by_quote = o.type == "MARKET" and o.side == "BUY" and o.quote_qty is not None
    qty = o.quote_qty if by_quote else o.qty
    assert qty is not None  # a quote quantity when by_quote, else the order's own
    leaves = (qty - (o.cum_quote if by_quote else o.filled)) if o.is_open else Decimal(0)
    return {
        **ORDER_FIXED, "orderId": str(o.id), "orderLinkId": o.client_order_id, "symbol": o.symbol,
        "price": num(o.price), "qty": num(qty), "side": "Buy" if o.side == "BUY" else "Sell",
        "orderStatus": STATUS[o.status], "cancelType": "CancelByUser" if STATUS[o.status] == "Cancelled" else "UNKNOWN",
        "avgPrice": num(o.avg_price), "leavesQty": num(leaves), "leavesValue": num(leaves * (o.price or 0)),
        "cumExecQty": num(o.filled), "cumExecValue": num(o.cum_quote), "cumExecFee": num(o.fee),
        "cumFeeDetail": {o.fee_asset: num(o.fee)} if o.fee_asset else {},
        "timeInForce": "IOC" if o.type == "MARKET" else o.time_in_force,
        "orderType": "Market" if o.type == "MARKET" else "Limit",
        "marketUnit": ("quoteCoin" if by_quote else "baseCoin") if o.type == "MARKET" else "",
        "createdTime": str(o.created_at), "updatedTime": str(o.updated_at),
    }


def execution_json(t: Trade, o: Order) -> dict[str, Any]:
    return {
        "symbol": t.symbol, "orderType": "Market" if o.type == "MARKET" else "Limit", "underlyingPrice": "",
        "orderLinkId": o.client_order_id, "side": "Buy" if t.side == "BUY" else "Sell", "indexPrice": "",
        "orderId": str(t.order_id), "stopOrderType": "", "leavesQty": "0", "execTime": str(t.time),
        "feeCurrency": t.fee_asset, "isMaker": t.maker, "execFee": num(t.fee), "feeRate": num(FEE_RATE),
        "execId": str(t.id), "tradeIv": "", "blockTradeId": "", "markPrice": num(t.price), "execPrice": num(t.price),
        "markIv": "", "orderQty": num(o.qty), "orderPrice": num(o.price), "execValue": num(t.quote_qty),
        "execType": "Trade", "execQty": num(t.qty), "closedSize": "", "extraFees": "", "seq": t.id,
    }


def instrument_json(m: MarketSpec) -> dict[str, Any]:
    return {
        "symbol": m.symbol, "baseCoin": m.base, "quoteCoin": m.quote, "innovation": "0", "status": "Trading",
        "marginTrading": "utaOnly", "stTag": "0",
        "lotSizeFilter": {"basePrecision": num(m.lot_step), "quotePrecision": num(QUOTE_PRECISION),
                          "minOrderQty": num(m.min_qty), "maxOrderQty": num(m.max_qty),
                          "minOrderAmt": num(m.min_notional), "maxOrderAmt": num(m.max_notional)},
        "priceFilter": {"tickSize": num(m.tick_size)},
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"}, "symbolType": "",
    }


def ticker_json(m: MarketSpec, p: Decimal) -> dict[str, Any]:
    return {"symbol": m.symbol, "bid1Price": num(p - m.tick_size), "bid1Size": "1", "ask1Price": num(p + m.tick_size),
            "ask1Size": "1", "lastPrice": num(p), "prevPrice24h": num(m.price),
            "price24hPcnt": num(round((p - m.price) / m.price, 4)), "highPrice24h": num(max(p, m.price)),
            "lowPrice24h": num(min(p, m.price)), "turnover24h": "0", "volume24h": "0", "usdIndexPrice": num(p)}


def key_info_json(key: ApiKey, acct: Account, now: int) -> dict[str, Any]:
    """GET /v5/user/query-api: the calling key, its permissions, IPs and expiry, and its account."""
    granted = key.permissions.get("permissions", {})
    return {
        "id": str(int(hashlib.sha256(key.api_key.encode()).hexdigest()[:8], 16) % 10**8), "note": key.label,
        "apiKey": key.api_key, "readOnly": key.permissions.get("readOnly", 1), "secret": "",
        "permissions": {g: list(granted.get(g, [])) for g in (*PERMISSION_GROUPS, *granted)},
        "ips": key.ips or ["*"], "type": 2 if key.third_party else 1,
        # Filled only for keys that expire (no IP bound); the rest report 0 and "".
        "deadlineDay": max(0, (key.expires_at - now) // DAY_MS) if key.expires_at else 0,
        "expiredAt": iso(key.expires_at) if key.expires_at else "", "createdAt": iso(key.created_at),
        "unified": 0, "uta": 1, "userID": int(acct.uid), "inviterID": 0, "vipLevel": "No VIP",
        "mktMakerLevel": "0", "affiliateID": 0, "rsaPublicKey": "", "isMaster": not acct.is_sub,
        "parentUid": acct.parent_uid or "0", "kycLevel": "LEVEL_DEFAULT" if acct.kyc_required else "LEVEL_1",
        "kycRegion": "",
    }


def account_info_json(now: int) -> dict[str, Any]:
    return {"marginMode": "REGULAR_MARGIN", "updatedTime": str(now), "unifiedMarginStatus": 6, "dcpStatus": "OFF",
            "timeWindow": 10, "smpGroup": 0, "isMasterTrader": False, "spotHedgingStatus": "OFF"}


def wallet_json(acct: Account, wanted: set[str] | None, usd: Callable[[str, Decimal], Decimal]) -> dict[str, Any]:
    """GET /v5/account/wallet-balance for the unified account: every coin held (or ``wanted``), valued by ``usd``."""
    coins, total = [], Decimal(0)
    for asset, bal in sorted(acct.balances.items()):
        if wanted is not None and asset not in wanted:
            continue
        wallet = bal.free + bal.locked
        value = usd(asset, wallet)
        total += value
        # availableToWithdraw is deprecated and sent empty; clients derive free from walletBalance - locked.
        coins.append({**COIN_FIXED, "coin": asset, "equity": num(wallet), "usdValue": num(round(value, 8)),
                      "walletBalance": num(wallet), "locked": num(bal.locked)})
    t = num(round(total, 8))
    return {"list": [{"accountType": "UNIFIED", "totalEquity": t, "totalWalletBalance": t,
                      "totalMarginBalance": t, "totalAvailableBalance": t, "totalPerpUPL": "0",
                      "totalInitialMargin": "0", "totalMaintenanceMargin": "0", "accountIMRate": "0",
                      "accountMMRate": "0", "accountLTV": "0", "coin": coins}]}


def coins_json(wanted: str | None) -> dict[str, Any]:
    return {"rows": [{"name": a, "coin": a, "remainAmount": "1000000",
                      "chains": [{"chainType": a, "chain": a, **CHAIN_FIXED}]}
                     for a in ASSETS if wanted in (None, a)]}
