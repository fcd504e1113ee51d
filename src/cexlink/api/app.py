"""The REST API (``cexlink serve``): exchange accounts, exchanges, egress IPs, events. OpenAPI at /openapi.json.

Every route but the public ones needs ``Authorization: Bearer <token>``; everything a user reads or changes is
scoped to that user. Every answer has a model in ``schemas.py``; every error is ``failures.ErrorBody``, and
``failures.py`` is the one place that maps our errors to HTTP statuses: bad input → 422 naming the field,
refusals → 400/403/409 (or 503 when the exchange is the problem), not found (or someone else's) → 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..accounts import tokens
from ..accounts.service import AccountService
from ..errors import AccountRefused
from ..exchanges.capabilities import CAPABILITIES
from ..storage.repositories import Events, Users
from . import failures
from .anchors import ANCHOR_INTERVAL_S, AnchorFetcher
from .failures import Unauthorized, documented
from .limits import MAX_BODY_BYTES, BodyLimit
from .schemas import (
    Account,
    Connect,
    CreatedToken,
    Deleted,
    EgressIps,
    Event,
    ExchangeOut,
    ExchangesStatus,
    NewToken,
    Refreshed,
    Token,
    UpdateKey,
)

bearer = HTTPBearer(auto_error=False)

# The error statuses each kind of route can answer (documented in OpenAPI with failures.ErrorBody).
# Every route: 413 (body limit, before anything else), 500. Authenticated ones: 401, and 422 for their inputs.
PUBLIC = documented(413, 500)
AUTHED = documented(401, 413, 422, 500)
BY_ID = documented(401, 404, 413, 422, 500)
SIGNS = documented(400, 401, 404, 409, 413, 422, 500, 503)  # reaches the Sign Center and the exchange


@dataclass
class Caller:
    id: int
    name: str
    is_admin: bool


def caller(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    """The user behind the bearer token (module level: FastAPI resolves annotations in module globals)."""
    if creds is None:
        raise Unauthorized()
    service: AccountService = request.app.state.service
    with service.sessions() as db, db.begin():
        user = Users(db).user_for_token(creds.credentials)
        if user is None:
            raise Unauthorized()
        return Caller(user.id, user.name, user.is_admin)


Auth = Annotated[Caller, Depends(caller)]
# Every id in a path: a database row id (64-bit signed). Anything else (2^63 and up, 0, negative, not a number) is
# a 422 naming the parameter, never an overflow deep in the database driver (a 500).
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


def create_app(service: AccountService, on_shutdown: Any = None, anchor_interval_s: float = ANCHOR_INTERVAL_S,
               max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The API. ``anchor_interval_s``: how often the Sign Center's audit heads are fetched and anchored (0: not
    at all); ``max_body_bytes``: the request body limit, applied before anything else."""
    anchors = AnchorFetcher(service.signer, service.sessions, anchor_interval_s or ANCHOR_INTERVAL_S)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(anchors.run()) if anchor_interval_s > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if on_shutdown is not None:
                await on_shutdown()

    app = FastAPI(title="cexlink", version="0.1.0", lifespan=lifespan)
    app.state.service = service
    app.state.anchors = anchors
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)  # outermost of ours: before auth and parsing
    failures.install(app)
    app.include_router(importlib.import_module("cexlink.api.admin").router)  # late: admin.py imports this module

    # ---- public ----

    @app.get("/api/v1/exchanges", response_model=list[ExchangeOut], responses=PUBLIC)
    def exchanges() -> list[dict[str, Any]]:
        return [c.as_json() for c in CAPABILITIES]

    @app.get("/api/v1/exchanges/status", response_model=ExchangesStatus, responses=PUBLIC,
             response_model_exclude_unset=True)  # an incident says what its evidence knows, no nulls added
    def exchanges_status() -> dict[str, Any]:
        return {"incidents": service.incidents.active()}

    @app.get("/api/v1/egress-ips", response_model=EgressIps, responses=PUBLIC)
    def egress_ips() -> dict[str, Any]:
        return {"egress_ips": service.settings.egress_ips,
                "message": "Whitelist all of these IP addresses on your exchange API key."}

    # ---- accounts ----

    @app.get("/api/v1/accounts", response_model=list[Account], responses=AUTHED)
    def list_accounts(me: Auth) -> list[dict[str, Any]]:
        return service.list(me.id)

    @app.post("/api/v1/accounts", status_code=201, response_model=Account, responses=SIGNS)
    async def connect(body: Connect, me: Auth) -> dict[str, Any]:
        return await service.connect(me.id, body.exchange, body.name, body.api_key, body.secret, body.passphrase)

    @app.get("/api/v1/accounts/{account_id}", response_model=Account, responses=BY_ID)
    def show(account_id: Id, me: Auth) -> dict[str, Any]:
        return service.show(me.id, account_id)

    @app.put("/api/v1/accounts/{account_id}/api-key", response_model=Account, responses=SIGNS)
    async def update_key(account_id: Id, body: UpdateKey, me: Auth) -> dict[str, Any]:
        return await service.update_key(me.id, account_id, body.api_key, body.secret, body.passphrase)

    @app.post("/api/v1/accounts/{account_id}/refresh", response_model=Account, responses=SIGNS)
    async def refresh(account_id: Id, me: Auth) -> dict[str, Any]:
        return await service.refresh(me.id, account_id)

    @app.post("/api/v1/accounts/refresh", response_model=Refreshed, responses={**SIGNS, **documented(403)})
    async def refresh_mine(me: Auth, all: bool = False) -> dict[str, Any]:
        if all and not me.is_admin:
            raise AccountRefused("forbidden", "Refreshing every user's accounts needs an administrator's token.",
                                 "Leave ?all=true out to refresh your own accounts, or use an administrator's "
                                 "token.", "all")
        return await service.refresh_many(None if all else me.id)

    @app.delete("/api/v1/accounts/{account_id}", response_model=Deleted, responses=SIGNS)
    async def delete(account_id: Id, me: Auth, confirm: bool = False, cancel_orders: bool = False) -> dict[str, Any]:
        # Without confirm=true: 409 listing what would be deleted, and nothing changes.
        return await service.delete(me.id, account_id, confirm=confirm, cancel_orders=cancel_orders)

    @app.get("/api/v1/accounts/{account_id}/events", response_model=list[Event], responses=BY_ID)
    def account_events(account_id: Id, me: Auth) -> list[dict[str, Any]]:
        service.show(me.id, account_id)  # 404 unless it is the caller's
        with service.sessions() as db:
            return [_event(e) for e in Events(db).list(me.id, account_id)]

    @app.get("/api/v1/events", response_model=list[Event], responses=AUTHED)
    def events(me: Auth) -> list[dict[str, Any]]:
        with service.sessions() as db:
            return [_event(e) for e in Events(db).list(me.id)]

    # ---- API tokens: a user manages their own, an administrator anyone's ----

    @app.get("/api/v1/tokens", response_model=list[Token], responses={**AUTHED, **documented(403)})
    def list_tokens(me: Auth, user_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None
                    ) -> list[dict[str, Any]]:
        with service.sessions() as db, db.begin():
            return tokens.list_tokens(db, me.id, me.is_admin, user_id)

    @app.post("/api/v1/tokens", status_code=201, response_model=CreatedToken,
              responses={**AUTHED, **documented(403)})
    def create_token(body: NewToken, me: Auth) -> dict[str, Any]:
        with service.sessions() as db, db.begin():
            return tokens.create_token(db, me.id, me.is_admin, body.label, body.expires_in_days, body.user_id)

    @app.delete("/api/v1/tokens/{token_id}", response_model=Token, responses=BY_ID)
    def revoke_token(token_id: Id, me: Auth) -> dict[str, Any]:
        with service.sessions() as db, db.begin():
            return tokens.revoke_token(db, me.id, me.is_admin, token_id)

    return app


def _event(e: Any) -> dict[str, Any]:
    return {"id": e.id, "time": e.time.isoformat(), "severity": e.severity, "kind": e.kind, "message": e.message,
            "account_id": e.account_id, "data": e.data}
