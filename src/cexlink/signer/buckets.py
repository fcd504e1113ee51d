"""Per-credential token buckets: the policy's rate limit.

``LocalBuckets`` serve one Sign Center process. ``SharedBuckets`` serve the worker processes of one Sign
Center (``--workers``): the buckets live in memory mapped before the workers are forked, under a POSIX record
lock, so a credential's rate is one limit however its requests are spread over the workers. A record lock
is released by the kernel when its holder dies: a worker killed mid-update cannot wedge the others.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class Buckets(Protocol):
    rate: float  # tokens per second per credential

    def take(self, credential_id: str, now: float) -> bool:
        """Take one token from the credential's bucket; False when it is empty."""
        ...


def _refill(tokens: float, updated: float, now: float, rate: float, burst: float) -> tuple[bool, float]:
    """(allowed, tokens left) after refilling at ``rate`` up to ``burst`` and taking one token."""
    tokens = min(burst, tokens + (now - updated) * rate)
    if tokens >= 1:
        return True, tokens - 1
    return False, tokens


@dataclass
class _Bucket:
    tokens: float
    updated: float


class LocalBuckets:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, credential_id: str, now: float) -> bool:
        bucket = self._buckets.get(credential_id)
        if bucket is None:
            bucket = self._buckets[credential_id] = _Bucket(self.burst, now)
        allowed, bucket.tokens = _refill(bucket.tokens, bucket.updated, now, self.rate, self.burst)
        bucket.updated = now
        return allowed


_SLOT = struct.Struct("Qdd")  # tag (0 = free), tokens, updated
_PROBES = 8


class SharedBuckets:
    """Open addressing over ``slots`` fixed slots keyed by a 64-bit tag of the credential id. A slot whose
    bucket would be full again by now is free to reuse (forgetting it changes nothing); only when every probe
    of a credential holds a live bucket of others is the stalest one taken over."""

    def __init__(self, rate: float, burst: float, lock_path: Path, slots: int = 1 << 18) -> None:
        if slots & (slots - 1):
            raise ValueError("slots must be a power of two")
        self.rate, self.burst = rate, burst
        self._mask = slots - 1
        self._memory = mmap.mmap(-1, slots * _SLOT.size)  # MAP_SHARED: the forked workers see one table
        self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        self._refilled_after = burst / rate if rate > 0 else float("inf")

    @staticmethod
    def _tag(credential_id: str) -> int:
        # str hashes are seeded per interpreter; workers forked from one parent share the seed (and the table
        # lives no longer than they do).
        return (hash(credential_id) & 0xFFFF_FFFF_FFFF_FFFF) or 1

    def _slot(self, tag: int, now: float) -> int:
        """Offset of the tag's slot, taken for it if it has none."""
        stalest, stalest_at = 0, float("inf")
        for probe in range(_PROBES):
            offset = ((tag + probe) & self._mask) * _SLOT.size
            held, _, updated = _SLOT.unpack_from(self._memory, offset)
            if held == tag:
                return offset
            if held == 0 or now - updated >= self._refilled_after:
                stalest, stalest_at = offset, -1.0
            elif updated < stalest_at:
                stalest, stalest_at = offset, updated
        _SLOT.pack_into(self._memory, stalest, tag, self.burst, now)
        return stalest

    def take(self, credential_id: str, now: float) -> bool:
        tag = self._tag(credential_id)
        fcntl.lockf(self._lock_fd, fcntl.LOCK_EX)
        try:
            offset = self._slot(tag, now)
            _, tokens, updated = _SLOT.unpack_from(self._memory, offset)
            allowed, tokens = _refill(tokens, updated, now, self.rate, self.burst)
            _SLOT.pack_into(self._memory, offset, tag, tokens, now)
            return allowed
        finally:
            fcntl.lockf(self._lock_fd, fcntl.LOCK_UN)
