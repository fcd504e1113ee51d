"""Key-encryption keys (KEKs): they wrap each credential's data key and never leave their provider.

Two providers with one interface: a key file (default; created 0600 on first start) and a PKCS#11 token
(``pkcs11kek.py``; SoftHSM2 in tests). Versions: new data keys are wrapped with the current version;
``min_version`` retires older ones (a data key still wrapped by one is refused until rewrapped).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import CexlinkError

NONCE = 12


class KekError(CexlinkError):
    pass


class KekRetired(KekError):
    """The data key is wrapped by a KEK version below the minimum: rotate, then retry."""


class KekProvider(Protocol):
    name: str

    @property
    def current(self) -> int: ...

    @property
    def min_version(self) -> int: ...

    def wrap(self, dek: bytes) -> tuple[int, bytes]:
        """Wrap with the current version; return (version, wrapped)."""
        ...

    def unwrap(self, version: int, wrapped: bytes) -> bytes: ...

    def rotate(self) -> int:
        """Create a new version and make it current; return it."""
        ...

    def retire_below(self, version: int) -> None: ...


def _aad(version: int) -> bytes:
    return f"cexlink-kek:v{version}".encode()


class KeyFileKek:
    """AES-256-GCM KEKs kept in a JSON file readable by the Sign Center's user only."""

    name = "keyfile"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] = {}  # the file's JSON: format, current, min_version, keys
        with self._locked():
            if not path.exists():
                self._data = {"format": 1, "current": 1, "min_version": 1,
                              "keys": {"1": base64.b64encode(AESGCM.generate_key(256)).decode()}}
                self._write(create=True)
        self._load()

    def _load(self) -> None:
        st = self.path.stat()
        if st.st_mode & 0o077:
            raise KekError(f"{self.path} must be readable by its owner only (chmod 600)")
        self._stamp = (st.st_ino, st.st_mtime_ns)  # _write replaces the file: a new inode every time
        self._data = json.loads(self.path.read_text())
        self._keys = {int(v): AESGCM(base64.b64decode(k)) for v, k in self._data["keys"].items()}

    def _fresh(self) -> None:
        """Reload when another process of this Sign Center (a worker, a replica) rotated or retired."""
        st = self.path.stat()
        if (st.st_ino, st.st_mtime_ns) != self._stamp:
            self._load()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Read-modify-write of the key file by one process at a time (a record lock, freed if it dies)."""
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, create: bool = False) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fd = os.open(tmp, flags, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self._data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    @property
    def current(self) -> int:
        return int(self._data["current"])

    @property
    def min_version(self) -> int:
        return int(self._data["min_version"])

    def wrap(self, dek: bytes) -> tuple[int, bytes]:
        self._fresh()
        version = self.current
        nonce = os.urandom(NONCE)
        return version, nonce + self._keys[version].encrypt(nonce, dek, _aad(version))

    def unwrap(self, version: int, wrapped: bytes) -> bytes:
        self._fresh()
        if version < self.min_version:
            raise KekRetired(f"KEK version {version} is retired (minimum {self.min_version})")
        key = self._keys.get(version)
        if key is None:
            raise KekError(f"KEK version {version} is not in {self.path.name}")
        return key.decrypt(wrapped[:NONCE], wrapped[NONCE:], _aad(version))

    def rotate(self) -> int:
        with self._locked():
            self._load()
            version = max(self._keys) + 1
            raw = AESGCM.generate_key(256)
            self._keys[version] = AESGCM(raw)  # usable before it is published as current (wrap may run meanwhile)
            self._data["keys"][str(version)] = base64.b64encode(raw).decode()
            self._data["current"] = version
            self._write()
        return version

    def retire_below(self, version: int) -> None:
        with self._locked():
            self._load()
            if version > self.current:
                raise KekError(f"cannot retire the current KEK version {self.current}")
            self._data["min_version"] = version
            # Retired key material is destroyed: what it wrapped can no longer be opened.
            for v in [v for v in self._keys if v < version]:
                del self._keys[v]
                self._data["keys"].pop(str(v), None)
            self._write()
