"""JSON lines, as the Sign Center's socket carries them, for the servers and the clients alike; and the name
of a ccxt api both sides key requests on."""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["api_path", "dumps", "line", "parse"]


def api_path(api: Any) -> str:
    """The whole api, as the policy knows it: ``['private', 'spot']`` is ``private/spot``. (Many exchanges
    have the same path under several sub-APIs, spot and margin, say: the first element alone would not
    tell them apart.) Here, not in the policy, because callers name their requests with it too."""
    if isinstance(api, (list, tuple)):
        return "/".join(map(str, api))
    return str(api)


def dumps(message: Any, sort_keys: bool = False, newline: bool = False) -> bytes:
    """Compact JSON in UTF-8, the same bytes for the same input. orjson refuses what it cannot write exactly
    (an integer beyond 64 bits); the standard library's writer takes those."""
    try:
        return orjson.dumps(message, option=(orjson.OPT_SORT_KEYS if sort_keys else 0)
                            | (orjson.OPT_APPEND_NEWLINE if newline else 0))
    except TypeError:
        text = json.dumps(message, separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=False)
        return (text + "\n" if newline else text).encode()


def line(message: Any) -> bytes:
    """One compact JSON line, as the socket carries it."""
    return dumps(message, newline=True)


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def parse(data: bytes) -> Any:
    """orjson, but for a line with a run of 19 digits or more: orjson reads an integer beyond 64 bits as a
    float, which would change the parameters a caller asked to sign; the standard library's parser keeps it.
    (The run is found by mapping every digit to 0 and searching for nineteen of them: a tenth of a regex's
    cost.)"""
    if _LONG_RUN in data.translate(_DIGITS_AS_ZERO):
        return json.loads(data)
    return orjson.loads(data)
