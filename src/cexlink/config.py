"""Settings of the API server, from the environment (``CEXLINK_*``). Never secrets: the Sign Center holds those.

The HTTP token for a remote Sign Center is read from a file named here, not from the environment itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _pairs(raw: str, name: str) -> dict[str, str]:
    out = {}
    for item in _list(raw):
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise ConfigError(f"{name}: use EXCHANGE=URL[,EXCHANGE=URL]")
        out[key.strip()] = value.strip()
    return out


def _bool(raw: str, name: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}: use true or false")


@dataclass
class Settings:
    database_url: str = "sqlite:///var/cexlink.db"
    signer_socket: Path | None = Path("var/signer.sock")
    signer_url: str | None = None
    signer_token_file: Path | None = None
    # The addresses exchanges see the platform's requests come from: what users must whitelist.
    egress_ips: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    # Probe each egress IP by binding the source address (true where they are local addresses, as with the
    # sandbox; behind NAT the exchange-reported whitelist is compared instead).
    egress_bind: bool = True
    exchange_urls: dict[str, str] = field(default_factory=dict)  # exchange -> base URL (the sandbox); else real
    # Keep each exchange's documented request rate (ccxt's throttle, shared by all probes of one exchange and
    # egress IP). Off only against the sandbox, whose own limits are what tests and benchmarks exercise.
    rate_limit: bool = True
    allow_unrestricted_ip_keys: bool = False  # keys without an IP whitelist: refused, or accepted with a warning
    allow_sub_accounts: bool = True
    incident_accounts: int = 5  # this many accounts on one exchange failing alike within the window ...
    incident_window_s: float = 300.0  # ... is an exchange incident, not bad keys

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        s = cls()
        if "CEXLINK_DATABASE_URL" in env:
            s.database_url = env["CEXLINK_DATABASE_URL"]
        if "CEXLINK_SIGNER_SOCKET" in env:
            s.signer_socket = Path(env["CEXLINK_SIGNER_SOCKET"]) if env["CEXLINK_SIGNER_SOCKET"] else None
        if env.get("CEXLINK_SIGNER_URL"):
            s.signer_url, s.signer_socket = env["CEXLINK_SIGNER_URL"], None
            token = env.get("CEXLINK_SIGNER_TOKEN_FILE")
            if not token:
                raise ConfigError("CEXLINK_SIGNER_TOKEN_FILE: required with CEXLINK_SIGNER_URL")
            s.signer_token_file = Path(token)
        if "CEXLINK_EGRESS_IPS" in env:
            s.egress_ips = _list(env["CEXLINK_EGRESS_IPS"])
        if "CEXLINK_EGRESS_BIND" in env:
            s.egress_bind = _bool(env["CEXLINK_EGRESS_BIND"], "CEXLINK_EGRESS_BIND")
        if "CEXLINK_EXCHANGE_URLS" in env:
            s.exchange_urls = _pairs(env["CEXLINK_EXCHANGE_URLS"], "CEXLINK_EXCHANGE_URLS")
        if "CEXLINK_RATE_LIMIT" in env:
            s.rate_limit = _bool(env["CEXLINK_RATE_LIMIT"], "CEXLINK_RATE_LIMIT")
        if "CEXLINK_ALLOW_UNRESTRICTED_IP_KEYS" in env:
            s.allow_unrestricted_ip_keys = _bool(env["CEXLINK_ALLOW_UNRESTRICTED_IP_KEYS"],
                                                 "CEXLINK_ALLOW_UNRESTRICTED_IP_KEYS")
        if "CEXLINK_ALLOW_SUB_ACCOUNTS" in env:
            s.allow_sub_accounts = _bool(env["CEXLINK_ALLOW_SUB_ACCOUNTS"], "CEXLINK_ALLOW_SUB_ACCOUNTS")
        if not s.egress_ips:
            raise ConfigError("CEXLINK_EGRESS_IPS: at least one address")
        return s
