"""Pointing stock clients at the sandbox: ccxt (sync and async), with an optional source address.

A test acts as another IP by binding its client to another 127.0.0.0/8 address; the sandbox checks the
real source address of the connection against the key's whitelist.
"""

from __future__ import annotations

from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from ..net import SourceAddressAdapter, bind_session
from .app import DIALECTS

__all__ = ["SourceAddressAdapter", "bind_session", "ccxt_client", "point_ccxt"]

_BY_NAME = {d.name: d for d in DIALECTS}


def point_ccxt(exchange: Any, base_url: str) -> Any:
    """Rewrite a ccxt instance's API URLs to the sandbox and set the options that keep it to spot."""
    dialect = _BY_NAME[exchange.id]
    exchange.urls["api"] = dialect.ccxt_urls(exchange.urls["api"], base_url.rstrip("/"))
    for name, value in dialect.ccxt_options.items():
        exchange.options[name] = value
    return exchange


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
