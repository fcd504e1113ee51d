"""The Sign Center's wire protocol, shared by the Unix-socket and HTTP servers and the client.

One JSON object per line: ``{"id": n, "op": "sign", "args": {...}}`` → ``{"id": n, "ok": true, "result": …}``
or ``{"id": n, "ok": false, "error": {"type": "refused"|"input"|"internal", "reason"|"field", "message"}}``.
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any

from ..errors import InputError, SignerRefused
from .engine import SignCenter

log = logging.getLogger("cexlink.signer")

# op -> engine method; the only things a caller can ask for. None of them returns a secret.
OPS = {
    "store": "store_credential",
    "sign": "sign",
    "revoke": "revoke",
    "revoke_where": "revoke_where",
    "rotate_kek": "rotate_kek",
    "describe": "describe",
}


def dispatch(engine: SignCenter, message: dict[str, Any]) -> dict[str, Any]:
    rid = message.get("id")
    op = message.get("op")
    args = message.get("args") or {}
    try:
        if op == "health":
            return {"id": rid, "ok": True, "result": {"status": "ok"}}
        method = OPS.get(op) if isinstance(op, str) else None
        if method is None:
            raise InputError("op", f"must be one of {', '.join(OPS)}")
        if not isinstance(args, dict):
            raise InputError("args", "must be an object")
        fn = getattr(engine, method)
        try:
            inspect.signature(fn).bind(**args)
        except TypeError as e:  # wrong or missing argument names: the message names them, never values
            raise InputError("args", str(e)) from None
        result = fn(**args)
        return {"id": rid, "ok": True, "result": result}
    except SignerRefused as e:
        return {"id": rid, "ok": False, "error": {"type": "refused", "reason": e.reason, "message": e.message}}
    except InputError as e:
        return {"id": rid, "ok": False, "error": {"type": "input", "field": e.field, "message": e.message}}
    except Exception as e:  # never let a secret-bearing repr escape: type name only
        log.error("internal error in %s: %s", op, type(e).__name__)
        return {"id": rid, "ok": False, "error": {"type": "internal", "message": type(e).__name__}}


def decode(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError:
        return {"id": None, "op": None, "args": None, "_bad": True}
    return message if isinstance(message, dict) else {"id": None, "op": None, "_bad": True}


def encode(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, separators=(",", ":")).encode() + b"\n"
