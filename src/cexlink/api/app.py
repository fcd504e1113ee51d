"""The REST API (``cexlink serve``): exchange accounts, exchanges, egress IPs, events. OpenAPI at /openapi.json.

Every route but the public ones needs ``Authorization: Bearer <token>``; everything a user reads or changes is
scoped to that user. One place maps our errors to HTTP: bad input → 422 naming the field, refusals → 400/409
(or 503 when the exchange is the problem), not found (or someone else's) → 404.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..accounts import tokens
from ..accounts.service import AccountRefused, AccountService
from ..errors import InputError, SignerUnavailable
from ..exchanges.capabilities import CAPABILITIES
from ..storage.errors import NotFound
from ..storage.repositories import Events, Users
from .anchors import ANCHOR_INTERVAL_S, AnchorFetcher
from .limits import MAX_BODY_BYTES, BodyLimit
from .schemas import Connect, NewToken, UpdateKey

bearer = HTTPBearer(auto_error=False)


class _Unauthorized(Exception):
    pass


@dataclass
class Caller:
    id: int
    name: str
    is_admin: bool


def caller(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    """The user behind the bearer token (module level: FastAPI resolves annotations in module globals)."""
    if creds is None:
        raise _Unauthorized()
    service: AccountService = request.app.state.service
    with service.sessions() as db, db.begin():
        user = Users(db).user_for_token(creds.credentials)
        if user is None:
            raise _Unauthorized()
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

    @app.exception_handler(_Unauthorized)
    async def unauthorized(request: Request, exc: _Unauthorized) -> JSONResponse:
        return JSONResponse({"detail": "a valid API token is required (Authorization: Bearer …)"}, 401,
                            headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default answer echoes the submitted value ("input"): that could be a secret. Field and
        # reason only.
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSONResponse({"detail": detail}, 422)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}]},
                            422)

    @app.exception_handler(AccountRefused)
    async def refused(request: Request, exc: AccountRefused) -> JSONResponse:
        return JSONResponse(exc.as_json(), exc.http)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": f"no such {exc.what}"}, 404)

    @app.exception_handler(SignerUnavailable)
    async def signer_down(request: Request, exc: SignerUnavailable) -> JSONResponse:
        return JSONResponse({"detail": "the Sign Center is unavailable; try again shortly"}, 503)

    # ---- public ----

    @app.get("/api/v1/exchanges")
    def exchanges() -> list[dict[str, Any]]:
        return [c.as_json() for c in CAPABILITIES]

    @app.get("/api/v1/exchanges/status")
    def exchanges_status() -> dict[str, Any]:
        return {"incidents": service.incidents.active()}

    @app.get("/api/v1/egress-ips")
    def egress_ips() -> dict[str, Any]:
        return {"egress_ips": service.settings.egress_ips,
                "message": "Whitelist all of these IP addresses on your exchange API key."}

    # ---- accounts ----

    @app.get("/api/v1/accounts")
    def list_accounts(me: Auth) -> list[dict[str, Any]]:
        return service.list(me.id)

    @app.post("/api/v1/accounts", status_code=201)
    async def connect(body: Connect, me: Auth) -> dict[str, Any]:
        return await service.connect(me.id, body.exchange, body.name, body.api_key, body.secret, body.passphrase)

    @app.get("/api/v1/accounts/{account_id}")
    def show(account_id: Id, me: Auth) -> dict[str, Any]:
        return service.show(me.id, account_id)

    @app.put("/api/v1/accounts/{account_id}/api-key")
    async def update_key(account_id: Id, body: UpdateKey, me: Auth) -> dict[str, Any]:
        return await service.update_key(me.id, account_id, body.api_key, body.secret, body.passphrase)

    @app.post("/api/v1/accounts/{account_id}/refresh")
    async def refresh(account_id: Id, me: Auth) -> dict[str, Any]:
        return await service.refresh(me.id, account_id)

    @app.post("/api/v1/accounts/refresh")
    async def refresh_mine(me: Auth, all: bool = False) -> dict[str, Any]:
        if all and not me.is_admin:
            return JSONResponse({"detail": "refreshing every user's accounts needs an admin token"}, 403)  # type: ignore[return-value]
        return await service.refresh_many(None if all else me.id)

    @app.delete("/api/v1/accounts/{account_id}")
    async def delete(account_id: Id, me: Auth) -> dict[str, Any]:
        return await service.delete(me.id, account_id)

    @app.get("/api/v1/accounts/{account_id}/events")
    def account_events(account_id: Id, me: Auth) -> list[dict[str, Any]]:
        service.show(me.id, account_id)  # 404 unless it is the caller's
        with service.sessions() as db:
            return [_event(e) for e in Events(db).list(me.id, account_id)]

    @app.get("/api/v1/events")
    def events(me: Auth) -> list[dict[str, Any]]:
        with service.sessions() as db:
            return [_event(e) for e in Events(db).list(me.id)]

    # ---- API tokens: a user manages their own, an administrator anyone's ----

    @app.get("/api/v1/tokens")
    def list_tokens(me: Auth, user_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None
                    ) -> list[dict[str, Any]]:
        with service.sessions() as db, db.begin():
            return tokens.list_tokens(db, me.id, me.is_admin, user_id)

    @app.post("/api/v1/tokens", status_code=201)
    def create_token(body: NewToken, me: Auth) -> dict[str, Any]:
        with service.sessions() as db, db.begin():
            return tokens.create_token(db, me.id, me.is_admin, body.label, body.expires_in_days, body.user_id)

    @app.delete("/api/v1/tokens/{token_id}")
    def revoke_token(token_id: Id, me: Auth) -> dict[str, Any]:
        with service.sessions() as db, db.begin():
            return tokens.revoke_token(db, me.id, me.is_admin, token_id)

    return app


def _event(e: Any) -> dict[str, Any]:
    return {"id": e.id, "time": e.time.isoformat(), "severity": e.severity, "kind": e.kind, "message": e.message,
            "account_id": e.account_id, "data": e.data}
