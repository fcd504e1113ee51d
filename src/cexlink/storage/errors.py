"""Errors of the storage layer (a branch of the one tree in ``cexlink.errors``).

    CexlinkError
    └── StorageError        the app database refused or failed an operation
        ├── NotFound        no such row *for this owner* (another owner's row looks exactly like a missing one)
        └── Conflict        a uniqueness rule was broken; ``field`` names the column a person would fix
"""

from __future__ import annotations

from cexlink.errors import CexlinkError


class StorageError(CexlinkError):
    pass


class NotFound(StorageError):
    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} {ident} not found")
        self.what = what
        self.ident = ident


class Conflict(StorageError):
    def __init__(self, field: str, message: str | None = None) -> None:
        super().__init__(message or f"{field}: already in use")
        self.field = field
        self.message = message or "already in use"
