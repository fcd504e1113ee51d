"""Administrators' routes: ``POST /api/v1/admin/revoke-keys``, the hard reset (accounts/reset.py), admin token only.

Included by ``app.create_app`` (which it imports the caller dependency from, so it is imported after app.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ..accounts.reset import HardReset, ResetParams
from ..errors import AccountRefused
from .app import SIGNS, Auth
from .failures import documented

__all__ = ["RevokeKeys", "RevokeKeysResult", "revoke_keys", "router"]

router = APIRouter()


class RevokeKeys(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    created_before: int = Field(ge=1, le=2**53, description=(
        "epoch ms: every key the platform RECEIVED before this (its intake in the Sign Center), not the key's "
        "creation on the exchange; not in the future"))
    exchange: str | None = Field(default=None, min_length=1, max_length=32, description="only this exchange")
    dry_run: bool = Field(default=False, description="count per exchange and per user; change nothing")


class RevokeKeysResult(BaseModel):
    model_config = ConfigDict(extra="allow")  # a dry run's counts, or a run's

    created_before: int
    created_before_iso: str
    exchange: str | None
    accounts: int
    users: int
    deals: int
    smart_trades: int


@router.post("/api/v1/admin/revoke-keys", response_model=RevokeKeysResult, responses={**SIGNS, **documented(403)})
async def revoke_keys(body: RevokeKeys, me: Auth, request: Request) -> dict[str, Any]:
    """The hard reset (or its dry run). Killed halfway, send it again with the same body: it resumes."""
    if not me.is_admin:
        raise AccountRefused("forbidden", "The hard reset needs an administrator's token.",
                             "Ask an administrator to run it.", "authorization")
    service = request.app.state.service
    params = ResetParams.check(body.created_before, body.exchange)
    reset = HardReset(service.sessions, service.signer, service.settings.egress_ips)
    return await (reset.dry_run(params) if body.dry_run else reset.run(me.id, params))
