"""The tamper-evident audit log: one hash-chained JSON line per intake, sign, refusal and revocation.

``hash = SHA-256(prev_hash || canonical(record))``; a checkpoint line carries an Ed25519 signature over (seq,
head hash, time) and is copied to a second file. Records carry a keyed hash of the parameters: no secrets, no
raw signatures.

What an attacker who can write the data directory cannot do unseen:
- forge a checkpoint: the checkpoint key is kept outside the data directory (``open_checkpoint_key`` refuses
  a path inside it) and ``verify`` checks against a public key its caller gives, never one read from there;
- rewrite what a checkpoint covers: every field of a record is in its hash, and a field outside the schema
  (or given twice) fails verification, as does a checkpoint line with one;
- rewrite much that no checkpoint covers yet: a checkpoint is made every ``checkpoint_every`` records and, while
  records come, no later than ``checkpoint_interval_s`` after the oldest record it does not cover yet (checked
  on each append, and by a timer once records stop);
- cut the log back, empty it or drop the copy: the newest checkpoints (``heads``) are fetched by the API server
  and kept in its database; ``verify`` given them (the anchor) finds each of these. Without the anchor, a log
  cut back (with its copy) to an earlier checkpoint looks like a log that stopped there.
What no one can authenticate: the records of a killed Sign Center younger than the interval (no checkpoint
covers them yet).

Each line is written to the file (``appendfile.py``: ``write(2)`` with ``O_APPEND``), not fsynced, before the
caller gets its answer; if it cannot be written whole, the caller gets no signature (fail closed). A process
crash keeps every acknowledged record (it is in the page cache); a power loss may lose the records since the
last fsync (at each checkpoint), and ``verify`` then reports where the log stops or has a hole. A last line
torn by a crash was never acknowledged: the next open cuts it and says so in a ``recover`` record.

A checkpoint's line goes into the log in its place in the chain; its two fsyncs (the log, then the copy file)
run on a thread of their own, so that signing does not wait for the disk. If they fail, the next append makes
them again first, and is refused if they fail again: the log never runs on far past a checkpoint that could
not be made durable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import CexlinkError, InputError
from .appendfile import AppendFile, FileInUse
from .wire import dumps

GENESIS = "0" * 64
_TAIL = 1 << 14  # the first read back from the end: dozens of records
FIELDS = ("seq", "time", "prev", "credential_id", "action", "exchange", "method", "path", "outcome",
          "params_mac")
RECORD_KEYS = frozenset(FIELDS) | {"hash"}
CHECKPOINT_KEYS = frozenset({"checkpoint", "seq", "hash", "time", "sig"})
HEAD_KEYS = frozenset({"log", "seq", "hash", "time", "sig"})
COPY_SUFFIX = ".checkpoints"
_NEVER = float("inf")  # "since when records wait for a checkpoint" when none does
_LEAD = 0.9  # a checkpoint is due at this share of the interval: the rest is the timer's wake-up and the signature


class AuditUnavailable(CexlinkError):
    """The audit record could not be written: the request is refused (fail closed)."""


# ---- the checkpoint key: outside the data directory ----

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

def _canonical(body: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same input always gives the same bytes."""
    return dumps(body, sort_keys=True)


def record_hash(prev: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(bytes.fromhex(prev) + _canonical(body)).hexdigest()


def checkpoint_message(seq: int, head: str, time_ms: int) -> bytes:
    return f"cexlink-audit-checkpoint\n{seq}\n{head}\n{time_ms}\n".encode()


def _last_record(lines: list[bytes]) -> tuple[int, str] | None:
    """(sequence number, hash) of the last record among ``lines``, skipping checkpoints and the holes a power
    loss may leave (verify reports those)."""
    for line in reversed(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "hash" in rec and "seq" in rec and not rec.get("checkpoint"):
            return rec["seq"], rec["hash"]
    return None


class AuditLog:
    def __init__(self, path: Path, mac_key: bytes, checkpoint_key: Ed25519PrivateKey, clock: Callable[[], float],
                 checkpoint_every: int = 10_000, checkpoint_interval_s: float = 1.0) -> None:
        self.path = path
        self.checkpoints_path = path.with_name(path.name + COPY_SUFFIX)
        self.mac_key = mac_key
        self._mac = hashlib.blake2b(key=mac_key, digest_size=32)
        self.checkpoint_key = checkpoint_key
        self.clock = clock
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval_s = checkpoint_interval_s
        self._due_s = checkpoint_interval_s * _LEAD
        try:
            self.file = AppendFile(path)
        except FileInUse:
            raise AuditUnavailable(f"audit log {path.name} is open in another process (one writer per replica; "
                                   "stop that Sign Center first)") from None
        try:
            torn, self.seq, self.head = self._recover()
            self._head_bytes = bytes.fromhex(self.head)
            self.cp_fd = os.open(self.checkpoints_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                                 0o600)
        except BaseException:
            self.file.close()  # and with it the lock: a later open must not find the log held
            raise
        self._since_checkpoint = 0
        self._checkpointed = 0  # the last record a checkpoint covers (0: none yet in this process)
        self._waiting_since = _NEVER  # the time of the oldest record no checkpoint covers
        self._pending: list[bytes] | None = None  # records of the open batch, not yet written
        self._syncer = ThreadPoolExecutor(1, thread_name_prefix="audit-sync")  # one: checkpoints durable in order
        self._unsynced: bytes | None = None  # a checkpoint line whose fsyncs failed on the syncer
        # The timer thread writes checkpoints too: it and the writers take turns on the log under this lock.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._timer: threading.Thread | None = None
        if torn:
            try:
                self.append("recover", f"torn_tail:{len(torn)}")
            except BaseException:
                # A cut goes with its record: the torn bytes go back (into the space they just left), so the
                # next start finds them again; and the log is let go for it.
                with suppress(OSError):
                    self.file.append(torn)
                self._release()
                raise
        self._timer = threading.Thread(target=self._tick, name="audit-timer", daemon=True)
        self._timer.start()

    def _recover(self) -> tuple[bytes, int, str]:
        """(bytes cut, sequence number, hash) at the log's end, read backwards from it. A last line without its
        newline is a record a crash stopped mid-write, never acknowledged (the answer follows the whole write):
        it is cut, so the chain goes on from the last whole record."""
        size = _TAIL
        while True:
            chunk = self.file.read_tail(size)
            whole = len(chunk) == self.file.end
            lines = chunk.split(b"\n")  # the first piece may be cut by the read; the last follows the last newline
            last = _last_record(lines[0 if whole else 1:-1])
            if last is not None or whole:
                torn = lines[-1]
                if torn:
                    try:
                        self.file.cut(self.file.end - len(torn))
                    except OSError as e:
                        raise self._not_writable(e) from None
                return (torn, *(last or (0, GENESIS)))
            size *= 4

    def params_mac(self, params: Any) -> str:
        # Keyed BLAKE2b is a MAC by design, and a third of HMAC-SHA256's cost through OpenSSL 3. Copying a keyed
        # instance spares compressing the key block again for every record.
        mac = self._mac.copy()
        mac.update(_canonical({"p": params}))
        return mac.hexdigest()

    def append(self, action: str, outcome: str, credential_id: str | None = None, exchange: str | None = None,
               method: str | None = None, path: str | None = None, params: Any = None) -> int:
        params_mac = None if params is None else self.params_mac(params)
        with self._lock:
            if self._unsynced is not None:
                self._sync(self._unsynced)  # AuditUnavailable if it fails again: no record, no answer
                self._unsynced = None
            now = self.clock()
            # The keys in sorted order: orjson keeps insertion order, so this is the canonical form without a sort.
            body = {"action": action, "credential_id": credential_id, "exchange": exchange, "method": method,
                    "outcome": outcome, "params_mac": params_mac, "path": path, "prev": self.head,
                    "seq": self.seq + 1, "time": int(now * 1000)}
            encoded = dumps(body)
            raw = hashlib.sha256(self._head_bytes + encoded).digest()
            digest = raw.hex()
            # The line is the canonical record with its hash appended: encoded once (readers parse it as JSON).
            line = encoded[:-1] + b',"hash":"' + digest.encode() + b'"}\n'
            if self._pending is not None:
                self._pending.append(line)
            else:
                self._write(line)
            self.seq, self.head, self._head_bytes = self.seq + 1, digest, raw
            self._since_checkpoint += 1
            if now - self._waiting_since >= self._due_s or self._since_checkpoint >= self.checkpoint_every:
                if self._pending is None:
                    self._checkpoint(wait=False)
            elif self._waiting_since == _NEVER:  # the first record a checkpoint must cover: the timer's deadline
                self._waiting_since = now
                self._wake.set()
            return self.seq

    def _write(self, data: bytes) -> None:
        try:
            self.file.append(data)
        except OSError as e:
            raise self._not_writable(e) from None

    def _not_writable(self, e: OSError) -> AuditUnavailable:
        return AuditUnavailable(f"audit log {self.path.name} is not writable: {e.strerror or e}")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Records appended inside are written together, in one write, when the block ends — still before
        any of their answers goes out. If that write fails, the chain is put back where it stood and
        ``AuditUnavailable`` raised: the caller then answers none of the batch with a signature."""
        with self._lock:
            saved = (self.seq, self.head, self._head_bytes, self._since_checkpoint, self._waiting_since)
            self._pending = []
        try:
            yield
            with self._lock:
                pending = self._pending
                self._pending = None
                if pending:
                    self._write(b"".join(pending))
                if (self._since_checkpoint >= self.checkpoint_every
                        or self.clock() - self._waiting_since >= self._due_s):
                    self._checkpoint(wait=False)
        except BaseException:
            with self._lock:
                self._pending = None
                self.seq, self.head, self._head_bytes, self._since_checkpoint, self._waiting_since = saved
            raise

    def checkpoint(self, wait: bool = True) -> None:
        """Sign the chain's head into the log, then make it durable: here (``wait``), or on the syncer."""
        with self._lock:
            self._checkpoint(wait)

    def _checkpoint(self, wait: bool) -> None:
        if self.seq == self._checkpointed:
            self._waiting_since = _NEVER
            return  # nothing new since the last one
        now = int(self.clock() * 1000)
        sig = self.checkpoint_key.sign(checkpoint_message(self.seq, self.head, now))
        line = _canonical({"checkpoint": True, "seq": self.seq, "hash": self.head, "time": now,
                           "sig": base64.b64encode(sig).decode()}) + b"\n"
        self._write(line)
        self._since_checkpoint = 0
        self._checkpointed = self.seq
        self._waiting_since = _NEVER
        if wait:
            self.flush()
            self._sync(line)
            self._unsynced = None  # this later checkpoint covers an earlier one that failed
        else:
            self._syncer.submit(self._sync_later, line)

    def _tick(self) -> None:
        """The timer: a checkpoint when records have waited their interval and none came to trigger it."""
        timeout: float | None = None
        while True:
            self._wake.wait(timeout)
            self._wake.clear()
            with self._lock:
                if self._closing:
                    return
                left = self._waiting_since + self._due_s - self.clock()
                if left == _NEVER:
                    timeout = None
                elif left > 0:
                    timeout = left
                elif self._pending is not None:
                    timeout = 0.001  # a batch is under way; it checks the deadline when it is written
                else:
                    try:
                        self._checkpoint(wait=False)
                        timeout = None
                    except AuditUnavailable:
                        timeout = self._due_s  # the next append reports it; try again meanwhile

    def _sync(self, line: bytes) -> None:
        """The log durable up to ``line``, then ``line`` in the copy file: a copy never runs ahead of the log."""
        try:
            self.file.sync()
            os.write(self.cp_fd, line)
            os.fsync(self.cp_fd)
        except OSError as e:
            raise AuditUnavailable(f"audit checkpoint could not be written: {e.strerror or e}") from None

    def _sync_later(self, line: bytes) -> None:
        try:
            self._sync(line)
        except AuditUnavailable:
            self._unsynced = line  # the next append makes it again, or is refused

    def flush(self) -> None:
        """Wait for the checkpoints under way on the syncer."""
        self._syncer.submit(lambda: None).result()

    def close(self) -> None:
        self._stop_timer()
        try:
            self.checkpoint()
        finally:
            self._release()

    def _stop_timer(self) -> None:
        with self._lock:
            self._closing = True
        self._wake.set()
        if self._timer is not None:
            self._timer.join()

    def _release(self) -> None:
        self._stop_timer()
        self._syncer.shutdown(wait=True)
        self.file.close()
        os.close(self.cp_fd)


# ---- the heads, for the anchor outside the Sign Center ----

def _last_line(path: Path) -> bytes | None:
    """The last whole JSON line of ``path`` (read from its end), or None."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 4096))
            tail = fh.read()
    except FileNotFoundError:
        return None
    for line in reversed(tail.split(b"\n")):
        try:
            json.loads(line)
            return line
        except ValueError:
            continue
    return None


def heads(data_dir: Path) -> list[dict[str, Any]]:
    """The newest durable checkpoint of every audit log in ``data_dir``: the last line of its copy file."""
    found = []
    for log in sorted(data_dir.glob("audit-*.log")):
        line = _last_line(log.with_name(log.name + COPY_SUFFIX))
        if line is not None:
            cp = json.loads(line)
            found.append({"log": log.name, **{k: cp.get(k) for k in ("seq", "hash", "time", "sig")}})
    return found


# ---- verifying ----

@dataclass
class VerifyResult:
    ok: bool
    records: int
    checkpoints: int
    problem: str | None = None
    first_bad_seq: int | None = None
    line: int | None = None
    anchored: int | None = None  # the newest anchored checkpoint the log was found to hold


class _FieldTwice(ValueError):
    """A line names a field twice: a parser keeps one value, so the other would escape the hash."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _FieldTwice
    return dict(pairs)


def _parse(raw: bytes) -> Any:
    return json.loads(raw, object_pairs_hook=_unique_keys)


def _is_checkpoint(cp: Any) -> bool:
    """Exactly the checkpoint fields, each of its type."""
    return (isinstance(cp, dict) and cp.keys() == CHECKPOINT_KEYS and cp["checkpoint"] is True
            and _typed(cp))


def _typed(cp: dict[str, Any]) -> bool:
    return (type(cp.get("seq")) is int and type(cp.get("time")) is int and isinstance(cp.get("hash"), str)
            and isinstance(cp.get("sig"), str))


def _authentic(cp: dict[str, Any], keys: Sequence[Ed25519PublicKey]) -> bool:
    message = checkpoint_message(cp["seq"], cp["hash"], cp["time"])
    try:
        sig = base64.b64decode(cp["sig"], validate=True)
    except (ValueError, binascii.Error):
        return False
    for key in keys:
        try:
            key.verify(sig, message)
            return True
        except InvalidSignature:
            continue
    return False


def _head(cp: dict[str, Any]) -> tuple[int, str, int, str]:
    return cp["seq"], cp["hash"], cp["time"], cp["sig"]


def check_head(head: Any) -> dict[str, Any]:
    """An anchor's head as ``heads`` gives it, or InputError naming the field that is wrong."""
    if not isinstance(head, dict) or head.keys() != HEAD_KEYS:
        raise InputError("heads", f"each head must be an object with exactly {', '.join(sorted(HEAD_KEYS))}")
    name = head["log"]
    if not (isinstance(name, str) and name.startswith("audit-") and name.endswith(".log") and "/" not in name
            and "\\" not in name and name not in (".", "..")):
        raise InputError("heads.log", "must be the name of an audit log (audit-<replica>.log)")
    if not _typed(head) or head["seq"] < 1:
        raise InputError("heads", "seq and time must be integers (seq from 1), hash and sig text")
    return head


def verify(path: Path, public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey],
           anchors: Sequence[dict[str, Any]] = ()) -> VerifyResult:
    """Walk the chain; report the first record that was edited, removed, reordered, torn or given a field
    outside the schema; then check the checkpoint copy, and the log against the ``anchors`` (heads of this log
    kept outside the Sign Center). ``public_key``: the checkpoint key's, or several (an older key's too)."""
    keys = [public_key] if isinstance(public_key, Ed25519PublicKey) else list(public_key)
    prev, expected_seq, records, checkpoints = GENESIS, 1, 0, 0
    hashes: dict[int, str] = {}
    in_log: set[tuple[int, str, int, str]] = set()

    def bad(problem: str, seq: int | None, lineno: int | None = None) -> VerifyResult:
        return VerifyResult(False, records, checkpoints, problem, seq, lineno)

    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                rec = _parse(raw)
            except _FieldTwice:
                return bad(f"line {lineno} gives a field twice (fields outside the schema)", expected_seq, lineno)
            except ValueError:
                return bad(f"line {lineno} is not a complete record (torn or edited)", expected_seq, lineno)
            if not isinstance(rec, dict):
                return bad(f"line {lineno} is not a record", expected_seq, lineno)
            if "checkpoint" in rec:
                if not _is_checkpoint(rec):
                    return bad(f"checkpoint at line {lineno} has fields outside the schema or of the wrong type",
                               rec.get("seq"), lineno)
                if not _authentic(rec, keys):
                    return bad(f"checkpoint at record {rec['seq']} has a bad signature", rec["seq"], lineno)
                if hashes.get(rec["seq"]) != rec["hash"]:
                    return bad(f"checkpoint at record {rec['seq']} does not match the chain", rec["seq"], lineno)
                in_log.add(_head(rec))
                checkpoints += 1
                continue
            seq = rec.get("seq")
            if type(seq) is not int:
                return bad(f"line {lineno} has no sequence number", expected_seq, lineno)
            if rec.keys() != RECORD_KEYS:
                odd = sorted(rec.keys() ^ RECORD_KEYS)
                return bad(f"record {seq} has fields outside the schema or lacks some: {', '.join(odd)}", seq,
                           lineno)
            if seq > expected_seq:
                return bad(f"record {expected_seq} is missing (removed) before record {seq}", expected_seq, lineno)
            if seq < expected_seq:
                return bad(f"record {seq} is out of order (reordered or duplicated) at line {lineno}", seq, lineno)
            body = {k: rec[k] for k in FIELDS}
            if rec["prev"] != prev:
                return bad(f"record {seq} does not follow record {seq - 1} (removed or reordered)", seq, lineno)
            if record_hash(prev, body) != rec["hash"]:
                return bad(f"record {seq} was edited (its hash does not match its content)", seq, lineno)
            prev = rec["hash"]
            hashes[seq] = prev
            expected_seq += 1
            records += 1
    last = expected_seq - 1

    # The copy: every checkpoint it holds is authentic, matches the chain and is in the log, in order (the log
    # may hold later ones whose copy a crash stopped). It catches a chain rewritten with its checkpoint lines.
    copy = path.with_name(path.name + COPY_SUFFIX)
    in_copy: set[tuple[int, str, int, str]] = set()
    if not copy.exists():
        if checkpoints:
            return bad(f"the checkpoint copy {copy.name} is missing", None)
    else:
        copied_seq = 0
        for lineno, raw in enumerate(copy.read_bytes().splitlines(), start=1):
            try:
                cp = _parse(raw)
            except ValueError:
                cp = None
            if not _is_checkpoint(cp) or not _authentic(cp, keys):
                return bad(f"checkpoint copy line {lineno} is not authentic", None)
            if hashes.get(cp["seq"]) != cp["hash"]:
                problem = (f"record {cp['seq']} was removed (the log ends at {last})"
                           if cp["seq"] > last else f"records up to {cp['seq']} were rewritten")
                return bad(problem, cp["seq"])
            if _head(cp) not in in_log or cp["seq"] < copied_seq:
                return bad(f"the checkpoint at record {cp['seq']} in the copy is not in the log (removed)",
                           cp["seq"])
            copied_seq = cp["seq"]
            in_copy.add(_head(cp))

    # The anchors: heads fetched from the running Sign Center and kept outside it. Each must be authentic, and
    # the log and its copy must still hold it: a log cut back, emptied, rewritten or without its copy fails.
    anchored = None
    for head in sorted(anchors, key=lambda h: h["seq"]):
        seq = head["seq"]
        if not _authentic(head, keys):
            return bad(f"the anchored checkpoint at record {seq} is not signed by the checkpoint key", seq)
        if hashes.get(seq) != head["hash"]:
            problem = (f"the log ends at record {last}, before the anchored checkpoint at record {seq} "
                       "(truncated or emptied)" if seq > last
                       else f"records up to {seq} were rewritten (the anchored checkpoint does not match the chain)")
            return bad(problem, min(seq, last + 1))
        if _head(head) not in in_log:
            return bad(f"the anchored checkpoint at record {seq} is absent from the log (removed)", seq)
        if _head(head) not in in_copy:
            return bad(f"the anchored checkpoint at record {seq} is absent from the checkpoint copy (missing or "
                       "truncated)", seq)
        anchored = seq
    return VerifyResult(True, records, checkpoints, anchored=anchored)
