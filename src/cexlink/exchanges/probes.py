"""Probes: what the platform learns about a key, asking the exchange through the Sign Center.

uid and sub-account flag, permissions (in the exchange's words), the IP whitelist (reported, or tested from
each egress IP), key creation and expiry, balances. One function per exchange, thin and mostly field
mapping; the ccxt instances are remote-signed clones of one prototype per exchange and egress IP (building a
ccxt instance costs milliseconds, a clone microseconds).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt

from ..ccxt import remote
from ..errors import CexlinkError, SignerError
from ..net import aiohttp_session
from . import capabilities
from .classify import Classified, classify
from .endpoints import point_ccxt
from .signing import returns_signature

__all__ = ["PROBES", "ExchangePool", "KeyFacts", "ProbeFailed", "probe"]


@dataclass
class KeyFacts:
    uid: str | None = None
    is_sub_account: bool | None = None
    permissions: list[str] = field(default_factory=list)  # in the exchange's words
    ip_restricted: bool | None = None
    ip_whitelist: list[str] | None = None  # None: the exchange does not report it
    egress_refused: list[str] = field(default_factory=list)  # egress IPs the exchange refused (tested)
    key_created_at: int | None = None  # epoch ms
    trading_expires_at: int | None = None  # epoch ms: when the key stops trading (expiry, lapse)
    kyc_required: bool = False
    balances: dict[str, dict[str, str]] = field(default_factory=dict)  # asset -> free/used/total (Decimal text)
    can_trade_probe: Classified | None = None  # the refusal of a trading probe, if any


class ProbeFailed(CexlinkError):
    """The exchange refused the key (or could not be asked); ``classified`` says why in our statuses."""

    def __init__(self, classified: Classified, detail: str = "") -> None:
        super().__init__(f"{classified.status.value}: {classified.cause}")
        self.classified = classified
        self.detail = detail


@dataclass
class ExchangePool:
    """Remote-signed async ccxt prototypes, one per (exchange, egress IP), with markets loaded once."""

    signer: Any  # AsyncSignerClient
    exchange_urls: dict[str, str]
    rate_limit: bool = True  # ccxt's throttle per prototype: clones share it, so all probes keep one pace
    time_difference: dict[str, int] = field(default_factory=dict)  # measured exchange clock offsets (ms)
    _protos: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    _locks: dict[tuple[str, str | None], asyncio.Lock] = field(default_factory=dict)

    async def instance(self, exchange: str, credential_id: str, egress_ip: str | None = None) -> Any:
        key = (exchange, egress_ip)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            proto = self._protos.get(key)
            if proto is None:
                proto = remote(exchange, "-", self.signer, asynchronous=True,
                               config={"enableRateLimit": self.rate_limit})
                proto.number = str  # amounts stay exact decimal text
                if exchange in self.exchange_urls:
                    point_ccxt(proto, self.exchange_urls[exchange])
                if egress_ip is not None:
                    if returns_signature(exchange):
                        proto.session = aiohttp_session(egress_ip)  # a request signed here leaves from here
                    else:
                        proto._cexlink_egress = egress_ip  # the Sign Center sends it, from that address
                proto.open()  # once: an SSL context costs tens of milliseconds
                self._protos[key] = proto
        clone = copy.copy(proto)
        clone._cexlink_proto = proto
        clone.options = dict(proto.options)  # per-call state (e.g. Binance's "authenticated once") stays local
        if exchange in self.time_difference:
            clone.options["timeDifference"] = self.time_difference[exchange]
        clone._cexlink_credential = credential_id
        clone._cexlink_pool = self
        clone._cexlink_clone = True  # shares the prototype's session: closing is the prototype's job
        clone.last_http_response = None
        clone.last_response_headers = None
        return clone

    @staticmethod
    def adopt_markets(clone: Any) -> None:
        """Markets load through the first clone that needs them (OKX and Bybit sign their currency calls, so it
        takes a real credential); its prototype keeps them for every later clone."""
        proto = clone._cexlink_proto
        if proto.markets is None and clone.markets:
            proto.set_markets(clone.markets, clone.currencies)

    async def close(self) -> None:
        for proto in self._protos.values():
            await proto.close()
        self._protos.clear()


def _ms(value: Any) -> int | None:
    """Epoch ms from the shapes exchanges use: ms numbers, numeric strings, ISO-8601, "" for none."""
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC).timestamp() * 1000)
    except ValueError:
        return None


def _amount(value: Any) -> str:
    """Exact decimal text (the pool's ccxt instances parse numbers as strings: no float ever holds an amount)."""
    return format(Decimal(str(value if value not in (None, "") else 0)).normalize(), "f")


def _balances(balance: dict[str, Any]) -> dict[str, dict[str, str]]:
    out = {}
    for asset, total in (balance.get("total") or {}).items():
        if total is not None and Decimal(str(total)) != 0:
            out[asset] = {k: _amount((balance.get(k) or {}).get(asset)) for k in ("free", "used", "total")}
    return out


async def _call(ex: Any, exchange: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    """One probe call; a timestamp refusal is corrected once (the exchange's clock) before it is reported."""
    skew: ProbeFailed | None = None
    for _attempt in (1, 2):
        try:
            result = await fn()
            ExchangePool.adopt_markets(ex)
            return result
        except ccxt.InvalidNonce as e:
            if skew is not None:
                raise skew from None
            skew = ProbeFailed(classify(exchange, e, body=ex.last_http_response))
            try:
                await ex.load_time_difference()  # public server time: options['timeDifference']
            except ccxt.BaseError:
                raise skew from None
            ex._cexlink_pool.time_difference[exchange] = ex.options["timeDifference"]
        except (ccxt.BaseError, SignerError) as e:
            if skew is not None and "clock_offset_too_large" in str(e):
                raise skew from None  # too far off for the Sign Center to correct: report the skew itself
            raise ProbeFailed(classify(exchange, e, body=ex.last_http_response)) from None
    raise AssertionError("unreachable")


# ---- per exchange ----

BINANCE_FLAGS = {
    "enableReading": "Enable Reading", "enableSpotAndMarginTrading": "Enable Spot & Margin Trading",
    "enableWithdrawals": "Enable Withdrawals", "enableMargin": "Enable Margin Loan, Repay & Transfer",
    "enableFutures": "Enable Futures", "enableInternalTransfer": "Permits Internal Transfer",
    "permitsUniversalTransfer": "Permits Universal Transfer", "enableVanillaOptions": "Enable European Options",
}
TEST_ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "10000",
              "timeInForce": "GTC"}


async def _binance(pool: ExchangePool, cred: str, egress: list[str | None]) -> KeyFacts:
    facts = KeyFacts()
    restrictions, reachable, refusal = None, None, None
    # apiRestrictions from each egress IP: -2015 from some IPs and not others means those IPs are missing.
    for ip in egress:
        ex = await pool.instance("binance", cred, ip)
        try:
            got = await _call(ex, "binance", ex.sapi_get_account_apirestrictions)
        except ProbeFailed as failed:
            if not failed.classified.ambiguous and failed.classified.cause not in ("ip_not_whitelisted",):
                raise
            refusal = failed
            facts.egress_refused.append(ip or "default")
            continue
        restrictions, reachable = restrictions or got, reachable or ex
    if restrictions is None or reachable is None:
        assert refusal is not None
        raise refusal  # -2015 from every egress IP: the key is gone, or none of our IPs is on its list
    facts.permissions = [word for flag, word in BINANCE_FLAGS.items() if restrictions.get(flag)]
    facts.ip_restricted = bool(restrictions.get("ipRestrict"))
    facts.key_created_at = _ms(restrictions.get("createTime"))
    facts.trading_expires_at = _ms(restrictions.get("tradingAuthorityExpirationTime"))
    ex = reachable
    trader = copy.copy(ex)  # its own last-response fields: the two calls below run at once

    async def trading_probe() -> Classified | None:
        # A plain trading probe: order/test is authenticated like an order and never matched.
        try:
            await trader.private_post_order_test(dict(TEST_ORDER))
        except (ccxt.BaseError, SignerError) as e:
            return classify("binance", e, body=trader.last_http_response)
        return None

    balance, facts.can_trade_probe = await asyncio.gather(_call(ex, "binance", lambda: ex.fetch_balance()),
                                                          trading_probe())
    facts.uid = str(balance["info"].get("uid")) if balance["info"].get("uid") is not None else None
    facts.balances = _balances(balance)
    return facts


async def _okx(pool: ExchangePool, cred: str, egress: list[str | None]) -> KeyFacts:
    ex = await pool.instance("okx", cred, None)
    config = await _call(ex, "okx", lambda: ex.private_get_account_config())
    row = (config.get("data") or [{}])[0]
    words = {"read_only": "Read", "trade": "Trade", "withdraw": "Withdraw"}
    perms = [p.strip() for p in str(row.get("perm", "")).split(",") if p.strip()]
    ips = [ip.strip() for ip in str(row.get("ip", "")).split(",") if ip.strip()]
    balance = await _call(ex, "okx", lambda: ex.fetch_balance())
    return KeyFacts(uid=str(row.get("uid")) or None, is_sub_account=str(row.get("mainUid")) != str(row.get("uid")),
                    permissions=[words.get(p, p) for p in perms], ip_restricted=bool(ips), ip_whitelist=ips,
                    kyc_required=str(row.get("kycLv", "1")) == "0", balances=_balances(balance))


BYBIT_WORDS = {"SpotTrade": "Trade", "Withdraw": "Withdraw"}


async def _bybit(pool: ExchangePool, cred: str, egress: list[str | None]) -> KeyFacts:
    ex = await pool.instance("bybit", cred, egress[0])
    info = (await _call(ex, "bybit", lambda: ex.private_get_v5_user_query_api())).get("result") or {}
    read_only = str(info.get("readOnly")) == "1"
    perms = [f"{group}: {BYBIT_WORDS.get(p, p)}" for group, items in (info.get("permissions") or {}).items()
             for p in items or [] if not (read_only and group in ("Spot", "ContractTrade", "Derivatives",
                                                                   "Options"))]
    ips = [ip for ip in info.get("ips") or [] if ip and ip != "*"]
    balance = await _call(ex, "bybit", lambda: ex.fetch_balance())
    return KeyFacts(uid=str(info.get("userID")) if info.get("userID") is not None else None,
                    is_sub_account=str(info.get("parentUid", "0")) not in ("0", ""), permissions=perms,
                    ip_restricted=bool(ips), ip_whitelist=ips, key_created_at=_ms(info.get("createdAt")),
                    trading_expires_at=_ms(info.get("expiredAt")),
                    kyc_required=info.get("kycLevel") == "LEVEL_DEFAULT", balances=_balances(balance))


def _generic(exchange: str) -> Callable[[ExchangePool, str, list[str | None]], Awaitable[KeyFacts]]:
    """Exchanges without a key-info call here: the balance proves the key reads; nothing more is known."""

    async def probe(pool: ExchangePool, cred: str, egress: list[str | None]) -> KeyFacts:
        ex = await pool.instance(exchange, cred, egress[0])
        return KeyFacts(balances=_balances(await _call(ex, exchange, lambda: ex.fetch_balance())))

    return probe


PROBES: dict[str, Callable[[ExchangePool, str, list[str | None]], Awaitable[KeyFacts]]] = {
    "binance": _binance, "okx": _okx, "bybit": _bybit,
}


async def probe(pool: ExchangePool, exchange: str, credential_id: str, egress: list[str | None]) -> KeyFacts:
    """Everything the exchange tells about this key; raises ProbeFailed with the classified refusal."""
    if capabilities.get(exchange) is None:
        raise ValueError(f"unknown exchange {exchange}")
    fn = PROBES.get(exchange) or _generic(exchange)
    return await fn(pool, credential_id, egress)
