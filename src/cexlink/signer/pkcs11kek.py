"""PKCS#11 KEK provider: KEK versions are AES-256 keys generated inside a token (an HSM; SoftHSM2 in tests).

Mechanism: CKM_AES_GCM (C_Encrypt / C_Decrypt in the token) with a random 12-byte IV, a 128-bit tag and the
version in the associated data; wrapped = IV || ciphertext || tag, the same layout as ``KeyFileKek``. Why GCM
and not C_WrapKey with CKM_AES_KEY_WRAP_PAD or AES-CBC-PAD:
- the data key is already bytes in the Sign Center (keystore.py generates it), so C_WrapKey would first need
  it imported as a token object: two more calls and a transient object holding it, for no gain;
- GCM authenticates (a tampered wrapped key fails in the token) and binds the version through the AAD, so a
  wrapped key cannot be replayed under another version's label; KEY_WRAP_PAD has no AAD, CBC-PAD no integrity;
- SoftHSM2 2.6 and python-pkcs11 0.10 both support it (``GCMParams``).
Caveat: some HSMs in FIPS mode refuse caller-chosen GCM IVs; such a token would need a KEY_WRAP_PAD variant.

State lives in the token only, so every process sees the same: version N is the secret key labelled
``<prefix>-vN``; ``current`` is the highest N present, ``min_version`` the lowest. ``retire_below`` destroys
the key objects below (lowest first, so an interrupted retire leaves a consistent state). Two processes that
rotate at once may both create ``-vN``: duplicates are harmless, because wrap picks one deterministically (the
smallest CKA_ID) and unwrap tries each one (GCM tells the right key).

Concurrency: one logged-in session per instance, used under a lock (PKCS#11 sessions are not thread-safe);
reopened after a fork or when the token drops it. The PIN is kept only to log in again; it is never logged
nor put in an exception message (library errors are re-raised by class name, without their chain).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import (
    DeviceRemoved,
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    GeneralError,
    PKCS11Error,
    SessionClosed,
    SessionHandleInvalid,
    TokenNotPresent,
    UserAlreadyLoggedIn,
)

from .kek import NONCE, KekError, KekRetired, _aad

PIN_ENV = "CEXLINK_PKCS11_PIN"
TAG_BITS = 128
T = TypeVar("T")


class WrappedKeyInvalid(KekError, ValueError):
    """The wrapped data key does not open under its KEK version (tampered, truncated or foreign).

    A ValueError too, so ``keystore.open_sealed`` reports it as a broken seal, as it does ``InvalidTag``."""


def load_pin(pin_file: Path | str | None = None, env: str = PIN_ENV) -> str:
    """The user PIN from a file (owner-readable only; first line) or else from the environment variable ``env``."""
    if pin_file is not None:
        path = Path(pin_file)
        try:
            mode = path.stat().st_mode
        except OSError:
            raise KekError(f"PKCS#11 PIN file {path} cannot be read") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KekError(f"PKCS#11 PIN file {path} must be readable by its owner only (chmod 600)")
        lines = path.read_text().splitlines()
        pin = lines[0].strip() if lines else ""
    else:
        pin = os.environ.get(env, "")
    if not pin:
        raise KekError(f"no PKCS#11 user PIN: set {env} or give a PIN file")
    return pin


_RECONNECT = (SessionHandleInvalid, SessionClosed, DeviceRemoved, TokenNotPresent)

# PKCS#11 login state belongs to the process, not the session: C_Login on a second session fails with
# USER_ALREADY_LOGGED_IN, and C_Logout (python-pkcs11 calls it when a session opened with a PIN closes) logs
# every session out. So each process keeps one anchor session per token, opened with the PIN and never closed;
# the providers' own sessions are opened without a PIN and ride on it.
_logins_lock = threading.Lock()
_logins: dict[tuple[str, str, int], tuple[Any, bytes]] = {}  # (lib, token, pid) -> (anchor session, PIN digest)


def _digest(pin: str) -> bytes:
    return hashlib.sha256(b"cexlink-pkcs11-pin:" + pin.encode()).digest()


def _login(lib_path: str, token: Any, pin: str) -> None:
    key = (lib_path, token.label, os.getpid())
    with _logins_lock:
        held = _logins.get(key)
        if held is not None:
            # Another provider in this process logged in already; a caller with a different PIN gets no free ride.
            if not hmac.compare_digest(held[1], _digest(pin)):
                raise KekError(f"PKCS#11 login to token {token.label!r} failed: PinIncorrect")
            return
        try:
            anchor = token.open(user_pin=pin)
        except UserAlreadyLoggedIn:
            anchor = None  # logged in by code outside this module; its session keeps the login
        except PKCS11Error as e:
            raise KekError(f"PKCS#11 login to token {token.label!r} failed: {type(e).__name__}") from None
        _logins[key] = (anchor, _digest(pin))


_lib_pids: dict[str, int] = {}


def _library(lib_path: str) -> Any:
    """The loaded module, initialised once per process (a forked child must C_Initialize again)."""
    with _logins_lock:
        lib = pkcs11.lib(lib_path)
        pid = os.getpid()
        if _lib_pids.setdefault(lib_path, pid) != pid:
            lib.reinitialize()
            _lib_pids[lib_path] = pid
        return lib


def _forget_login(lib_path: str, token_label: str) -> None:
    with _logins_lock:
        _logins.pop((lib_path, token_label, os.getpid()), None)


class Pkcs11Kek:
    """KEK versions inside a PKCS#11 token; implements ``kek.KekProvider``."""

    name = "pkcs11"

    def __init__(self, lib_path: str, token_label: str, user_pin: str, key_label_prefix: str = "cexlink-kek") -> None:
        self.lib_path = lib_path
        self.token_label = token_label
        self.prefix = key_label_prefix
        self._pin = user_pin
        self._lock = threading.RLock()
        self._session: Any = None
        self._pid = os.getpid()
        try:
            self._token = _library(lib_path).get_token(token_label=token_label)
            mechanisms = self._token.slot.get_mechanisms()
        except PKCS11Error as e:
            raise KekError(f"PKCS#11 token {token_label!r} not usable in {lib_path}: {type(e).__name__}") from None
        if not {Mechanism.AES_KEY_GEN, Mechanism.AES_GCM} <= mechanisms:
            raise KekError(f"PKCS#11 token {token_label!r} lacks AES key generation or AES-GCM")
        if not self._versions():  # first start: the token makes version 1
            self._call("generate", lambda s: self._generate(s, 1))

    @classmethod
    def from_config(cls, lib_path: str, token_label: str, pin_file: Path | str | None = None,
                    pin_env: str = PIN_ENV, key_label_prefix: str = "cexlink-kek") -> Pkcs11Kek:
        return cls(lib_path, token_label, load_pin(pin_file, pin_env), key_label_prefix)

    def __repr__(self) -> str:  # no PIN here
        return f"Pkcs11Kek(token={self.token_label!r}, prefix={self.prefix!r})"

    # ---- session handling ----

    def _open(self) -> Any:
        _login(self.lib_path, self._token, self._pin)
        try:
            return self._token.open(rw=True)  # no PIN: the process-wide login covers it, and closing never logs out
        except PKCS11Error as e:
            raise KekError(f"cannot open a session on PKCS#11 token {self.token_label!r}: {type(e).__name__}") from None

    @contextmanager
    def _locked_session(self) -> Iterator[Any]:
        with self._lock:
            if self._pid != os.getpid():  # forked child: the parent's sessions are not ours
                self._token = _library(self.lib_path).get_token(token_label=self.token_label)
                self._session, self._pid = None, os.getpid()
            if self._session is None:
                self._session = self._open()
            yield self._session

    def _call(self, what: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn(session)`` under the lock; reopen once if the token dropped the session."""
        for attempt in (0, 1):
            try:
                with self._locked_session() as session:
                    return fn(session)
            except _RECONNECT as e:
                with self._lock:
                    self._session = None
                _forget_login(self.lib_path, self.token_label)
                if attempt:
                    raise KekError(f"PKCS#11 {what} failed: {type(e).__name__}") from None
            except KekError:
                raise
            except PKCS11Error as e:
                raise KekError(f"PKCS#11 {what} failed: {type(e).__name__}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            if self._session is not None and self._pid == os.getpid():
                try:
                    self._session.close()
                except PKCS11Error:
                    pass
            self._session = None

    # ---- key objects ----

    def _label(self, version: int) -> str:
        return f"{self.prefix}-v{version}"

    def _keys(self, session: Any, version: int) -> list[Any]:
        """The key objects of one version (more than one after a rotation race)."""
        return list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES,
                                         Attribute.LABEL: self._label(version)}))

    def _scan(self, session: Any) -> list[tuple[int, Any]]:
        """(version, key object) for every KEK under this prefix."""
        head = self.prefix + "-v"
        found = []
        for key in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}):
            rest = key.label[len(head):] if key.label.startswith(head) else ""
            if rest.isdigit():
                found.append((int(rest), key))
        return found

    def _versions(self) -> set[int]:
        return self._call("key listing", lambda s: {v for v, _ in self._scan(s)})

    def _generate(self, session: Any, version: int) -> None:
        session.generate_key(
            KeyType.AES, 256, id=os.urandom(16), label=self._label(version), store=True,
            capabilities=pkcs11.MechanismFlag.ENCRYPT | pkcs11.MechanismFlag.DECRYPT,
            template={Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                      Attribute.EXTRACTABLE: False, Attribute.MODIFIABLE: False,
                      Attribute.WRAP: False, Attribute.UNWRAP: False, Attribute.SIGN: False,
                      Attribute.VERIFY: False, Attribute.DERIVE: False})

    # ---- KekProvider ----

    def _present_versions(self) -> set[int]:
        versions = self._versions()
        if not versions:
            raise KekError(f"no KEK versions with prefix {self.prefix!r} in token {self.token_label!r}")
        return versions

    @property
    def current(self) -> int:
        return max(self._present_versions())

    @property
    def min_version(self) -> int:
        return min(self._present_versions())

    def wrap(self, dek: bytes) -> tuple[int, bytes]:
        def run(session: Any) -> tuple[int, bytes]:
            keys = self._scan(session)
            if not keys:
                raise KekError(f"no KEK versions with prefix {self.prefix!r} in token {self.token_label!r}")
            version = max(v for v, _ in keys)
            key = min((k for v, k in keys if v == version), key=lambda k: k.id)  # duplicates: pick one, always the same
            nonce = os.urandom(NONCE)
            params = pkcs11.GCMParams(nonce, _aad(version), TAG_BITS)
            return version, nonce + key.encrypt(dek, mechanism=Mechanism.AES_GCM, mechanism_param=params)

        return self._call("wrap", run)

    def unwrap(self, version: int, wrapped: bytes) -> bytes:
        def run(session: Any) -> bytes:
            candidates = self._keys(session, version)
            if not candidates:
                versions = [v for v, _ in self._scan(session)]
                if versions and version < min(versions):
                    raise KekRetired(f"KEK version {version} is retired (minimum {min(versions)})")
                raise KekError(f"KEK version {version} is not in token {self.token_label!r}")
            if len(wrapped) < NONCE + TAG_BITS // 8:
                raise WrappedKeyInvalid(f"wrapped data key for KEK version {version} is too short")
            params = pkcs11.GCMParams(wrapped[:NONCE], _aad(version), TAG_BITS)
            for key in candidates:
                try:
                    return bytes(key.decrypt(wrapped[NONCE:], mechanism=Mechanism.AES_GCM, mechanism_param=params))
                except (EncryptedDataInvalid, EncryptedDataLenRange, GeneralError):
                    continue  # a wrong tag: SoftHSM2 says CKR_GENERAL_ERROR, other tokens ENCRYPTED_DATA_INVALID
            raise WrappedKeyInvalid(f"wrapped data key does not open under KEK version {version}")

        return self._call("unwrap", run)

    def rotate(self) -> int:
        def run(session: Any) -> int:
            version = max((v for v, _ in self._scan(session)), default=0) + 1
            self._generate(session, version)
            return version

        return self._call("rotate", run)

    def retire_below(self, version: int) -> None:
        def run(session: Any) -> None:
            keys = self._scan(session)
            current = max((v for v, _ in keys), default=0)
            if version > current:
                raise KekError(f"cannot retire the current KEK version {current}")
            # Destroying the objects is the retirement: what they wrapped can no longer be opened, anywhere.
            for _, key in sorted((p for p in keys if p[0] < version), key=lambda p: p[0]):
                key.destroy()

        self._call("retire", run)
