"""OKX v5 JSON rows: instruments, tickers, the account's config and balance, orders and fills.

Pure functions of the ledger's records, shaped as okx.com answers a spot cash account (numbers as plain decimal
strings, times as ms strings, the fields OKX leaves empty kept empty). okx.py decides *what* to answer and wraps
rows in the ``{"code","msg","data"}`` envelope; this module only says how a row looks.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .dialect import plain
from .ledger import FEE_RATE
from .markets import ASSETS, BY_SYMBOL, MarketSpec
from .records import Account, ApiKey, Order, Trade

STATES = {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled", "CANCELED": "canceled",
          "EXPIRED": "canceled"}
# Fields OKX sends empty for a spot cash account (kept so clients see the real shape).
ORDER_BLANKS = dict.fromkeys("ccy pxUsd pxVol pxType tradeId stpId lever attachAlgoClOrdId tpTriggerPx tpTriggerPxType "
                             "tpOrdPx slTriggerPx slTriggerPxType slOrdPx source cancelSource cancelSourceReason "
                             "quickMgnType algoClOrdId algoId".split(), "")
DETAIL_BLANKS = dict.fromkeys("availEq liab crossLiab isoLiab interest imr mmr mgnRatio maxLoan notionalLever isoEq "
                              "isoUpl upl uplLiab spotInUseAmt spotBal openAvgPx accAvgPx".split(), "")


def num(d: Decimal | None) -> str:
    return "" if d is None else plain(d)  # OKX sends "" for a number it has not got


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


def ticker(m: MarketSpec, p: Decimal, now: int) -> dict[str, Any]:
    t = m.tick_size
    return {"instType": "SPOT", "instId": m.inst_id, "last": num(p), "lastSz": "0.1", "askPx": num(p + t),
            "askSz": "1", "bidPx": num(p - t), "bidSz": "1", "open24h": num(m.price),
            "high24h": num(max(p, m.price)), "low24h": num(min(p, m.price)), "volCcy24h": "0",
            "vol24h": "0", "ts": str(now), "sodUtc0": num(m.price), "sodUtc8": num(m.price)}


def config(key: ApiKey, acct: Account) -> dict[str, Any]:
    return {
        "uid": acct.uid, "mainUid": acct.parent_uid or acct.uid, "acctLv": "1", "acctStpMode": "cancel_maker",
        "posMode": "net_mode", "autoLoan": False, "greeksType": "PA", "feeType": "0", "level": "Lv1",
        "levelTmp": "", "ctIsoMode": "automatic", "mgnIsoMode": "automatic", "spotOffsetType": "",
        "stgyType": "0", "roleType": "0", "traderInsts": [], "spotRoleType": "0", "spotTraderInsts": [],
        "opAuth": "0", "kycLv": "0" if acct.kyc_required else "2", "label": key.label,
        "ip": ",".join(key.ips), "perm": ",".join(key.permissions.get("perm", [])),
        "type": "1" if acct.is_sub else "0", "liquidationGear": "-1", "enableSpotBorrow": False,
        "spotBorrowAutoRepay": False, "settleCcy": "USDT", "settleCcyList": ["USD", "USDC", "USDG"],
    }


def balance(acct: Account, wanted: set[str], usd: Callable[[str, Decimal], Decimal], now: int) -> dict[str, Any]:
    """The account's non-zero balances (only ``wanted`` currencies, if any), valued in USD by ``usd``."""
    details, total = [], Decimal(0)
    for ccy, b in sorted(acct.balances.items()):
        if (wanted and ccy not in wanted) or not (b.free or b.locked):
            continue
        eq = b.free + b.locked
        value = usd(ccy, eq)
        total += value
        details.append({
            **DETAIL_BLANKS, "ccy": ccy, "eq": num(eq), "cashBal": num(eq), "availBal": num(b.free),
            "frozenBal": num(b.locked), "ordFrozen": num(b.locked), "disEq": num(value), "eqUsd": num(value),
            "fixedBal": "0", "stgyEq": "0", "spotIsoBal": "0", "twap": "0", "uTime": str(now),
        })
    return {"adjEq": "", "availEq": "", "borrowFroz": "", "details": details, "imr": "", "isoEq": "",
            "mgnRatio": "", "mmr": "", "notionalUsd": "", "ordFroz": "", "totalEq": num(total), "uTime": str(now),
            "upl": ""}


def trade_fee(inst_type: str, now: int) -> dict[str, Any]:
    rate = num(-FEE_RATE)  # negative: a charge
    return {"category": "1", "delivery": "", "exercise": "", "instType": inst_type, "level": "Lv1", "maker": rate,
            "taker": rate, "makerU": "", "takerU": "", "makerUSDC": "", "takerUSDC": "", "ts": str(now),
            "feeGroup": [{"groupId": "1", "maker": rate, "taker": rate}]}


def currency(a: str) -> dict[str, Any]:
    return {"ccy": a, "name": a, "chain": f"{a}-{a}", "canDep": True, "canWd": True, "canInternal": True,
            "mainNet": True, "minDep": "0.00000001", "minWd": "0.001", "maxWd": "1000000", "minFee": "0.0001",
            "maxFee": "0.001", "wdTickSz": "8", "wdQuota": "10000000", "usedWdQuota": "0", "needTag": False,
            "logoLink": "", "minDepArrivalConfirm": "1", "minWdUnlockConfirm": "1", "depQuotaFixed": "",
            "usedDepQuotaFixed": "", "depQuoteDailyLayer2": "", "burningFeeRate": ""}


def currencies() -> list[dict[str, Any]]:
    return [currency(a) for a in ASSETS]


def ord_type(o: Order) -> str:
    """The ordType as sent; orders the ledger knows only by time in force (after an old restart) derive it."""
    return o.wire_type or {"IOC": "ioc", "FOK": "fok"}.get(o.time_in_force, o.type.lower())


def cl_ord_id(o: Order) -> str:
    return o.client_order_id if o.client_order_id_given else ""  # OKX shows "" when none was sent


def order_json(o: Order) -> dict[str, Any]:
    spec, by_quote, filled = BY_SYMBOL[o.symbol], o.quote_qty is not None, o.filled > 0
    avg = num(o.avg_price) if filled else ""
    return {
        **ORDER_BLANKS, "instType": "SPOT", "instId": spec.inst_id, "ordId": str(o.id), "clOrdId": cl_ord_id(o),
        "tag": o.tag, "px": num(o.price), "sz": num(o.quote_qty if by_quote else o.qty),
        "pnl": "0", "ordType": ord_type(o), "side": o.side.lower(), "posSide": "net", "tdMode": "cash",
        "accFillSz": num(o.filled), "fillPx": avg, "avgPx": avg, "fillSz": num(o.filled) if filled else "",
        "fillTime": str(o.updated_at) if filled else "", "state": STATES[o.status], "stpMode": "cancel_maker",
        "attachAlgoOrds": [], "linkedAlgoOrd": {"algoId": ""}, "feeCcy": o.fee_asset or spec.quote,
        "fee": num(-o.fee), "rebateCcy": spec.quote, "rebate": "0", "category": "normal", "reduceOnly": "false",
        "isTpLimit": "false", "tgtCcy": "quote_ccy" if by_quote else "", "tradeQuoteCcy": spec.quote,
        "uTime": str(o.updated_at), "cTime": str(o.created_at),
    }


def fill_json(t: Trade, order: Order | None) -> dict[str, Any]:
    spec = BY_SYMBOL[t.symbol]
    return {
        "instType": "SPOT", "instId": spec.inst_id, "tradeId": str(t.id), "ordId": str(t.order_id),
        "clOrdId": cl_ord_id(order) if order else "", "billId": str(t.id), "subType": "1",
        "tag": order.tag if order else "", "fillPx": num(t.price), "fillSz": num(t.qty),
        "fillIdxPx": "", "fillPnl": "0", "fillPxVol": "", "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "",
        "fillMarkPx": "", "side": t.side.lower(), "posSide": "net", "execType": "M" if t.maker else "T",
        "feeCcy": t.fee_asset, "fee": num(-t.fee), "feeRate": num(-FEE_RATE), "ts": str(t.time),
        "fillTime": str(t.time),
    }
