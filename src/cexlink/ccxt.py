"""Drop-in ccxt exchanges that sign in the Sign Center: ``remote("binance", credential_id=…, signer=…)``.

They behave exactly like ccxt's own classes (same methods, parsing, errors), but hold no secret: every
request that needs one is signed by the Sign Center, which builds it with ccxt's own ``sign()`` on its side.
Public endpoints are signed locally (they need no credentials). The async variant overrides ``fetch2``,
because ccxt calls ``sign()`` synchronously inside it.
"""

from __future__ import annotations

from typing import Any

import ccxt as _ccxt
import ccxt.async_support as _ccxt_async

from .errors import SignerRefused
from .signer.policy import api_name

PLACEHOLDER = "held-by-sign-center"  # non-empty, so ccxt's credential checks pass on the caller side
_classes: dict[tuple[str, bool], type] = {}


def _is_public(api: Any) -> bool:
    return "public" in api_name(api).lower()


def _context(exchange: Any) -> dict[str, Any]:
    # What the caller may tune: its recvWindow and its measured clock offset (both capped by the policy).
    return {k: exchange.options[k] for k in ("recvWindow", "timeDifference") if exchange.options.get(k) is not None}


def _as_ccxt_error(exchange: Any, refused: SignerRefused) -> Exception:
    return _ccxt.PermissionDenied(f"{exchange.id} Sign Center refused: {refused.reason}: {refused.message}")


def _sync_class(base: type) -> type:
    def sign(self: Any, path: str, api: Any = "public", method: str = "GET", params: Any = None,
             *rest: Any) -> dict[str, Any]:
        params = {} if params is None else params
        if _is_public(api):
            return base.sign(self, path, api, method, params, *rest)
        try:
            return self._cexlink_signer.sign(self._cexlink_credential, self.id, api, method, path, params,
                                             _context(self))
        except SignerRefused as refused:
            raise _as_ccxt_error(self, refused) from None

    return type(f"Remote{base.__name__}", (base,), {"sign": sign})


def _async_class(base: type) -> type:
    def sign(self: Any, path: str, api: Any = "public", method: str = "GET", params: Any = None,
             *rest: Any) -> dict[str, Any]:
        params = {} if params is None else params
        if _is_public(api):
            return base.sign(self, path, api, method, params, *rest)
        raise _ccxt.NotSupported(f"{self.id}: remote-signed requests go through fetch2")

    async def fetch2(self: Any, path: str, api: Any = "public", method: str = "GET", params: Any = None,
                     config: Any = None) -> Any:
        params = {} if params is None else params
        config = {} if config is None else config
        if _is_public(api):
            return await base.fetch2(self, path, api, method, params, config)
        if self.enableRateLimit:
            await self.throttle(self.calculate_rate_limiter_cost(api, method, path, params, config))
        self.set_last_rest_request_timestamp()
        try:
            request = await self._cexlink_signer.sign(self._cexlink_credential, self.id, api, method, path, params,
                                                      _context(self))
        except SignerRefused as refused:
            raise _as_ccxt_error(self, refused) from None
        self.set_last_request(request)
        return await self.fetch(request["url"], request["method"], request["headers"], request["body"])

    return type(f"RemoteAsync{base.__name__}", (base,), {"sign": sign, "fetch2": fetch2})


def remote(exchange_id: str, credential_id: str, signer: Any, asynchronous: bool = False,
           config: dict[str, Any] | None = None) -> Any:
    """A ccxt exchange (``ccxt`` or ``ccxt.async_support`` when ``asynchronous``) signing through ``signer``
    (a ``SignerClient``/``AsyncSignerClient``, or a ``SignCenter`` in the same process for tests)."""
    key = (exchange_id, asynchronous)
    if key not in _classes:
        base = getattr(_ccxt_async if asynchronous else _ccxt, exchange_id)
        _classes[key] = (_async_class if asynchronous else _sync_class)(base)
    cfg: dict[str, Any] = {**(config or {}), "apiKey": PLACEHOLDER, "secret": PLACEHOLDER}
    exchange = _classes[key](cfg)
    if exchange.requiredCredentials.get("password"):
        exchange.password = PLACEHOLDER
    for name, value in (("uid", PLACEHOLDER), ("privateKey", None)):
        if exchange.requiredCredentials.get(name) and value:
            setattr(exchange, name, value)
    exchange._cexlink_signer = signer
    exchange._cexlink_credential = credential_id
    return exchange
