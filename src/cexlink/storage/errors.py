"""Errors of the storage layer: the ``StorageError`` branch of the one tree, drawn in ``cexlink.errors``.

``NotFound`` is raised for another owner's row exactly as for a missing one; ``Conflict.field`` names the column
a person would fix.
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
