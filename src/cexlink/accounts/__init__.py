"""Exchange accounts (connections): connect, update key, refresh, delete — the service over storage + signer."""

from .service import AccountService

__all__ = ["AccountService"]
