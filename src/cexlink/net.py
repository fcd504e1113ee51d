"""Leaving from a chosen source address: how the platform probes a key from each of its egress IPs (and how
tests act as another IP on loopback)."""

from __future__ import annotations

from typing import Any

import aiohttp
import requests
from requests.adapters import HTTPAdapter


class SourceAddressAdapter(HTTPAdapter):
    """A requests adapter whose connections leave from ``ip``."""

    def __init__(self, ip: str) -> None:
        self.ip = ip
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.ip, 0)
        super().init_poolmanager(*args, **kwargs)


def bind_session(session: requests.Session, ip: str) -> requests.Session:
    adapter = SourceAddressAdapter(ip)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def aiohttp_session(ip: str | None) -> aiohttp.ClientSession:
    """An aiohttp session leaving from ``ip`` (None: the default route)."""
    connector = aiohttp.TCPConnector(local_addr=(ip, 0) if ip else None, limit=256)
    return aiohttp.ClientSession(connector=connector)
