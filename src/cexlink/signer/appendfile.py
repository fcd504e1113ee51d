"""The audit log's file: appended with ``write(2)`` on an ``O_APPEND`` descriptor, one writer at a time.

A write that could not be made whole (a full disk, a file size limit) is cut back before ``OSError`` reaches
the caller, so a refused record leaves no half line behind. A second process opening the same file (a second
replica with the same name, ``rotate-kek`` beside a running signer) is refused by an exclusive ``flock``.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class FileInUse(OSError):
    """Another open file description holds the file's write lock."""


class AppendFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FileInUse(f"{path.name} is open for writing in another process") from None
        self.fd = fd
        self.end = os.fstat(fd).st_size  # where the next append goes (the lock makes it ours alone)

    def read_tail(self, size: int) -> bytes:
        """Up to ``size`` bytes that end at the file's end."""
        start = max(0, self.end - size)
        return os.pread(self.fd, self.end - start, start)

    def cut(self, end: int) -> None:
        """Drop what follows ``end`` (a torn last line, at recovery)."""
        os.ftruncate(self.fd, end)
        self.end = end

    def append(self, data: bytes) -> None:
        """Write ``data`` after the end, whole, or raise ``OSError`` with nothing of it left in the file."""
        view, done = memoryview(data), 0
        try:
            while done < len(data):
                done += os.write(self.fd, view[done:])  # a short write is followed by the one that says why
        except OSError:
            os.ftruncate(self.fd, self.end)
            raise
        self.end += done

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)
