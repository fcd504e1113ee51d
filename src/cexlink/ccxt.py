"""Drop-in ccxt exchanges that sign in the Sign Center: ``remote("binance", credential_id=…, signer=…)``.

They behave exactly like ccxt's own classes (same methods, parsing, errors), but hold no secret: every
request that needs one is signed by the Sign Center, which builds it with ccxt's own ``sign()`` on its side.
Public endpoints are signed locally (they need no credentials).

- Sync: ``sign()`` asks the Sign Center. Async: ``fetch2()`` does, because ccxt calls ``sign()``
  synchronously inside it.
- Every exchange whose signature does not bind the whole request (Binance and Bybit sign only the parameters),
  or whose signed request carries secret material in clear (OKX's passphrase header), is *forwarded*
  (exchanges/signing.py): ``sign()`` builds a marker request, and the instance's HTTP session hands it to the
  Sign Center, which signs and sends it itself and returns the exchange's response to ccxt's own response
  handling. The caller never holds a signature it could replay elsewhere.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import aiohttp
import ccxt as _ccxt
import ccxt.async_support as _ccxt_async
import requests
from requests.structures import CaseInsensitiveDict

from .errors import SignerRefused, SignerUnavailable
from .exchanges.signing import returns_signature
from .signer.wire import api_path

PLACEHOLDER = "held-by-sign-center"  # non-empty, so ccxt's credential checks pass on the caller side
FORWARD_HEADER = "X-Cexlink-Forward"
_classes: dict[tuple[str, bool], type] = {}


def _is_public(api: Any) -> bool:
    # The whole api path: many exchanges name the sub-API first and the access second (MEXC ``spot/public``).
    return "public" in api_path(api).lower()


def _context(exchange: Any) -> dict[str, Any]:
    # What the caller may tune: its recvWindow and its measured clock offset (both capped by the policy).
    return {k: exchange.options[k] for k in ("recvWindow", "timeDifference") if exchange.options.get(k) is not None}


class SignCenterRefused(_ccxt.PermissionDenied, SignerRefused):
    """The Sign Center would not sign: a ``ccxt.PermissionDenied`` for ccxt callers, and a ``SignerRefused``
    carrying the policy ``reason`` for ours, raised from the refusal it translates (nobody parses the text)."""

    def __init__(self, exchange_id: str, reason: str, message: str) -> None:
        SignerRefused.__init__(self, reason, message)
        self.exchange_id = exchange_id

    def __str__(self) -> str:  # ccxt's style: the exchange id first
        return f"{self.exchange_id} Sign Center refused: {self.reason}: {self.message}"


def _refusal(exchange_id: str, refused: SignerRefused) -> SignCenterRefused:
    return SignCenterRefused(exchange_id, refused.reason, refused.message)


def _args(exchange: Any, api: Any, method: str, path: str, params: Any) -> dict[str, Any]:
    return {"credential_id": exchange._cexlink_credential, "exchange": exchange.id, "api": api, "method": method,
            "path": path, "params": params, "context": _context(exchange)}


def _marker(base: Any, exchange: Any, path: str, api: Any, method: str, params: Any) -> dict[str, Any]:
    """A request for the forwarding session: the URL for logs and errors, the call for the Sign Center."""
    args = _args(exchange, api, method, path, copy.deepcopy(params))
    egress = getattr(exchange, "_cexlink_egress", None)
    if egress is not None:
        args["egress"] = egress  # the Sign Center sends it from this one of its egress addresses
    shown = base.sign(exchange, path, api, method, params)  # placeholder credentials: nothing secret
    return {"url": shown["url"], "method": method, "headers": {FORWARD_HEADER: json.dumps(args)}, "body": None}


def _without_signer(base: Any, exchange: Any, path: str, api: Any, method: str, params: Any,
                    rest: tuple[Any, ...]) -> dict[str, Any] | None:
    """The request built on the caller's side, if this one needs no signature from the Sign Center: public
    calls (no credentials at all), and the marker of a forwarded exchange."""
    if _is_public(api):
        return base.sign(exchange, path, api, method, params, *rest)
    if not returns_signature(exchange.id):
        return _marker(base, exchange, path, api, method, params)
    return None


def _sync_class(base: Any) -> type:
    def sign(self: Any, path: str, api: Any = "public", method: str = "GET", params: Any = None,
             *rest: Any) -> dict[str, Any]:
        params = {} if params is None else params
        local = _without_signer(base, self, path, api, method, params, rest)
        if local is not None:
            return local
        try:
            return self._cexlink_signer.sign(**_args(self, api, method, path, params))
        except SignerRefused as refused:
            raise _refusal(self.id, refused) from refused

    return type(f"Remote{base.__name__}", (base,), {"sign": sign})


def _async_class(base: Any) -> type:
    def sign(self: Any, path: str, api: Any = "public", method: str = "GET", params: Any = None,
             *rest: Any) -> dict[str, Any]:
        local = _without_signer(base, self, path, api, method, {} if params is None else params, rest)
        if local is None:
            raise _ccxt.NotSupported(f"{self.id}: remote-signed requests go through fetch2")
        return local

    async def fetch2(self: Any, path: str, api: Any = "public", method: str = "GET", params: Any = None,
                     config: Any = None) -> Any:
        params = {} if params is None else params
        config = {} if config is None else config
        if _is_public(api) or not returns_signature(self.id):
            return await base.fetch2(self, path, api, method, params, config)
        if self.enableRateLimit:
            await self.throttle(self.calculate_rate_limiter_cost(api, method, path, params, config))
        self.set_last_rest_request_timestamp()
        try:
            request = await self._cexlink_signer.sign(**_args(self, api, method, path, params))
        except SignerRefused as refused:
            raise _refusal(self.id, refused) from refused
        self.set_last_request(request)
        return await self.fetch(request["url"], request["method"], request["headers"], request["body"])

    def __del__(self: Any) -> None:
        if not getattr(self, "_cexlink_clone", False):  # a clone's session belongs to its prototype
            base.__del__(self)

    return type(f"RemoteAsync{base.__name__}", (base,), {"sign": sign, "fetch2": fetch2, "__del__": __del__})


def _forward_args(headers: Any) -> dict[str, Any] | None:
    raw = headers.pop(FORWARD_HEADER, None) if headers else None
    return json.loads(raw) if raw else None


class _ForwardingSession(requests.Session):
    """requests session of a forwarded exchange: marker requests go to the Sign Center, others out as usual."""

    def __init__(self, signer: Any) -> None:
        super().__init__()
        self.signer = signer

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        forward = _forward_args(kwargs.get("headers"))
        if forward is None:
            return super().request(method, url, *args, **kwargs)
        try:
            answer = self.signer.forward(**forward)
        except SignerRefused as refused:
            raise _refusal(forward["exchange"], refused) from refused
        except SignerUnavailable as e:
            raise requests.ConnectionError(str(e)) from None
        response = requests.Response()
        response.status_code, response.reason, response.url = answer["status"], answer["reason"], url
        response.headers = CaseInsensitiveDict(answer["headers"])
        response._content = answer["body"].encode()
        response.encoding = "utf-8"
        response.request = requests.Request(method, url).prepare()
        return response


class _AnsweredResponse:
    """What ccxt's async fetch reads from an aiohttp response, filled from a forwarded answer."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.status, self.reason, self.headers, self._body = (answer["status"], answer["reason"], answer["headers"],
                                                              answer["body"])

    async def text(self, errors: str = "strict") -> str:
        return str(self._body)

    async def __aenter__(self) -> _AnsweredResponse:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None


class _Forwarded:
    def __init__(self, signer: Any, forward: dict[str, Any]) -> None:
        self.signer, self.forward = signer, forward

    async def __aenter__(self) -> _AnsweredResponse:
        try:
            answer = await self.signer.forward(**self.forward)
        except SignerRefused as refused:
            raise _refusal(self.forward["exchange"], refused) from refused
        except SignerUnavailable as e:
            raise aiohttp.ClientConnectionError(str(e)) from None
        return _AnsweredResponse(answer)

    async def __aexit__(self, *exc: Any) -> None:
        return None


class _ForwardingAioSession:
    """aiohttp-shaped session of a forwarded async exchange (ccxt calls ``session.get/post/…`` as context
    managers); requests without the marker go through a real aiohttp session."""

    def __init__(self, signer: Any) -> None:
        self.signer = signer
        self._real: aiohttp.ClientSession | None = None
        self.closed = False
        self.headers: dict[str, str] = {}  # ccxt merges session headers into each request

    def _request(self, method: str, url: Any, **kwargs: Any) -> Any:
        forward = _forward_args(kwargs.get("headers"))
        if forward is not None:
            return _Forwarded(self.signer, forward)
        if self._real is None:
            self._real = aiohttp.ClientSession()
        return self._real.request(method, url, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name in ("get", "post", "put", "delete", "patch"):
            return lambda url, **kwargs: self._request(name.upper(), url, **kwargs)
        raise AttributeError(name)

    async def close(self) -> None:
        self.closed = True
        if self._real is not None:
            await self._real.close()


def remote(exchange_id: str, credential_id: str, signer: Any, asynchronous: bool = False,
           config: dict[str, Any] | None = None, egress: str | None = None) -> Any:
    """A ccxt exchange (``ccxt`` or ``ccxt.async_support`` when ``asynchronous``) signing through ``signer``
    (a ``SignerClient``/``AsyncSignerClient``, or a ``SignCenter`` in the same process for tests). ``egress``
    names the Sign Center's source address for the requests it sends (one of its ``--egress-ip``)."""
    key = (exchange_id, asynchronous)
    if key not in _classes:
        base = getattr(_ccxt_async if asynchronous else _ccxt, exchange_id)
        _classes[key] = (_async_class if asynchronous else _sync_class)(base)
    cfg: dict[str, Any] = {**(config or {}), "apiKey": PLACEHOLDER, "secret": PLACEHOLDER}
    exchange = _classes[key](cfg)
    if exchange.requiredCredentials.get("password"):
        exchange.password = PLACEHOLDER
    if exchange.requiredCredentials.get("uid"):
        exchange.uid = PLACEHOLDER
    exchange._cexlink_signer = signer
    exchange._cexlink_credential = credential_id
    exchange._cexlink_egress = egress
    if not returns_signature(exchange_id):
        exchange.session = _ForwardingAioSession(signer) if asynchronous else _ForwardingSession(signer)
        exchange.own_session = True
    return exchange
