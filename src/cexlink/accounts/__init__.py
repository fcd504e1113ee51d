"""Exchange accounts (connections): connect, update key, refresh, delete — the service over storage + signer."""

import typing

if typing.TYPE_CHECKING:
    from .service import AccountService

__all__ = ["AccountService"]
# Loaded on first use: the service imports ccxt (seconds), and `cexlink accounts …`, a REST client that lives in
# this package, must not pay for it on every command.
_LAZY = ("AccountService",)


def __getattr__(name: str) -> typing.Any:
    if name in _LAZY:
        from . import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
