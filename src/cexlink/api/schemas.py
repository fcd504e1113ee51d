"""Request bodies and answers of the REST API (separate from domain and tables). Secrets are plain text in transit
to the Sign Center only; they are never echoed back, and validation errors name fields, never values."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class Connect(_Body):
    exchange: str = Field(min_length=1, max_length=32, description="ccxt id, e.g. binance, okx, bybit")
    name: str = Field(min_length=1, max_length=100)
    api_key: str = Field(min_length=1, max_length=1024)
    secret: str = Field(min_length=1, max_length=8192)
    passphrase: str | None = Field(default=None, max_length=256)


class UpdateKey(_Body):
    api_key: str = Field(min_length=1, max_length=1024)
    secret: str = Field(min_length=1, max_length=8192)
    passphrase: str | None = Field(default=None, max_length=256)


class NewToken(_Body):
    label: str = Field(default="", max_length=200)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650, description="None: until revoked")
    user_id: int | None = Field(default=None, ge=1, le=2**63 - 1, description="Administrators: whose token")


# ---- answers (2xx bodies), documented in /openapi.json; errors are ``failures.ErrorBody`` ----

class _Answer(BaseModel):
    # An answer is documented, not trimmed: a field the service adds before its model names it still goes out.
    model_config = ConfigDict(extra="allow")


class ExchangeOut(_Answer):
    """A row of the capability table (``exchanges/capabilities.py``): what connecting needs and offers."""

    id: str = Field(description="ccxt id")
    name: str
    in_ccxt: bool
    connectable: bool
    passphrase: bool = Field(description="credentials need a passphrase besides key and secret")
    permissions_call: str | None
    ip_list_call: str | None
    uid_call: str | None
    subaccount_call: str | None
    ip_whitelist: bool = Field(description="a key can be bound to IP addresses")
    fast_connect: bool
    required_permissions: list[str] = Field(description="in the exchange's own words")
    forbidden_permissions: list[str]
    unrestricted_key_days: int | None
    unrestricted_rule: str
    source: str
    notes: str
    sandbox: bool
    aliases: list[str]


class Incident(_Answer):
    """An exchange-wide incident: what is known of it varies with its evidence."""

    exchange: str
    accounts: int = Field(description="accounts it concerns")
    id: int | None = None
    status: str | None = Field(default=None, description="the status the accounts would have had")
    cause: str | None = None
    message: str | None = None
    started_at: str | None = None
    ended_at: str | None = None


class ExchangesStatus(_Answer):
    incidents: list[Incident]


class EgressIps(_Answer):
    egress_ips: list[str]
    message: str


class Account(_Answer):
    """An exchange account (a connection). Never a secret: a credential id, a key fingerprint, a masked key."""

    id: int
    exchange: str
    name: str
    exchange_uid: str | None
    is_sub_account: bool
    credential_id: str
    key_fingerprint: str
    masked_key: str
    permissions: list[str] | None = Field(description="as the exchange names them")
    ip_whitelist: list[str] | None
    connected_via: str = Field(description="api_key | fast_connect")
    key_created_at: str | None
    key_expires_at: str | None
    status: str = Field(description="ok, invalid_api_key, insufficient_permissions, … (one closed set)")
    status_message: str | None
    status_remedy: str | None
    status_code: str | None = Field(description="the exchange's error code behind the status")
    last_checked_at: str | None
    balances: dict[str, dict[str, Any]] | None = Field(description="asset -> free/used/total, decimal text")
    warnings: list[str] | None
    created_at: str | None


class Refreshed(_Answer):
    refreshed: int
    statuses: dict[str, int] = Field(description="how many accounts ended in each status")


class Deleted(_Answer):
    deleted: bool
    reminder: str


class Event(_Answer):
    id: int
    time: str
    severity: str
    kind: str
    message: str
    account_id: int | None
    data: dict[str, Any] | None


class Token(_Answer):
    """What may be shown about an API token: never the token or its hash."""

    id: int
    user_id: int
    label: str
    created_at: str | None
    last_used_at: str | None
    expires_at: str | None
    revoked_at: str | None
    status: str = Field(description="active | expired | revoked")


class CreatedToken(Token):
    token: str = Field(description="shown in this answer only")
    message: str
