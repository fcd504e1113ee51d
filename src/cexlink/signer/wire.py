"""JSON lines, as the Sign Center's socket carries them, for the servers and the clients alike."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson


def line(message: Any) -> bytes:
    """One compact JSON line. orjson refuses what it cannot write exactly (an integer beyond 64 bits); the
    standard library's writer takes those."""
    try:
        return orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def parse(data: bytes) -> Any:
    """orjson, but for a line with a run of 19 digits or more: orjson reads an integer beyond 64 bits as a
    float, which would change the parameters a caller asked to sign; the standard library's parser keeps it."""
    if _LONG_NUMBER.search(data):
        return json.loads(data)
    return orjson.loads(data)
