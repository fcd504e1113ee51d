"""OKX v5 request parameters: instIds and instTypes, order bodies (one or a batch), order references and the
listing endpoints' scope and limit — each refused with OKX's own code. Blank strings (python-okx sends "" for
"not given") and numbers as strings are the shared helpers' rules (dialect.py)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .dialect import ErrorSpec, decimal_param, limit_param, optional, order_id_param, required
from .markets import BY_INST_ID, MarketSpec
from .rejects import Reason, Reject

CLORDID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
ORD_TYPES = {"limit": "GTC", "post_only": "GTC", "ioc": "IOC", "fok": "FOK", "market": "GTC"}  # -> time in force
BATCH_LIMIT = 20
LIST_LIMIT = 100
# Parameter refusals only OKX has words for (docs-v5 "Error Code").
JSON_SYNTAX = ErrorSpec(400, "50002", "JSON syntax error")
EMPTY_BODY = ErrorSpec(400, "50000", "Body cannot be empty.")
EITHER = ErrorSpec(400, "50015", "Either parameter {param} or {other} is required.")


def spec_of(inst_id: str) -> MarketSpec:
    spec = BY_INST_ID.get(inst_id)
    if spec is None:
        raise Reject(Reason.BAD_SYMBOL, inst_id=inst_id)
    return spec


def inst_type(q: dict[str, Any], mandatory: bool = True) -> str | None:
    value = required(q, "instType") if mandatory else optional(q, "instType")
    if value is not None and value not in INST_TYPES:
        raise Reject(Reason.BAD_PARAM, param="instType")
    return value


def scope(q: dict[str, Any], inst_type_required: bool) -> tuple[bool, str | None]:
    """(whether spot is asked for, the ledger symbol of instId) for the listing endpoints."""
    inst_id = optional(q, "instId")
    return inst_type(q, inst_type_required) in (None, "SPOT"), (spec_of(inst_id).symbol if inst_id else None)


def limit(q: dict[str, Any]) -> int:
    return limit_param(q, LIST_LIMIT, LIST_LIMIT)


def items(body: bytes, batch: bool) -> list[dict[str, Any]]:
    """The order objects of a single or batch body; malformed JSON refuses the whole request."""
    if not body:
        raise Reject(Reason.BAD_PARAM, spec=EMPTY_BODY)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise Reject(Reason.BAD_PARAM, spec=JSON_SYNTAX) from None
    found = data if batch and isinstance(data, list) else [data]
    if not found or not all(isinstance(i, dict) for i in found):
        raise Reject(Reason.BAD_PARAM, spec=JSON_SYNTAX)
    if len(found) > BATCH_LIMIT:
        raise Reject(Reason.BATCH_TOO_LARGE, limit=BATCH_LIMIT)
    return found


def raw_items(body: bytes) -> list[dict[str, Any]]:
    """Whatever order objects a body holds, for answering each one when the request is refused as a whole."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return [{}]
    found = data if isinstance(data, list) else [data]
    return [i if isinstance(i, dict) else {} for i in found] or [{}]


def order_ref(p: dict[str, Any]) -> tuple[MarketSpec, int | None, str | None]:
    """(market, ordId, clOrdId) of an order to look up or cancel: one of the two ids is needed."""
    spec = spec_of(required(p, "instId"))
    if optional(p, "ordId") is None and optional(p, "clOrdId") is None:
        raise Reject(Reason.BAD_PARAM, spec=EITHER, param="ordId", other="clOrdId")
    return spec, order_id_param(p, "ordId"), optional(p, "clOrdId")


@dataclass(frozen=True)
class NewOrder:
    """One order of POST /trade/order or /trade/batch-orders, checked for shape (not yet against the market)."""

    inst_id: str
    td_mode: str
    side: str  # buy | sell
    ord_type: str  # a key of ORD_TYPES
    sz: Decimal
    px: Decimal | None
    by_quote: bool  # sz is in the quote currency
    cl: str | None
    tag: str

    @classmethod
    def parse(cls, p: dict[str, Any]) -> NewOrder:
        inst_id, td_mode, side, ord_type = (required(p, name) for name in ("instId", "tdMode", "side", "ordType"))
        if side not in ("buy", "sell"):
            raise Reject(Reason.BAD_SIDE, param="side")
        if ord_type not in ORD_TYPES:
            raise Reject(Reason.BAD_ORDER_TYPE, param="ordType")
        sz = decimal_param(p, "sz", positive=True)
        assert sz is not None
        px = decimal_param(p, "px", required=ord_type != "market", positive=True)
        tgt = optional(p, "tgtCcy")
        if tgt not in (None, "base_ccy", "quote_ccy"):
            raise Reject(Reason.BAD_PARAM, param="tgtCcy")
        cl = optional(p, "clOrdId")
        if cl is not None and not CLORDID_RE.match(cl):
            raise Reject(Reason.BAD_PARAM, param="clOrdId")
        # Spot market buys are sized in the quote currency unless tgtCcy says otherwise (docs: tgtCcy).
        by_quote = ord_type == "market" and (tgt or ("quote_ccy" if side == "buy" else "base_ccy")) == "quote_ccy"
        return cls(inst_id, td_mode, side, ord_type, sz, px, by_quote, cl, optional(p, "tag") or "")
