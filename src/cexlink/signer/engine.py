"""The Sign Center itself: write-only intake, policy-checked signing with ccxt's own ``sign()``, revocation,
KEK rotation. Transport-free: server.py puts it on a socket.

Plaintext material lives only in ``_cache`` (with a time limit) and in the signer-side ccxt instances built
from it; it is never logged, returned or put in an exception message.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ccxt

from ..errors import InputError
from ..exchanges.signing import returns_signature
from . import hygiene
from .audit import AuditLog, AuditUnavailable, heads
from .buckets import Buckets, LocalBuckets
from .checkpoint_key import default_checkpoint_key_path, open_checkpoint_key
from .kek import KekProvider, KekRetired, KeyFileKek
from .keystore import Binding, SealBroken, open_sealed, rewrap, seal
from .policy import READ_TRADE, SUPPORTED, Endpoint, Policy, Reason, Refused, api_path
from .produced import Produced, check_params
from .revocations import RevocationWatch
from .store import CredentialRow, SignerStore


@dataclass
class SignerConfig:
    data_dir: Path
    store_url: str | None = None  # default: sqlite file in data_dir
    exchange_urls: dict[str, str] = field(default_factory=dict)  # exchange -> base URL (the sandbox); else real
    egress_ips: list[str] = field(default_factory=list)  # source addresses forward may be asked to send from
    cache_ttl_s: float = 300.0
    max_recv_window_ms: int = 10_000
    rate_per_credential: float = 50.0
    burst_per_credential: float = 100.0
    checkpoint_every: int = 10_000
    checkpoint_key: Path | None = None  # outside data_dir; default checkpoint_key.default_checkpoint_key_path
    checkpoint_interval_s: float = 1.0  # no record waits longer than this for a checkpoint while signing goes on
    replica: str = "0"
    allow: dict[str, frozenset[Endpoint]] = field(default_factory=lambda: dict(READ_TRADE))  # policy.allowlists

    def store(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'signer.db'}"


class SignerSecrets:
    """The Sign Center's own keys, in a 0600 file beside the KEK: the fingerprint pepper and the audit MAC key.
    None of them is in the store or the audit log. The checkpoint key is not here: it lives outside the data
    directory (``checkpoint_key.open_checkpoint_key``). A file from before that still holds one ("checkpoint") keeps
    working; that key is no longer used."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            data = {"pepper": secrets.token_bytes(32), "audit_mac": secrets.token_bytes(32)}
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump({k: base64.b64encode(v).decode() for k, v in data.items()}, fh)
        raw = {k: base64.b64decode(v) for k, v in json.loads(path.read_text()).items()}
        self.pepper: bytes = raw["pepper"]
        self.audit_mac: bytes = raw["audit_mac"]


def checkpoint_key_path(config: SignerConfig) -> Path:
    return config.checkpoint_key or default_checkpoint_key_path(config.data_dir)


def prepare(config: SignerConfig, key_file_kek: bool = True) -> None:
    """Create what a Sign Center's processes share — the data directory, its own keys, the store's tables and
    (by default) the KEK file — once, before several worker processes open them at the same time."""
    lock_down(config.data_dir)
    SignerSecrets(config.data_dir / "signer-keys.json")
    open_checkpoint_key(checkpoint_key_path(config), config.data_dir)
    SignerStore(config.store()).close()
    if key_file_kek:
        KeyFileKek(config.data_dir / "kek.json")


log = logging.getLogger("cexlink.signer")
KEY_FILES = ("kek.json", "signer-keys.json")


def lock_down(data_dir: Path) -> None:
    """The data directory 0700 and every file in it 0600, also when they were made before with wider modes (an
    operator's mkdir, a copied backup): every file in it is the Sign Center's own, and its user alone may read
    them. A key file found readable by others is tightened and reported, never named with its content: if
    someone read it, the KEK must be rotated."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if stat.S_IMODE(data_dir.stat().st_mode) != 0o700:
        os.chmod(data_dir, 0o700)
    for entry in os.scandir(data_dir):
        if not entry.is_file(follow_symlinks=False):  # sockets are bind_unix's; links and subdirectories not ours
            continue
        mode = stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
        if mode & 0o177:
            os.chmod(entry.path, 0o600)
            if entry.name in KEY_FILES and mode & 0o077:
                log.warning("%s was mode %o (readable by others); now 600: rotate the KEK if anyone read it",
                            entry.path, mode)


@dataclass
class _Entry:
    row: CredentialRow
    exchange: Any  # the signer-side ccxt instance holding the plaintext credentials
    loaded_at: float
    defaults: dict[str, Any]
    secrets: tuple[str, ...]  # the material that must never appear in an answer


def _carries_secret(secret_values: tuple[str, ...], request: dict[str, Any]) -> bool:
    # One string to search: a secret cannot straddle two parts, as hygiene lets no whitespace into one.
    headers = request.get("headers") or {}
    text = "\n".join([str(request.get("url")), str(request.get("body")), *map(str, headers),
                      *map(str, headers.values())])
    for value in secret_values:
        if value in text:
            return True
    return False


def _audit_refusal() -> Refused:
    return Refused(Reason.AUDIT_UNAVAILABLE, "the audit log cannot be written; nothing was signed")


# Argument checks of the operations that change or destroy something, here so that every transport gets them.
# JSON hands the engine any type: a string where a time belongs compares above every integer in SQLite (so
# created_before="2026-01-01" matched every credential), and "no" is a true value. Messages name the field,
# never echo the value.
MAX_EPOCH_MS = 2**63 - 1  # what the store's BigInteger columns hold
MAX_IDS = 10_000  # credential ids in one revocation (SQLite binds at most 32,766 values in one statement)


def _text(field: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise InputError(field, "must be a non-empty string")


def _optional(check: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    def optional(field: str, value: Any) -> None:
        if value is not None:
            check(field, value)

    return optional


def _epoch_ms(field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EPOCH_MS:
        raise InputError(field, "must be a time in epoch milliseconds (an integer such as 1767225600000)")


def _flag(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InputError(field, "must be true or false")


def _ids(field: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(field, "must be a list of credential ids (strings)")
    if len(value) > MAX_IDS:
        raise InputError(field, f"at most {MAX_IDS} credential ids in one call")


def _string(field: str, value: Any) -> None:  # an empty one is hygiene's to refuse, with its own message
    if not isinstance(value, str):
        raise InputError(field, "must be a string")


STORE_ARGS = {"owner": _text, "exchange": _text, "api_key": _optional(_string), "secret": _optional(_string),
              "passphrase": _optional(_string), "expires_at": _optional(_epoch_ms)}
REVOKE_WHERE_ARGS = {"ids": _optional(_ids), "owner": _optional(_text), "exchange": _optional(_text),
                     "created_before": _optional(_epoch_ms)}


def _check_args(checks: dict[str, Callable[[str, Any], None]], **args: Any) -> None:
    for name, check in checks.items():
        check(name, args[name])


def _described(row: CredentialRow) -> dict[str, Any]:
    """A credential's metadata, never its material."""
    return {"credential_id": row.id, "owner": row.owner, "exchange": row.exchange,
            "key_fingerprint": row.key_fingerprint, "masked_key": row.masked_key, "created_at": row.created_at,
            "expires_at": row.expires_at, "status": row.status, "revoked_at": row.revoked_at,
            "kek_version": row.sealed.kek_version if row.sealed else None}


def mask(api_key: str) -> str:
    return f"{api_key[:4]}…{api_key[-4:]}" if len(api_key) >= 12 else "…"


class SignCenter:
    def __init__(self, config: SignerConfig, kek: KekProvider | None = None,
                 clock: Callable[[], float] = time.time, buckets: Buckets | None = None) -> None:
        lock_down(config.data_dir)
        self.config = config
        self.clock = clock
        self.kek: KekProvider = kek or KeyFileKek(config.data_dir / "kek.json")
        self.secrets = SignerSecrets(config.data_dir / "signer-keys.json")
        self.store = SignerStore(config.store())
        self.audit = AuditLog(config.data_dir / f"audit-{config.replica}.log", self.secrets.audit_mac,
                              open_checkpoint_key(checkpoint_key_path(config), config.data_dir), clock,
                              config.checkpoint_every, config.checkpoint_interval_s)
        self.policy = Policy(buckets or LocalBuckets(config.rate_per_credential, config.burst_per_credential),
                             max_recv_window_ms=config.max_recv_window_ms, allow=config.allow)
        self._cache: dict[str, _Entry] = {}
        self._prototypes: dict[str, Any] = {}
        self._produced = Produced()
        self._watch = RevocationWatch(self.store)

    # ---- intake ----

    def fingerprint(self, api_key: str) -> str:
        return "kf_" + hmac.new(self.secrets.pepper, api_key.encode(), hashlib.sha256).hexdigest()[:40]

    def store_credential(self, owner: str, exchange: str, api_key: str, secret: str, passphrase: str | None = None,
                         expires_at: int | None = None) -> dict[str, Any]:
        _check_args(STORE_ARGS, owner=owner, exchange=exchange, api_key=api_key, secret=secret,
                    passphrase=passphrase, expires_at=expires_at)
        if exchange not in SUPPORTED:
            raise InputError("exchange", f"{exchange!r} is not an exchange ccxt supports")
        key = hygiene.clean(exchange, "api_key", api_key)
        sec = hygiene.clean(exchange, "secret", secret)
        needs_pass = bool(self._prototype(exchange).requiredCredentials.get("password"))
        phrase = hygiene.clean(exchange, "passphrase", passphrase, required=needs_pass)
        assert key is not None and sec is not None
        cred_id = "cred_" + secrets.token_hex(12)
        now = int(self.clock() * 1000)
        binding = Binding(cred_id, owner, exchange, 1)
        sealed = seal(self.kek, binding, {"api_key": key, "secret": sec, "passphrase": phrase})
        row = CredentialRow(cred_id, owner, exchange, self.fingerprint(key), mask(key), now, expires_at, "active",
                            None, 1, sealed)
        self.store.insert(row)
        self.audit.append("intake", "ok", cred_id, exchange)
        return {"credential_id": cred_id, "key_fingerprint": row.key_fingerprint, "masked_key": row.masked_key,
                "created_at": now}

    # ---- signing ----

    def sign(self, credential_id: str, exchange: str, api: Any, method: str, path: str, params: Any,
             context: dict[str, Any] | None = None, forward: bool = False, egress: str | None = None
             ) -> dict[str, Any]:
        """The signed request. ``forward=True`` is for the server's own forward operation only: the Sign Center
        then sends the request itself (from ``egress``, one of its configured source addresses, if named), so
        it may be one whose signature does not bind its path (Binance, Bybit) or that carries secret material
        (OKX's passphrase header). The ``sign`` operation answers only for exchanges whose signature binds the
        whole request (exchanges/signing.py)."""
        context = context or {}
        if not isinstance(params, dict | list):
            raise InputError("params", "must be an object (or, for a batch, a list)")
        try:
            if not forward and not returns_signature(exchange):
                raise Refused(Reason.FORWARD_REQUIRED, f"{exchange} signatures do not bind the whole request or "
                                                       "carry secret material; use forward")
            if egress is not None and (not forward or egress not in self.config.egress_ips):
                raise Refused(Reason.EGRESS_NOT_ALLOWED, "egress must be one of the Sign Center's configured "
                                                         "egress addresses (--egress-ip)")
            entry = self._entry(credential_id, exchange)
            self.policy.check(exchange, api, method, path, params, context)
            check_params(exchange, path, params, self.policy.max_recv_window_ms)
            self.policy.take_token(credential_id)
            request = self._ccxt_sign(entry, api, method, path, params, context)
            self._produced.check(exchange, api_path(api), method, path, params, request,
                                 lambda ref: self._ccxt_sign(entry, api, method, path, ref, context))
            if not forward and _carries_secret(entry.secrets, request):
                raise Refused(Reason.FORWARD_REQUIRED, f"{exchange} requests carry secret material; use forward")
        except Refused as refused:
            self.audit.append("refuse", refused.reason, credential_id, exchange, method, path, params)
            raise
        try:
            self.audit.append("forward" if forward else "sign", "ok", credential_id, exchange, method, path, params)
        except AuditUnavailable:
            raise _audit_refusal() from None
        return request

    @contextmanager
    def signing_batch(self) -> Iterator[None]:
        """Signatures inside share one audit write at the end (``AuditLog.batch``); if it fails, ``Refused``
        (audit_unavailable) is raised and none of them may be answered."""
        try:
            with self.audit.batch():
                yield
        except AuditUnavailable:
            raise _audit_refusal() from None

    def _ccxt_sign(self, entry: _Entry, api: Any, method: str, path: str, params: Any,
                   context: dict[str, Any]) -> dict[str, Any]:
        ex = entry.exchange
        ex.options["recvWindow"] = context.get("recvWindow", entry.defaults.get("recvWindow"))
        if "recvWindow" not in entry.defaults and "recvWindow" not in context:
            ex.options.pop("recvWindow", None)
        ex.options["timeDifference"] = context.get("timeDifference", entry.defaults.get("timeDifference", 0))
        signed = ex.sign(path, api, method, params)
        return {"url": signed["url"], "method": signed["method"], "headers": signed.get("headers"),
                "body": signed.get("body")}

    def _entry(self, credential_id: str, exchange: str) -> _Entry:
        if self._watch.changed():
            self._cache.clear()
        now = self.clock()
        entry = self._cache.get(credential_id)
        if entry is None or now - entry.loaded_at > self.config.cache_ttl_s:
            entry = self._load(credential_id, now)
        row = entry.row
        if row.exchange != exchange:
            raise Refused(Reason.EXCHANGE_MISMATCH, f"credential is for {row.exchange}, not {exchange}")
        if row.expires_at is not None and now * 1000 >= row.expires_at:
            self._cache.pop(credential_id, None)
            raise Refused(Reason.CREDENTIAL_EXPIRED, "credential has expired")
        return entry

    def _load(self, credential_id: str, now: float) -> _Entry:
        self._cache.pop(credential_id, None)
        row = self.store.get(credential_id)
        if row is None:
            raise Refused(Reason.CREDENTIAL_UNKNOWN, "no such credential")
        if row.status != "active" or row.sealed is None:
            raise Refused(Reason.CREDENTIAL_REVOKED, "credential was revoked")
        try:
            material = open_sealed(self.kek, Binding(row.id, row.owner, row.exchange, row.version), row.sealed)
        except KekRetired:
            raise Refused(Reason.KEK_RETIRED, "credential is wrapped by a retired KEK version; rotate") from None
        except SealBroken:
            raise Refused(Reason.CREDENTIAL_CORRUPT, "credential does not open under its binding") from None
        ex = self._instance(row.exchange, material)
        entry = _Entry(row, ex, now, {k: ex.options.get(k) for k in ("recvWindow", "timeDifference")
                                      if k in ex.options},
                       tuple(v for k, v in material.items() if k != "api_key" and v))
        self._cache[credential_id] = entry
        return entry

    def _prototype(self, exchange: str) -> Any:
        """One keyless ccxt instance per exchange, URLs pinned; credentials get cheap copies of it (building a
        ccxt instance costs milliseconds, copying one microseconds)."""
        proto = self._prototypes.get(exchange)
        if proto is None:
            proto = getattr(ccxt, exchange)()
            base_url = self.config.exchange_urls.get(exchange)
            if base_url:  # the Sign Center pins where its signatures may be sent; callers cannot choose
                from ..exchanges.endpoints import point_ccxt

                point_ccxt(proto, base_url)
            clock = self.clock
            proto.milliseconds = lambda: int(clock() * 1000)  # the Sign Center's clock, injectable for tests
            self._prototypes[exchange] = proto
        return proto

    def _instance(self, exchange: str, material: dict[str, str | None]) -> Any:
        ex = copy.copy(self._prototype(exchange))
        ex.options = dict(ex.options)  # per-key state (Kraken's nonce counter, recvWindow) stays its own
        ex.apiKey, ex.secret = material["api_key"], material["secret"]
        if material.get("passphrase"):
            ex.password = material["passphrase"]
        return ex

    # ---- revocation and rotation ----

    def revoke(self, credential_id: str) -> int:
        _check_args({"credential_id": _text}, credential_id=credential_id)
        return self.revoke_where(ids=[credential_id])

    def revoke_where(self, ids: list[str] | None = None, owner: str | None = None, exchange: str | None = None,
                     created_before: int | None = None) -> int:
        _check_args(REVOKE_WHERE_ARGS, ids=ids, owner=owner, exchange=exchange, created_before=created_before)
        if ids is None and owner is None and exchange is None and created_before is None:
            raise InputError("filter", "give at least one of credential ids, owner, exchange, created_before")
        count = self.store.revoke_where(int(self.clock() * 1000), ids, owner, exchange, created_before)
        self._watch.ring()
        time.sleep(RevocationWatch.SETTLE_S)  # every replica looks again before its next signature (see there)
        self._cache.clear()  # as every replica does when it sees the new epoch (the store says what was revoked)
        what = json.dumps({"ids": ids[:1] if ids and len(ids) == 1 else (len(ids) if ids else None),
                           "owner": owner, "exchange": exchange, "created_before": created_before})
        self.audit.append("revoke", f"ok:{count}", ids[0] if ids and len(ids) == 1 else None, exchange,
                          None, None, what)
        return count

    def rotate_kek(self, retire_old: bool = False) -> dict[str, int]:
        """New KEK version; rewrap every data key under it (no plaintext secret leaves the process)."""
        _check_args({"retire_old": _flag}, retire_old=retire_old)
        old_min = self.kek.min_version
        version = self.kek.rotate()
        rewrapped = 0
        for row in list(self.store.iter_sealed()):
            assert row.sealed is not None
            if row.sealed.kek_version != version:
                new = rewrap(self.kek, row.sealed)
                self.store.update_wrap(row.id, new.kek_version, new.wrapped_dek)
                rewrapped += 1
        if retire_old:
            self.kek.retire_below(version)
        self._cache.clear()
        self.audit.append("rotate_kek", f"ok:v{version}:rewrapped={rewrapped}")
        return {"kek_version": version, "rewrapped": rewrapped, "min_version": self.kek.min_version,
                "previous_min_version": old_min}

    def audit_heads(self) -> dict[str, Any]:
        """The newest durable checkpoint of every audit log in the data directory (every replica's and
        worker's), for the API server to keep outside it: the anchor ``audit verify --anchor`` checks."""
        return {"heads": heads(self.config.data_dir)}

    def describe(self, credential_id: str) -> dict[str, Any]:
        row = self.store.get(credential_id)
        if row is None:
            raise InputError("credential_id", "no such credential")
        return _described(row)

    def describe_many(self, credential_ids: list[str]) -> dict[str, Any]:
        """``describe`` for up to MAX_IDS credentials in one call (a hard reset over 100,000 accounts asks about
        each): ``{"credentials": {id: metadata}}``, ids not in the store left out."""
        _ids("credential_ids", credential_ids)
        return {"credentials": {row.id: _described(row) for row in self.store.get_many(credential_ids)}}

    def close(self) -> None:
        self.audit.close()
        self._watch.close()
        self.store.close()

