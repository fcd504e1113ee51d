"""The key that signs the audit checkpoints: an Ed25519 key in its own PEM file, outside the Sign Center's data
directory (whoever can write that directory must not be able to sign checkpoints), and its public half for
``audit verify``."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import InputError

__all__ = ["default_checkpoint_key_path", "load_public_key", "open_checkpoint_key", "public_key_text"]


def default_checkpoint_key_path(data_dir: Path) -> Path:
    """Beside the data directory, not in it: ``<data-dir>-checkpoint.key``."""
    return data_dir.parent / f"{data_dir.name}-checkpoint.key"


def _inside(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def open_checkpoint_key(path: Path, data_dir: Path | None, create: bool = True) -> Ed25519PrivateKey:
    """The Ed25519 checkpoint key in ``path`` (PKCS#8 PEM, mode 0600), made there first if missing and
    ``create``. Refused inside ``data_dir``: whoever can write the log could then sign its own checkpoints."""
    if data_dir is not None and _inside(path, data_dir):
        raise InputError("checkpoint_key", f"{path} is inside the data directory {data_dir}; keep it elsewhere "
                                           "(whoever can write the data directory could sign checkpoints with it)")
    if create and not path.exists():
        _create_key_file(path)
    try:
        mode = path.stat().st_mode
        pem = path.read_bytes()
    except OSError as e:
        raise InputError("checkpoint_key", f"cannot read {path}: {e.strerror or e}") from None
    if mode & 0o077:
        raise InputError("checkpoint_key", f"{path} must be readable by its owner only (chmod 600)")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("checkpoint_key", f"{path} does not hold an Ed25519 private key (PEM)")
    return key


def _create_key_file(path: Path) -> None:
    """Written whole under a private name, then linked into place: two processes that start together both
    end up reading the one key that got there first, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def public_key_text(key: Ed25519PublicKey) -> str:
    """The public key as one line: the base64 of its 32 bytes (what ``load_public_key`` reads back)."""
    return base64.b64encode(key.public_bytes_raw()).decode()


def load_public_key(value: str) -> Ed25519PublicKey:
    """A public key given as a file or as text: PEM (SubjectPublicKeyInfo) or the base64 of its 32 bytes."""
    text = value
    try:
        if Path(value).is_file():
            text = Path(value).read_text()
    except (OSError, ValueError):
        pass  # not a usable path: the key itself
    text = text.strip()
    key: Any = None
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, UnsupportedAlgorithm, binascii.Error):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("public_key", "is not an Ed25519 public key (PEM or the base64 of its 32 bytes), nor a "
                                       "file holding one")
    return key


# ---- writing ----
