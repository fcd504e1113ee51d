"""An append-only file written through a shared memory map, for the audit log's hot path.

Why a map: an append is then a copy into the page cache, with no system call. Under load that saves the
``write(2)`` on every signature, and a cold append is about half the cost (measured in the session notes).
What a copy into a ``MAP_SHARED`` map leaves behind is what ``write(2)`` leaves: the bytes are in the page
cache at once, so a process crash keeps them, and ``fsync`` (``sync()``) makes them durable.

How it stays safe:
- The space ahead is *reserved* with ``posix_fallocate`` before it is mapped, so a full disk or a file size
  limit is an ``OSError`` at growth, while nothing is copied, rather than a SIGBUS on a later copy.
- The file beyond the content is NUL bytes (the reserve). ``close()`` truncates it away; after a crash, the
  next open finds the content's end as the last non-NUL byte (our content never holds a NUL: it is JSON
  lines) and truncates there.
- One writer: an exclusive ``flock`` for as long as the file is open, so a second process opening the same
  file (a second replica with the same name, or ``rotate-kek`` beside a running signer) is refused instead of
  truncating a map under the first one's feet.
"""

from __future__ import annotations

import fcntl
import mmap
import os
from pathlib import Path

DEFAULT_RESERVE = 8 << 20  # 8 MiB: about 25,000 audit records per growth
_PAGE = mmap.ALLOCATIONGRANULARITY
_SCAN = 1 << 16


class FileInUse(OSError):
    """Another open file description holds the file's write lock."""


class MappedAppendFile:
    def __init__(self, path: Path, reserve: int = DEFAULT_RESERVE) -> None:
        self.path = path
        self.reserve = max(_PAGE, reserve - reserve % _PAGE)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FileInUse(f"{path.name} is open for writing in another process") from None
        self.fd = fd
        self.end = _content_end(fd)  # the file offset where the next append goes
        if os.fstat(fd).st_size != self.end:
            os.ftruncate(fd, self.end)  # the reserve a crash left behind
        self._map: mmap.mmap | None = None
        self._base = 0  # file offset of the map's first byte
        self._limit = 0  # file offset just past the map

    def read_tail(self, size: int) -> bytes:
        """Up to ``size`` bytes that end at the content's end."""
        start = max(0, self.end - size)
        return os.pread(self.fd, self.end - start, start)

    def cut(self, end: int) -> None:
        """Drop the content after ``end`` (recovery, before the first append). The space for what follows is
        reserved first and the cut bytes become reserve (NULs): if the file cannot grow, ``OSError`` and nothing
        changed, so the next open finds the same content: a full disk does not leave a cut without its record."""
        if self._map is not None or not 0 <= end <= self.end:
            raise ValueError("cut only before the first append, inside the content")
        cut = self.end - end
        self._grow(end + max(cut, _PAGE), base=end - end % _PAGE)
        self._map[end - self._base:end + cut - self._base] = bytes(cut)  # type: ignore[index]
        self.end = end

    def append(self, data: bytes) -> None:
        """Copy ``data`` after the content. Raises ``OSError`` (nothing copied) if the space cannot be reserved."""
        end = self.end + len(data)
        if end > self._limit:
            self._grow(end)
        base = self._base
        self._map[self.end - base:end - base] = data  # type: ignore[index]
        self.end = end

    def _grow(self, end: int, base: int | None = None) -> None:
        base = self.end - self.end % _PAGE if base is None else base
        length = max(self.reserve, end - base + _PAGE - (end - base) % _PAGE)
        os.posix_fallocate(self.fd, base, length)  # ENOSPC / EFBIG here, not SIGBUS later
        new = mmap.mmap(self.fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=base)
        if self._map is not None:
            self._map.close()
        self._map, self._base, self._limit = new, base, base + length

    def sync(self) -> None:
        # On Linux fsync writes back every dirty page of the file, those dirtied through a shared map included.
        os.fsync(self.fd)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        os.ftruncate(self.fd, self.end)
        os.close(self.fd)


def _content_end(fd: int) -> int:
    """The offset just past the last non-NUL byte: what remains of a reserve is NULs."""
    pos = os.fstat(fd).st_size
    while pos > 0:
        start = max(0, pos - _SCAN)
        kept = os.pread(fd, pos - start, start).rstrip(b"\0")
        if kept:
            return start + len(kept)
        pos = start
    return 0
