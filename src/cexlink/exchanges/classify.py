"""Turn an exchange's refusal (a ccxt exception, an HTTP status, a body) into a connection status.

Evidence is gathered first — the exchange's code and message from the body, or from the ccxt exception's
message when no body is given (ccxt writes ``exchange_id + ' ' + body`` for most errors) — then the most
specific matching row of ``error_table.TABLE`` wins:

    exchange rows: code+message → code → message → HTTP status
    "*" rows:      ccxt class (the most derived class in the exception's MRO first) → HTTP status
    nothing:       UNKNOWN (transient: a key is never marked bad for what we do not understand)

A Sign Center failure anywhere in the exception's chain is classified as such (``sign_center`` rows): a refusal
reaches ccxt callers as ``cexlink.ccxt.SignCenterRefused``, itself a ``SignerRefused`` carrying its ``reason``.
``exchange_message`` is what the exchange said, trimmed of anything that looks like key material (Bybit
echoes the signed string, API key included, in 10004); request headers are never read.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..domain.statuses import Status, is_transient, render
from ..errors import SignerError, SignerRefused
from .error_table import ALIASES, TABLE, Row

__all__ = ["Classified", "classify", "response_of", "track"]

_RECORD = "_cexlink_response"  # (HTTP status, body) of the instance's last answer, set by track()
_MAX_MESSAGE = 300
_SUCCESS_CODES = frozenset({"0", "200000"})  # OKX/Bybit/Binance-451 "0", KuCoin "200000": no error code
_HTTP_IN_MESSAGE = re.compile(r"^\S+ (?:(?:GET|POST|PUT|DELETE|PATCH|HEAD) \S+ )?([1-5]\d\d) ")
_ORIGIN_STRING = re.compile(r"origin_string\[[^\]]*\]")
_KEYLIKE = re.compile(r"[A-Za-z0-9+/=_-]{24,}")  # API keys, signatures, tokens


@dataclass(frozen=True)
class Classified:
    status: Status
    cause: str
    code: str | None
    http_status: int | None
    ambiguous: bool
    exchange_message: str | None

    @property
    def transient(self) -> bool:
        """The key is not at fault: keep it and retry later."""
        return is_transient(self.status)

    @property
    def key_fault(self) -> bool:
        """The key or the account needs the user: the connection goes to this status."""
        return not self.transient and self.status is not Status.OK

    def render(self, exchange: str, ips: list[str] | tuple[str, ...] = (), missing: str = "") -> tuple[str, str]:
        """(message, remedy) for a person; what the exchange said goes into the message's detail."""
        said = f"{self.code}: {self.exchange_message}" if self.code and self.exchange_message else \
            self.exchange_message or ""
        return render(self.status, exchange, ips, missing, detail=said)


@dataclass(frozen=True)
class _Evidence:
    exchange: str
    code: str | None = None
    message: str | None = None
    http: int | None = None
    classes: tuple[str, ...] = ()


# ---- reading the exchanges' envelopes ----

Envelope = tuple[Any, Any]  # (code, message) as found, before normalisation


def _binance(doc: dict[str, Any]) -> Envelope:
    return doc.get("code"), doc.get("msg")


def _okx(doc: dict[str, Any]) -> Envelope:
    # Per-order failures sit in data[i].sCode under outer code "1"/"2"; ccxt reads them first too.
    data = doc.get("data")
    for item in data if isinstance(data, list) else ():
        if isinstance(item, dict) and str(item.get("sCode", "0")) not in _SUCCESS_CODES:
            return item.get("sCode"), item.get("sMsg")
    return doc.get("code"), doc.get("msg")


def _bybit(doc: dict[str, Any]) -> Envelope:
    return doc.get("retCode", doc.get("ret_code")), doc.get("retMsg", doc.get("ret_msg"))


def _kraken(doc: dict[str, Any]) -> Envelope:
    errors = doc.get("error")
    first = errors[0] if isinstance(errors, list) and errors else errors if isinstance(errors, str) else None
    return first, first


READERS: dict[str, Callable[[dict[str, Any]], Envelope]] = {
    "binance": _binance, "okx": _okx, "bybit": _bybit, "kucoin": _binance, "kraken": _kraken,
}


def _read(exchange: str, doc: Any) -> tuple[str | None, str | None]:
    if not isinstance(doc, dict):
        return None, None
    readers = [READERS[exchange]] if exchange in READERS else list(READERS.values())
    for reader in readers:
        code, message = reader(doc)
        code = None if code is None or str(code) in _SUCCESS_CODES else str(code)
        if code is not None or message:
            return code, str(message) if message else None
    return None, None


def _json_in(text: str) -> Any:
    """The first JSON object or array in ``text`` (ccxt prefixes the body with the exchange id)."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    try:
        return json.JSONDecoder().raw_decode(text[min(starts):])[0]
    except ValueError:
        return None


# ---- gathering the evidence ----

def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _class_names(error: BaseException) -> tuple[str, ...]:
    return tuple(cls.__name__ for cls in type(error).__mro__)


def _transport_failure(error: BaseException) -> bool:
    """A ccxt NetworkError raised from a socket/HTTP-library error: no answer came, so no body can explain it
    (a body read from the instance would be an older one)."""
    names = _class_names(error)
    cause = error.__cause__
    return "NetworkError" in names and cause is not None and "BaseError" not in _class_names(cause)


def _signer_evidence(error: BaseException) -> _Evidence | None:
    for link in _chain(error):
        if isinstance(link, SignerError):
            code = link.reason if isinstance(link, SignerRefused) else None
            return _Evidence("sign_center", code=code, classes=_class_names(link))
    return None


def _evidence(exchange: str, error: BaseException | None, http_status: int | None, body: str | None) -> _Evidence:
    classes = _class_names(error) if error is not None else ()
    if error is not None and _transport_failure(error):
        return _Evidence(exchange, classes=classes)
    code, message = _read(exchange, _json_in(body)) if body is not None else (None, None)
    if error is not None:
        text = str(error)
        if code is None and message is None:
            code, message = _read(exchange, _json_in(text))
        if code is None and message is None and body is None:  # ccxt quoted the message alone: "binance <msg>"
            message = text.split(" ", 1)[1] if text.startswith(exchange + " ") else text
        if http_status is None and (m := _HTTP_IN_MESSAGE.match(text)):
            http_status = int(m.group(1))
    return _Evidence(exchange, code, message, http_status, classes)


# ---- matching ----

def _specificity(row: Row, ev: _Evidence) -> tuple[int, ...] | None:
    """How specific a matching row is (higher wins), or None when it does not match."""
    if row.exchange not in (ev.exchange, "*"):
        return None
    # A code+message row also matches a message seen without its code (ccxt quoted the message only).
    if row.code is not None and row.code != ev.code and not (ev.code is None and row.message is not None):
        return None
    if row.message is not None and (ev.message is None or row.message.casefold() not in ev.message.casefold()):
        return None
    if row.http is not None and (ev.http is None or ev.http not in (row.http if isinstance(row.http, range)
                                                                    else (row.http,))):
        return None
    depth = 0
    if row.ccxt is not None:
        if row.ccxt not in ev.classes:
            return None
        depth = ev.classes.index(row.ccxt)
    return (row.exchange != "*", row.code is not None and row.message is not None, row.code is not None,
            row.message is not None, row.ccxt is not None, -depth, row.http is not None)


def _best(ev: _Evidence) -> Row | None:
    scored = [(score, row) for row in TABLE if (score := _specificity(row, ev)) is not None]
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


def _clean(message: str | None) -> str | None:
    if not message:
        return None
    return _KEYLIKE.sub("…", _ORIGIN_STRING.sub("origin_string[…]", message))[:_MAX_MESSAGE]


def classify(exchange: str, error: BaseException | None = None, *, http_status: int | None = None,
             body: str | None = None) -> Classified:
    """The status an exchange's refusal means for the connection. ``exchange`` is the ccxt id; ``body`` and
    ``http_status`` are the raw answer when known (see ``response_of``), else they are read from ``error``."""
    family = ALIASES.get(exchange.lower(), exchange.lower())
    ev = (_signer_evidence(error) if error is not None else None) or _evidence(family, error, http_status, body)
    row = _best(ev)
    if row is None:
        return Classified(Status.UNKNOWN, "unrecognised", ev.code, ev.http, False, _clean(ev.message))
    return Classified(row.status, row.cause.format(code=ev.code or "unknown"), ev.code, ev.http, row.ambiguous,
                      _clean(ev.message))


# ---- reading the answer off a ccxt instance ----

def track(exchange: Any) -> Any:
    """Make ``response_of`` exact for a ccxt instance (sync or async): note each answer's HTTP status and body,
    and forget them when the next request starts, so a failure without an answer never borrows an older one."""
    hook = exchange.on_rest_response
    fetch = exchange.fetch

    def on_rest_response(code: int, reason: str, url: str, method: str, headers: Any, body: str,
                         *rest: Any) -> Any:
        setattr(exchange, _RECORD, (code, body))
        return hook(code, reason, url, method, headers, body, *rest)

    if inspect.iscoroutinefunction(fetch):
        async def fetch_async(*args: Any, **kwargs: Any) -> Any:
            setattr(exchange, _RECORD, None)
            return await fetch(*args, **kwargs)
        exchange.fetch = fetch_async
    else:
        def fetch_sync(*args: Any, **kwargs: Any) -> Any:
            setattr(exchange, _RECORD, None)
            return fetch(*args, **kwargs)
        exchange.fetch = fetch_sync
    exchange.on_rest_response = on_rest_response
    setattr(exchange, _RECORD, None)
    return exchange


def response_of(exchange: Any) -> tuple[int | None, str | None]:
    """(HTTP status, body) of the instance's last answer. Exact after ``track()``; otherwise the body only
    (``last_http_response``), which ``classify`` ignores for transport failures."""
    if hasattr(exchange, _RECORD):
        return getattr(exchange, _RECORD) or (None, None)
    return None, getattr(exchange, "last_http_response", None)
