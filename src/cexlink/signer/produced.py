"""The request ``sign()`` produced must be the request the policy allowed.

The policy checks what the caller *asked* for (api, method, path); ccxt's ``sign()`` then builds the URL from
that and from the parameters: path placeholders (``orders/{orderId}``), KuCoin's ``version``, a query string
it does not escape. So the caller's parameters could rewrite what is signed — an ``orderId`` of
``../withdrawals/1?x=`` or a ``version`` of ``v1/withdrawals?x=`` yields a signed withdrawal that the audit
log would record as ``POST orders`` — and could override what the Sign Center sets itself: a ``timestamp``
minted a year ahead outlives any revocation, a ``nonce`` or ``signature`` replaces its own.

Three checks, all before anything is answered or sent:
- ``check_params``: no caller field that the Sign Center sets itself (clock, nonce, signature, key), and every
  value that builds the path is one plain segment (no ``/ ? # ..``, no ``%`` or ``\\`` that could encode one);
- ``Produced.check``: the signed request's method, scheme, host and path are the allowlisted endpoint's (a
  reference built once per endpoint by the same ``sign()`` with neutral values), it has no fragment, and its
  query names nothing but the caller's parameters and what ``sign()`` itself adds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .policy import Reason, Refused

__all__ = ["Produced", "check_params"]

# Fields the Sign Center sets itself, in any exchange's spelling: a caller's value would replace its clock, its
# nonce or its signature wherever ccxt's sign() merges params over its own fields (Binance, Kraken).
RESERVED = frozenset({"timestamp", "signature", "nonce", "sign", "apikey", "api_key", "passphrase", "recvwindow"})
# Parameters that build the URL path besides ``{placeholders}``, per exchange, with the values they may take.
PATH_PARAMS: dict[str, dict[str, re.Pattern[str]]] = {
    "kucoin": {"version": re.compile(r"v[0-9]{1,2}")},
}
_SEGMENT = re.compile(r"[A-Za-z0-9_.:@+=,~-]{1,128}")  # one path segment; no / ? # % \ or whitespace
_PLACEHOLDER = re.compile(r"{([^}]+)}")
_MARK = "cexlinkSEGMENT"  # stands for a placeholder's value in a reference request


def check_params(exchange: str, path: str, params: Any, max_recv_window_ms: int) -> None:
    """Refuse parameters that would override the Sign Center's own fields or rewrite the path."""
    if not isinstance(params, dict):
        return  # a list body (OKX batch orders) is JSON in the body: it names no field of the URL or the auth
    for key, value in params.items():
        lowered = str(key).lower()
        if lowered in RESERVED:
            if lowered == "recvwindow" and _within(value, max_recv_window_ms):
                continue  # a caller may ask for a shorter window, never a longer one
            raise Refused(Reason.PARAMETER_FORBIDDEN, f"parameter {key!r} is set by the Sign Center, not the caller")
    for name, allowed in PATH_PARAMS.get(exchange, {}).items():
        if name in params and not (isinstance(params[name], str) and allowed.fullmatch(params[name])):
            raise Refused(Reason.PATH_REWRITTEN, f"parameter {name!r} must match {allowed.pattern}")
    for name in _PLACEHOLDER.findall(path):
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int) or not _SEGMENT.fullmatch(str(value)) \
                or ".." in str(value):
            raise Refused(Reason.PATH_REWRITTEN, f"parameter {name!r} must be one plain path segment "
                                                 "(letters, digits, _ . : @ + = , ~ -; no '..')")


def _within(value: Any, cap: int) -> bool:
    try:
        return 0 < float(value) <= cap
    except (TypeError, ValueError):
        return False


class Produced:
    """Checks signed requests against a reference per endpoint, built once with the same ``sign()``."""

    def __init__(self) -> None:
        self._references: dict[tuple[str, str, str, str], tuple[str, re.Pattern[str], frozenset[str]]] = {}

    def check(self, exchange: str, api_name: str, method: str, path: str, params: Any, request: dict[str, Any],
              reference: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """``reference(params)`` signs the same endpoint with other parameters (the caller's instance)."""
        key = (exchange, api_name, method, path)
        ref = self._references.get(key)
        if ref is None:
            ref = self._references[key] = _reference(path, reference)
        origin, pattern, added = ref
        raw = str(request.get("url"))
        url = urlsplit(raw)
        if str(request.get("method", "")).upper() != method.upper():
            raise Refused(Reason.PATH_REWRITTEN, f"sign() produced a {request.get('method')} request, not {method}")
        if f"{url.scheme}://{url.netloc}" != origin or "#" in raw or not pattern.fullmatch(url.path):
            raise Refused(Reason.PATH_REWRITTEN, f"sign() produced a request for another path than {method} {path}")
        if url.query:
            names = {name for name, _ in parse_qsl(url.query, keep_blank_values=True)}
            given = set(params) if isinstance(params, dict) else set()
            unexpected = names - given - added
            if unexpected:
                raise Refused(Reason.PATH_REWRITTEN, f"sign() produced a query naming {sorted(unexpected)[0]!r}, "
                                                     "which is no parameter of the request")


def _reference(path: str, sign: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[str, re.Pattern[str],
                                                                                       frozenset[str]]:
    """(scheme://host, the path as a pattern, the query fields sign() adds itself) for one endpoint."""
    names = _PLACEHOLDER.findall(path)
    request = sign({name: f"{_MARK}{i}" for i, name in enumerate(names)})
    url = urlsplit(str(request["url"]))
    segment = "[^/?#]+"
    pattern = re.escape(url.path)
    for i in range(len(names)):
        pattern = pattern.replace(re.escape(f"{_MARK}{i}"), segment)
    pattern = re.sub(r"(?<=/)v[0-9]+(?=/)", "v[0-9]+", pattern)  # KuCoin's per-call version segment
    added = frozenset(name for name, _ in parse_qsl(url.query, keep_blank_values=True)) - set(names)
    return f"{url.scheme}://{url.netloc}", re.compile(pattern), added
