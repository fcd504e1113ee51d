"""JSON lines, as the Sign Center's socket carries them, for the servers and the clients alike."""

from __future__ import annotations

import json
from typing import Any

import orjson


def line(message: Any) -> bytes:
    """One compact JSON line. orjson refuses what it cannot write exactly (an integer beyond 64 bits); the
    standard library's writer takes those."""
    try:
        return orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def parse(data: bytes) -> Any:
    """The standard library's parser: orjson would read an integer beyond 64 bits as a float, changing the
    parameters a caller asked to sign."""
    return json.loads(data)
