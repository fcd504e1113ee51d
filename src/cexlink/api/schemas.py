"""Request bodies of the REST API (separate from domain and tables). Secrets are plain text in transit to the
Sign Center only; they are never echoed back, and validation errors name fields, never values."""

from __future__ import annotations

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
