"""The sandbox's admin API (``/sandbox/v1/*``): what a test or the demo does that a user would do on the
exchange's web site — open accounts and sub-accounts, create and revoke keys, fund balances — and what only
the exchange can do: suspend accounts, announce maintenance, move prices, set rate limits.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import forbidden
from .admin_input import (
    ACCOUNT_FLAGS,
    LIMIT_FIELDS,
    AdminInputError,
    _bounded_text,
    _decimal,
    _exchange,
    _flag,
    _ips,
    _key_flag,
    _native_permissions,
    _number,
    _optional_ms,
    _refuse_unknown,
    _text,
    _uid,
)
from .dialect import Context, json_response
from .ledger import EXCHANGES
from .markets import BY_SYMBOL
from .records import Account, ApiKey, Order
from .status import DEFAULT_TITLE, FAILURE_MODES, MAX_HANG_SECONDS, Failure

DAY_MS = 86_400_000
MAX_KEY_DAYS = 36_500  # a key's lifetime in days, at most
# How long a key without an IP whitelist lives when created on the exchange's site (Bybit: 90 days).
NO_IP_KEY_LIFETIME_DAYS = {"bybit": 90}
# Key states only some dialects model: a flag set for another exchange would do nothing, so it is refused.
# What each status-failure mode takes besides exchange and mode: a field of the other mode would do nothing.
FAILURE_FIELDS = {"error": ("http_status", "times"), "hang": ("seconds", "times"), "off": ()}


def account_json(a: Account) -> dict[str, Any]:
    return {
        "exchange": a.exchange, "uid": a.uid, "parent_uid": a.parent_uid, "label": a.label,
        "is_sub_account": a.is_sub, "suspended": a.suspended, "kyc_required": a.kyc_required,
        "region_restricted": a.region_restricted,
        "balances": {k: {"free": str(b.free), "locked": str(b.locked)} for k, b in a.balances.items()},
    }


def key_json(k: ApiKey, with_secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "exchange": k.exchange, "api_key": k.api_key, "uid": k.uid, "permissions": k.permissions,
        "ips": k.ips, "label": k.label, "created_at": k.created_at, "expires_at": k.expires_at,
        "revoked": k.revoked, "agreement_accepted": k.agreement_accepted, "demo": k.demo, "frozen": k.frozen,
        "last_used_at": k.last_used_at,
    }
    if with_secret:  # only at creation, as an exchange shows the secret once
        out["secret"] = k.secret
        out["passphrase"] = k.passphrase
    return out


def order_json(o: Order) -> dict[str, Any]:
    return {"id": o.id, "exchange": o.exchange, "uid": o.uid, "symbol": o.symbol, "side": o.side,
            "type": o.type, "qty": str(o.qty), "price": None if o.price is None else str(o.price),
            "status": o.status, "filled": str(o.filled), "client_order_id": o.client_order_id}


class Admin:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ledger = ctx.ledger

    def routes(self) -> list[Route]:
        p = "/sandbox/v1"
        table: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", "/health", self.health),
            ("GET", "/accounts", self.list_accounts),
            ("POST", "/accounts", self.create_account),
            ("GET", "/accounts/{exchange}/{uid}", self.get_account),
            ("PATCH", "/accounts/{exchange}/{uid}", self.patch_account),
            ("POST", "/accounts/{exchange}/{uid}/fund", self.fund),
            ("GET", "/accounts/{exchange}/{uid}/orders", self.account_orders),
            ("POST", "/keys", self.create_key),
            ("GET", "/keys/{exchange}/{api_key}", self.get_key),
            ("PATCH", "/keys/{exchange}/{api_key}", self.patch_key),
            ("DELETE", "/keys/{exchange}/{api_key}", self.revoke_key),
            ("POST", "/maintenance", self.maintenance),
            ("GET", "/maintenance", self.list_maintenance),
            ("POST", "/status-failure", self.status_failure),
            ("POST", "/prices", self.set_price),
            ("GET", "/prices", self.get_prices),
            ("POST", "/walk", self.walk),
            ("POST", "/limits", self.limits),
            ("POST", "/limits/reset", self.reset_limits),
            ("GET", "/accepted", self.accepted),
        ]
        return [Route(p + path, self._wrap(fn), methods=[method]) for method, path, fn in table]

    def _wrap(self, fn: Callable[..., Any]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                body = json.loads(await request.body() or b"{}")
                if not isinstance(body, dict):
                    raise AdminInputError("body", "must be a JSON object")
                with self.ledger.lock:
                    result = fn(body=body, **request.path_params, query=dict(request.query_params))
                status = 201 if request.method == "POST" and isinstance(result, dict) and "created" in result \
                    else 200
                if isinstance(result, dict):
                    result.pop("created", None)
                return json_response(result, status)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):  # Recursion: nested too deep
                return json_response({"error": "body: not valid JSON", "field": "body"}, 422)
            except AdminInputError as e:
                return json_response({"error": str(e), "field": e.field}, 422)
            except KeyError as e:
                return json_response({"error": str(e.args[0]) if e.args else "not found"}, 404)
            except ValueError as e:
                return json_response({"error": str(e)}, 422)

        return run

    # ---- handlers: each takes body, path params and query; returns JSON-able data ----

    def health(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        return {"status": "ok", "exchanges": list(EXCHANGES),
                "maintenance": self.ctx.status.exchanges_under_maintenance(self.ctx.now_ms()),
                "time": self.ctx.now_ms()}

    def list_accounts(self, body: dict[str, Any], query: dict[str, str]) -> list[dict[str, Any]]:
        ex = query.get("exchange")
        return [account_json(a) for a in self.ledger.accounts.values() if ex is None or a.exchange == ex]

    def _balances(self, raw: Any) -> dict[str, Decimal]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise AdminInputError("balances", "must be an object of asset to amount")
        return {str(k).upper(): _decimal(v, f"balances.{k}") for k, v in raw.items()}

    def create_account(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        exchange = _exchange(body.get("exchange"))
        parent = _uid(body.get("parent_uid"), "parent_uid")
        if parent is not None and (exchange, parent) not in self.ledger.accounts:
            raise AdminInputError("parent_uid", f"no {exchange} account {parent}")
        acct = self.ledger.create_account(exchange, parent, _text(body.get("label"), "label") or "",
                                          self._balances(body.get("balances")))
        return {**account_json(acct), "created": True}

    def get_account(self, body: dict[str, Any], exchange: str, uid: str, query: dict[str, str]) -> dict[str, Any]:
        return account_json(self.ledger.account(exchange, uid))

    def patch_account(self, body: dict[str, Any], exchange: str, uid: str,
                      query: dict[str, str]) -> dict[str, Any]:
        flags = {k: _flag(body[k], k) for k in ACCOUNT_FLAGS if k in body}
        _refuse_unknown(body, flags, "is not an account flag")
        return account_json(self.ledger.set_account_flags(exchange, uid, **flags))

    def fund(self, body: dict[str, Any], exchange: str, uid: str, query: dict[str, str]) -> dict[str, Any]:
        asset = (_text(body.get("asset"), "asset") or "").upper()
        if not asset:
            raise AdminInputError("asset", "is required")
        amount = _decimal(body.get("amount"), "amount")
        self.ledger.fund(exchange, uid, asset, amount)
        return account_json(self.ledger.account(exchange, uid))

    def account_orders(self, body: dict[str, Any], exchange: str, uid: str,
                       query: dict[str, str]) -> list[dict[str, Any]]:
        return [order_json(o) for o in self.ledger.account_orders(exchange, uid)]

    def create_key(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        """Create a key; with no ``uid``, first open a new account (a sub-account with ``sub_account``)."""
        exchange = _exchange(body.get("exchange"))
        native = _native_permissions(exchange, body.get("permissions"))  # checked even when overridden below
        override = body.get("native_permissions")
        if override is not None and not isinstance(override, dict):
            raise AdminInputError("native_permissions", "must be an object in the exchange's own vocabulary")
        native = override or native
        ips = _ips(body.get("ips"))
        label = _text(body.get("label"), "label") or ""
        passphrase = _text(body.get("passphrase"), "passphrase", None)
        flags = {name: _flag(body.get(name), name, default)
                 for name, default in (("agreement_accepted", True), ("third_party", False), ("sub_account", False))}
        uid = _uid(body.get("uid"), "uid")
        if uid is not None and (exchange, uid) not in self.ledger.accounts:
            raise AdminInputError("uid", f"no {exchange} account {uid}")
        balances = self._balances(body.get("balances"))
        now = self.ctx.now_ms()
        expires_at = _optional_ms(body.get("expires_at"), "expires_at")
        if body.get("expires_in_days") is not None:
            days = _decimal(body["expires_in_days"], "expires_in_days")
            if abs(days) > MAX_KEY_DAYS:  # below zero: a key that has already expired
                raise AdminInputError("expires_in_days", f"must be from -{MAX_KEY_DAYS} to {MAX_KEY_DAYS}")
            expires_at = now + int(days * DAY_MS)
        elif expires_at is None and not ips and exchange in NO_IP_KEY_LIFETIME_DAYS:
            expires_at = now + NO_IP_KEY_LIFETIME_DAYS[exchange] * DAY_MS
        demo = _key_flag(exchange, "demo", body.get("demo", False))
        # Every field is checked above: only now may accounts be opened, so a refused request changes nothing.
        if uid is None:
            parent = self.ledger.create_account(exchange, label="master").uid if flags["sub_account"] else None
            uid = self.ledger.create_account(exchange, parent, label, balances).uid
        key = self.ledger.create_key(exchange, uid, native, ips, passphrase, label, expires_at,
                                     flags["agreement_accepted"], flags["third_party"], demo)
        return {**key_json(key, with_secret=True), "created": True}

    def get_key(self, body: dict[str, Any], exchange: str, api_key: str, query: dict[str, str]) -> dict[str, Any]:
        return key_json(self.ledger.key(exchange, api_key))

    def patch_key(self, body: dict[str, Any], exchange: str, api_key: str, query: dict[str, str]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if "permissions" in body:
            changes["permissions"] = _native_permissions(exchange, body["permissions"])
        # Each changeable field with the check of its type.
        checks: dict[str, Callable[[Any], Any]] = {
            "ips": _ips, "expires_at": lambda v: _optional_ms(v, "expires_at"),
            "agreement_accepted": lambda v: _flag(v, "agreement_accepted", True),
            "revoked": lambda v: _flag(v, "revoked"), "label": lambda v: _text(v, "label"),
        }
        for name, check in checks.items():
            if name in body:
                changes[name] = check(body[name])
        if "frozen" in body:
            changes["frozen"] = _key_flag(exchange, "frozen", body["frozen"])
        if "last_used_at" in body:  # e.g. to age a key without moving the clock
            changes["last_used_at"] = _optional_ms(body["last_used_at"], "last_used_at")
        _refuse_unknown(body, changes, "cannot be changed")
        return key_json(self.ledger.update_key(exchange, api_key, **changes))

    def revoke_key(self, body: dict[str, Any], exchange: str, api_key: str, query: dict[str, str]) -> dict[str, Any]:
        self.ledger.revoke_key(exchange, api_key)
        return {"revoked": True}

    def maintenance(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        """Switch maintenance on now (until switched off, or until ``end``), announce it ahead (``begin`` in the
        future: scheduled until the sandbox clock passes it), or switch it off (ends what is ongoing, cancels what
        is announced). Times are epoch milliseconds of the sandbox clock (``GET /health`` gives its now)."""
        exchange = _exchange(body.get("exchange"))
        on = _flag(body.get("on"), "on", True)
        _refuse_unknown(body, ("exchange", "on", "begin", "end", "title", "href") if on else ("exchange", "on"),
                        "is not a maintenance setting" if on else "only goes with on: true")
        now = self.ctx.now_ms()
        if not on:
            self.ctx.status.switch_off(exchange, now)
            return self._maintenance_json(exchange, now)
        begin, end = _optional_ms(body.get("begin"), "begin"), _optional_ms(body.get("end"), "end")
        if end is not None and end <= max(now, begin or 0):
            raise AdminInputError("end", "must be after begin and after the sandbox's now "
                                         f"({now} ms): maintenance already over cannot be announced")
        title = _bounded_text(body.get("title"), "title", DEFAULT_TITLE)
        href = _bounded_text(body.get("href"), "href", "")
        window = self.ctx.status.switch_on(exchange, now, begin, end, title, href)
        return {**self._maintenance_json(exchange, now), "window": window.as_json(now)}

    def list_maintenance(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        """Every window with its state as of the sandbox's now, and the status endpoints told to fail."""
        exchange = query.get("exchange") or None
        exchanges = EXCHANGES if exchange is None else (_exchange(exchange),)
        now = self.ctx.now_ms()
        return {"time": now, "maintenance": self.ctx.status.exchanges_under_maintenance(now),
                "windows": [w.as_json(now) for ex in exchanges for w in self.ctx.status.of(ex)],
                "failures": {ex: f.as_json() for ex, f in self.ctx.status.failures.items() if ex in exchanges}}

    def _maintenance_json(self, exchange: str, now: int) -> dict[str, Any]:
        return {"maintenance": self.ctx.status.exchanges_under_maintenance(now),
                "windows": [w.as_json(now) for w in self.ctx.status.of(exchange)]}

    def status_failure(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        """Make an exchange's status endpoint fail: ``mode`` ``error`` answers ``http_status`` (5xx, default 503),
        ``hang`` holds each answer ``seconds`` (a client with a shorter timeout times out), ``off`` heals it;
        ``times`` lets it recover by itself after that many failed requests."""
        exchange = _exchange(body.get("exchange"))
        mode = body.get("mode")
        if mode not in FAILURE_FIELDS:
            raise AdminInputError("mode", f"must be one of {', '.join((*FAILURE_MODES, 'off'))}")
        _refuse_unknown(body, ("exchange", "mode", *FAILURE_FIELDS[mode]), f"does not go with mode {mode}")
        if mode == "off":
            self.ctx.status.failures.pop(exchange, None)
            return {"exchange": exchange, "failure": None}
        failure = Failure(mode)
        if "times" in body:
            failure.times = _number(body["times"], "times", int, 1)
        if mode == "error":
            failure.http = _number(body.get("http_status", 503), "http_status", int, 500)
            if failure.http > 599:
                raise AdminInputError("http_status", "must be a 5xx status, from 500 to 599")
        else:
            if "seconds" not in body:
                raise AdminInputError("seconds", "is required with mode hang")
            failure.seconds = _number(body["seconds"], "seconds", float, 0.001)
            if failure.seconds > MAX_HANG_SECONDS:
                raise AdminInputError("seconds", f"must be at most {MAX_HANG_SECONDS:g}")
        self.ctx.status.failures[exchange] = failure
        return {"exchange": exchange, "failure": failure.as_json()}

    def set_price(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        symbol = (_text(body.get("symbol"), "symbol") or "").replace("/", "").replace("-", "").upper()
        if symbol not in BY_SYMBOL:
            raise AdminInputError("symbol", f"must be one of {', '.join(BY_SYMBOL)}")
        price = _decimal(body.get("price"), "price")
        if price <= 0:
            raise AdminInputError("price", "must be above zero")
        self.ledger.set_price(symbol, price)
        return {"symbol": symbol, "price": str(self.ledger.walk.price(symbol))}

    def get_prices(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, str]:
        self.ledger.tick()
        return {s: str(p) for s, p in self.ledger.walk.prices.items()}

    def walk(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        vol, step, seed = body.get("volatility"), body.get("step_seconds"), body.get("seed")
        self.ledger.walk.configure(seed=None if seed is None else _number(seed, "seed", int),
                                   volatility=None if vol is None else _decimal(vol, "volatility"),
                                   step_seconds=None if step is None else _number(step, "step_seconds", float, 0.001))
        w = self.ledger.walk
        return {"seed": w.seed, "volatility": str(w.volatility), "step_seconds": w.step_seconds}

    def limits(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        exchange = _exchange(body.get("exchange"))
        cfg = self.ctx.limits.config(exchange)
        # All checked before any is set: a refused request changes nothing.
        values: dict[str, Any] = {name: _number(body[name], name, kind, least)
                                  for name, (kind, least) in LIMIT_FIELDS.items() if name in body}
        if "enabled" in body:
            values["enabled"] = _flag(body["enabled"], "enabled")
        for name, value in values.items():
            setattr(cfg, name, value)
        self.ctx.limits.reset(exchange)
        return {"exchange": exchange, **cfg.__dict__}

    def reset_limits(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        exchange = body.get("exchange")
        self.ctx.limits.reset(None if exchange is None else _exchange(exchange))
        return {"reset": True}

    def accepted(self, body: dict[str, Any], query: dict[str, str]) -> list[dict[str, Any]]:
        """Forbidden-family calls the sandbox accepted (forbidden.py), oldest first; ``exchange`` and ``family``
        narrow the list."""
        exchange = query.get("exchange") or None
        family = query.get("family") or None
        if exchange is not None:
            _exchange(exchange)
        if family is not None and family not in forbidden.FAMILIES:
            raise AdminInputError("family", f"must be one of {', '.join(forbidden.FAMILIES)}")
        return [dataclasses.asdict(a) for a in self.ledger.accepted
                if exchange in (None, a.exchange) and family in (None, a.family)]
