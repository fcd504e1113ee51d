"""Pointing stock clients at the sandbox: ccxt (sync and async), with an optional source address.

A test acts as another IP by binding its client to another 127.0.0.0/8 address; the sandbox checks the
real source address of the connection against the key's whitelist.
"""

from __future__ import annotations

from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from ..exchanges.endpoints import point_ccxt
from ..net import SourceAddressAdapter, bind_session

# point_ccxt lives with the exchange data (the API process and the Sign Center use it without the sandbox);
# re-exported here, beside ccxt_client, for users of the sandbox.
__all__ = ["SourceAddressAdapter", "bind_session", "ccxt_client", "point_ccxt"]


def ccxt_client(exchange_id: str, base_url: str, key: dict[str, Any] | None = None, source_ip: str | None = None,
                asynchronous: bool = False, **config: Any) -> Any:
    """A stock ccxt exchange talking to the sandbox; ``key`` is what the admin API returned for a new key."""
    module = ccxt_async if asynchronous else ccxt
    cfg: dict[str, Any] = {"enableRateLimit": False, **config}
    if key:
        cfg.update(apiKey=key["api_key"], secret=key["secret"])
        if key.get("passphrase"):
            cfg["password"] = key["passphrase"]
    exchange = getattr(module, exchange_id)(cfg)
    point_ccxt(exchange, base_url)
    if source_ip and not asynchronous:
        bind_session(exchange.session, source_ip)
    return exchange
