"""API tokens: create (shown once, stored as a SHA-256 only), list, revoke, with an optional expiry.

A user manages their own tokens; an administrator anyone's. The REST API and the CLI both call this. Nothing is
cached: every request reads the token's row, so a revoked or expired token is refused at once by every API
process sharing the database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ..errors import AccountRefused, InputError
from ..storage.repositories import Users
from ..storage.tables import ApiToken

MAX_EXPIRY_DAYS = 3650


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def token_json(row: ApiToken, now: datetime) -> dict[str, Any]:
    """What may be shown about a token: never the token or its hash."""
    expires = row.expires_at if row.expires_at is None or row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    state = "revoked" if row.revoked_at is not None else "expired" if expires is not None and expires <= now \
        else "active"
    return {"id": row.id, "user_id": row.user_id, "label": row.label, "created_at": _iso(row.created_at),
            "last_used_at": _iso(row.last_used_at), "expires_at": _iso(expires), "revoked_at": _iso(row.revoked_at),
            "status": state}


def _scope(caller_id: int, is_admin: bool, user_id: int | None) -> int | None:
    """Whose tokens the caller may touch: their own; an administrator's any user's (None: everyone's)."""
    if is_admin:
        return user_id
    if user_id is not None and user_id != caller_id:
        raise AccountRefused("forbidden", "Only an administrator can manage another user's tokens.",
                             "Use an administrator's token, or leave user_id out to manage your own.", "user_id")
    return caller_id


def list_tokens(db: Session, caller_id: int, is_admin: bool, user_id: int | None = None) -> list[dict[str, Any]]:
    """The caller's tokens; an administrator sees everyone's, or one user's with ``user_id``."""
    now = datetime.now(UTC)
    return [token_json(t, now) for t in Users(db).tokens(_scope(caller_id, is_admin, user_id))]


def create_token(db: Session, caller_id: int, is_admin: bool, label: str = "", expires_in_days: Any = None,
                 user_id: int | None = None) -> dict[str, Any]:
    """A new token for the caller (or, by an administrator, for ``user_id``); the token appears in this answer
    only."""
    owner = _scope(caller_id, is_admin, user_id)
    expires_at = None
    if expires_in_days is not None:
        if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int | float) \
                or not 0 < expires_in_days <= MAX_EXPIRY_DAYS:
            raise InputError("expires_in_days", f"must be a number of days above 0 and at most {MAX_EXPIRY_DAYS}")
        expires_at = datetime.now(UTC) + timedelta(days=expires_in_days)
    token, row = Users(db).issue(caller_id if owner is None else owner, label, expires_at)
    return {**token_json(row, datetime.now(UTC)), "token": token,
            "message": "Keep this token now: it is shown only once (only its hash is stored)."}


def revoke_token(db: Session, caller_id: int, is_admin: bool, token_id: int) -> dict[str, Any]:
    """Revoke one token: the caller's own, or anyone's by an administrator (another user's looks missing)."""
    row = Users(db).revoke_token(None if is_admin else caller_id, token_id)
    return token_json(row, datetime.now(UTC))
