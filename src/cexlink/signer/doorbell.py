"""A doorbell between the processes of one host: a counter in a small file that each of them maps into memory.

``ring()`` (any process) adds one under a POSIX record lock; ``rung()`` is a read of eight bytes of memory, so a
process can ask before every signature whether something happened, without a system call or a query. It only
says *that* something happened: what happened is read from where it was recorded (the store).
"""

from __future__ import annotations

import fcntl
import mmap
import os
from pathlib import Path

_SIZE = 8


class Doorbell:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < _SIZE:
            os.ftruncate(self._fd, _SIZE)  # only ever grows it: a second process doing the same loses nothing
        self._memory = mmap.mmap(self._fd, _SIZE)  # MAP_SHARED: every process maps the same page

    def rung(self) -> int:
        """How often it has been rung. A read racing a ring may see a torn value; it differs from the last
        one all the same, so the reader looks (once too often, never once too few)."""
        return int.from_bytes(self._memory[:_SIZE], "little")

    def ring(self) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            self._memory[:_SIZE] = ((self.rung() + 1) & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(_SIZE, "little")
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._memory.close()
        os.close(self._fd)
