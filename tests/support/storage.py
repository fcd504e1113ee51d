"""Helpers for the storage tests: the transaction runner's type, plausible connection fields, the clock's start."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from itertools import count

from cexlink.storage.repositories import Repos

Tx = Callable[[], AbstractContextManager[Repos]]


# Repositories are given ``Clock.datetime``; microseconds in the start show they are stored, not truncated.
START = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC).timestamp()


_seq = count(1)


def account_fields(**over: object) -> dict[str, object]:
    """Fields of a plausible connection, unique unless overridden."""
    n = next(_seq)
    fields: dict[str, object] = dict(exchange="binance", name=f"Main {n}", exchange_uid=f"uid-{n}",
                                     credential_id=f"cred-{n}", key_fingerprint=f"fp-{n:08d}",
                                     masked_key=f"vmPU…{n:04d}", permissions=["spot", "reading"],
                                     ip_whitelist=["203.0.113.7"])
    fields.update(over)
    return fields
