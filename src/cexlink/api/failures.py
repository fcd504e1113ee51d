"""The one translation from errors to HTTP answers: every 4xx/5xx body of the REST API is ``ErrorBody``.

``{error, message, remedy, field}``: ``error`` a stable code a program can test, ``message`` what is wrong,
``remedy`` what to do, ``field`` the input at fault (or null). Refusals add their facts (``status``,
``missing``, ``exchange_code``, …); a 422 adds ``detail``, one ``{loc, msg, type}`` per field, never the
submitted value (it could be a secret). HTTP status codes are chosen here, and only here: the service raises
domain errors (``cexlink.errors``), ``REASON_STATUS`` picks the status of a refusal from its reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from ..domain.statuses import Status, is_transient
from ..errors import AccountRefused, CexlinkError, InputError, SignerRefused, SignerUnavailable
from ..storage.errors import NotFound


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description="where: body/query/path, then the field")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every error answer of the REST API."""

    model_config = ConfigDict(extra="allow")  # refusals add their facts (below)

    error: str = Field(description="a stable code: a connection status, a conflict word, invalid_input, …")
    message: str = Field(description="what is wrong, for a person")
    remedy: str = Field(description="what to do about it")
    field: str | None = Field(default=None, description="the input at fault, if one is")
    detail: list[FieldProblem] | None = Field(default=None, description="422 only: every field at fault")
    status: str | None = Field(default=None, description="refused connections: the connection status")
    cause: str | None = Field(default=None, description="refused connections: the finer cause")
    missing: list[str] | None = Field(default=None, description="permissions or IPs that are missing")
    forbidden: list[str] | None = Field(default=None, description="permissions the key must not have")
    exchange_code: str | None = Field(default=None, description="the exchange's own error code")
    active: dict[str, int] | None = Field(default=None, description="active_consumers: what still uses it")


class Unauthorized(CexlinkError):
    """No valid bearer token (the 401)."""


# A refusal's reason -> HTTP status. Connection statuses: 503 when the exchange is the problem (transient; try
# again), 400 when the key is. Conflicts with what exists: 409.
REASON_STATUS: dict[str, int] = {
    **{s.value: 503 if is_transient(s) else 400 for s in Status},
    "account_already_connected": 409, "key_already_used": 409, "key_belongs_to_another_account": 409,
    "active_consumers": 409, "key_update_conflict": 409, "confirmation_required": 409, "cancel_failed": 409,
    "sub_account_not_allowed": 400,
    "forbidden": 403,
}

_FIX_INPUT = "Correct the field named and send the request again."


def body(error: str, message: str, remedy: str, field: str | None = None, **facts: Any) -> dict[str, Any]:
    return {"error": error, "message": message, "remedy": remedy, "field": field, **facts}


def _field(loc: Sequence[Any]) -> str:
    """The field a person would fix: the last name in ``loc`` (``["body", "api_key"]`` -> ``api_key``)."""
    names = [str(part) for part in loc if isinstance(part, str)]
    return names[-1] if names else "body"


def _invalid(problems: list[dict[str, Any]]) -> JSONResponse:
    first: dict[str, Any] = problems[0] if problems else {"loc": ["body"], "msg": "invalid"}
    field = _field(first["loc"])
    message = f"{field}: {first['msg']}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    return JSONResponse(body("invalid_input", message, _FIX_INPUT, field, detail=problems), 422)


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default answer echoes the submitted value ("input"): that could be a secret. Field and reason only.
    return _invalid([{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                     for e in exc.errors()])


async def _input(request: Request, exc: InputError) -> JSONResponse:
    return _invalid([{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}])


async def _refused(request: Request, exc: AccountRefused) -> JSONResponse:
    return JSONResponse(exc.as_json(), REASON_STATUS.get(exc.reason, 400))


async def _signer_refused(request: Request, exc: SignerRefused) -> JSONResponse:
    return JSONResponse(body(exc.reason, f"The Sign Center would not do this: {exc.message}",
                             "Check the request; if it should be allowed, ask the operator."), 400)


async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
    # Another user's row answers exactly like a missing one.
    return JSONResponse(body("not_found", f"No such {exc.what}.", "Check the id: list yours with GET."), 404)


async def _signer_down(request: Request, exc: SignerUnavailable) -> JSONResponse:
    return JSONResponse(body("sign_center_unavailable", "The platform's signing service (Sign Center) is unavailable.",
                             "Try again shortly; if it persists, tell the operator."), 503)


async def _unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
    return JSONResponse(body("unauthorized", "A valid API token is required (Authorization: Bearer …).",
                             "Send your API token in the Authorization header; create one with "
                             "`cexlink users tokens create`."), 401, headers={"WWW-Authenticate": "Bearer"})


_ROUTE_MESSAGES = {404: "There is no such route.", 405: "This route does not take this method."}


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own answers: unknown route (404), method not allowed (405)."""
    phrase = HTTPStatus(exc.status_code).phrase
    message = _ROUTE_MESSAGES.get(exc.status_code, phrase + ".")  # never the path: it could carry anything
    return JSONResponse(body(phrase.lower().replace(" ", "_").replace("-", "_"), message,
                             "See /openapi.json for the routes and their methods."), exc.status_code,
                        headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the exception after this answer; the caller learns nothing of the internals.
    return JSONResponse(body("internal_error", "The server failed to answer this request.",
                             "Try again; if it persists, tell the operator."), 500)


Handler = Callable[[Request, Any], Awaitable[JSONResponse]]
HANDLERS: dict[type[Exception], Handler] = {
    RequestValidationError: _validation, InputError: _input, AccountRefused: _refused,
    SignerRefused: _signer_refused, NotFound: _not_found, SignerUnavailable: _signer_down,
    Unauthorized: _unauthorized, HTTPException: _http, Exception: _unexpected,
}


def install(app: FastAPI) -> None:
    for exc_class, handler in HANDLERS.items():
        app.add_exception_handler(exc_class, handler)


_DESCRIPTIONS = {400: "refused: the error names the status and the remedy", 401: "no valid API token",
                 403: "not allowed for this token", 404: "no such object (or another user's)",
                 409: "conflicts with what exists", 413: "body too large", 422: "invalid input: field named",
                 500: "unexpected failure", 503: "the Sign Center or the exchange is unavailable; try again"}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the ``ErrorBody`` model."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}
