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
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import CexlinkError
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
