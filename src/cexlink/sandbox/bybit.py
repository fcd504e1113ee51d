"""Bybit dialect (stub: being written)."""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.responses import Response

from .dialect import Call, Dialect, Endpoint, ErrorSpec, json_response
from .rejects import Reason, Reject


class Bybit(Dialect):
    name = "bybit"
    prefixes: ClassVar[tuple[str, ...]] = ("/v5",)
    errors: ClassVar[dict[Reason, ErrorSpec]] = {Reason.BAD_PARAM: ErrorSpec(400, 1, "bad request")}

    def endpoints(self) -> list[Endpoint]:
        return []

    def authenticate(self, call: Call, access: str) -> None:
        raise Reject(Reason.INVALID_KEY)

    def success(self, data: Any, call: Call) -> Response:
        return json_response(data)

    def error_body(self, spec: ErrorSpec, reject: Reject, call: Call | None) -> Any:
        return {"code": spec.code, "msg": spec.message(reject.detail)}
