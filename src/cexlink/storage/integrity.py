"""The one place that turns database integrity errors into storage errors, on SQLite and PostgreSQL alike.

PostgreSQL names the violated constraint (``diag.constraint_name``); SQLite names the columns
("UNIQUE constraint failed: exchange_accounts.exchange, exchange_accounts.exchange_uid"). Both are resolved
against the ORM metadata, so a new unique constraint needs only a line in ``FIELDS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cexlink.storage.errors import Conflict, StorageError
from cexlink.storage.tables import Base

# constraint name -> (field a person would fix, what they are told)
FIELDS: dict[str, tuple[str, str]] = {
    "uq_exchange_accounts_exchange_exchange_uid": ("exchange_uid", "this account is already connected"),
    "uq_exchange_accounts_key_fingerprint": ("key_fingerprint", "this API key is already used by another connection"),
    "uq_exchange_accounts_credential_id": ("credential_id", "this credential is already used by another connection"),
    "uq_users_name": ("name", "a user with this name already exists"),
    "uq_api_tokens_token_hash": ("token_hash", "token collision; issue another"),
    "uq_orders_account_id_exchange_order_id": ("exchange_order_id", "this order is already recorded"),
    "uq_audit_anchors_log_seq": ("seq", "this checkpoint head is already stored"),
}


def _unique_by_columns() -> dict[tuple[str, frozenset[str]], str]:
    out: dict[tuple[str, frozenset[str]], str] = {}
    for table in Base.metadata.tables.values():
        for c in table.constraints:
            if isinstance(c, UniqueConstraint) and isinstance(c.name, str):
                out[(table.name, frozenset(col.name for col in c.columns))] = c.name
    return out


_BY_COLUMNS = _unique_by_columns()
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")


def constraint_of(err: IntegrityError) -> str | None:
    """The name of the unique constraint an IntegrityError broke, or None if it was another kind."""
    diag = getattr(err.orig, "diag", None)
    if diag is not None:  # psycopg
        return diag.constraint_name if getattr(err.orig, "sqlstate", None) == "23505" else None
    m = _SQLITE_UNIQUE.search(str(err.orig))
    if not m:
        return None
    cols = [part.strip().split(".", 1) for part in m.group(1).split(",")]
    return _BY_COLUMNS.get((cols[0][0], frozenset(c[-1] for c in cols)))


def translate(err: IntegrityError) -> StorageError:
    name = constraint_of(err)
    if name is not None:
        field, message = FIELDS.get(name, (name, "already in use"))
        return Conflict(field, message)
    # Foreign key, check and not-null failures are programming errors here: say what kind, never the values.
    return StorageError(f"integrity error: {type(err.orig).__name__}")


@contextmanager
def translated(session: Session) -> Iterator[None]:
    """Run a write; on an integrity error roll the session back (SQLAlchemy requires it before reuse) and raise
    the storage error instead. The rollback ends the caller's whole transaction, as the database already has."""
    try:
        yield
    except IntegrityError as err:
        session.rollback()
        raise translate(err) from err
