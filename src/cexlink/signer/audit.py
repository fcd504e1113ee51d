"""The tamper-evident audit log: one hash-chained JSON line per intake, sign, refusal and revocation.

``hash = SHA-256(prev_hash || canonical(record))``; every ``checkpoint_every`` records (and at close) a
checkpoint line carries an Ed25519 signature over (seq, head hash, time) by a key the log does not hold, and
is copied to a second file. Records carry a keyed hash of the parameters: no secrets, no raw signatures.

Each line is copied into the file through a shared memory map (``mapped.py``), not fsynced, before the caller
gets its answer; if the space for it cannot be reserved, the caller gets no signature (fail closed). A process
crash keeps every acknowledged record (it is in the page cache); a power loss may lose the records since the
last fsync (at each checkpoint), and ``verify`` then reports where the log stops or has a hole. A record torn
by a crash in the middle of its copy was never acknowledged: the next open cuts it and says so in a
``recover`` record.

A periodic checkpoint's line goes into the log in its place in the chain; its two fsyncs (the log, then the
copy file) run on a thread of their own, so that signing does not wait for the disk (milliseconds, every
``checkpoint_every`` records). If they fail, the next append makes them again first, and is refused if they
fail again: the log never runs on far past a checkpoint that could not be made durable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import CexlinkError
from .mapped import DEFAULT_RESERVE, FileInUse, MappedAppendFile
from .wire import dumps

GENESIS = "0" * 64
_TAIL = 1 << 14  # the first read back from the end: dozens of records
FIELDS = ("seq", "time", "prev", "credential_id", "action", "exchange", "method", "path", "outcome",
          "params_mac")


class AuditUnavailable(CexlinkError):
    """The audit record could not be written: the request is refused (fail closed)."""


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
                 checkpoint_every: int = 10_000, reserve: int = DEFAULT_RESERVE) -> None:
        self.path = path
        self.checkpoints_path = path.with_name(path.name + ".checkpoints")
        self.mac_key = mac_key
        self._mac = hashlib.blake2b(key=mac_key, digest_size=32)
        self.checkpoint_key = checkpoint_key
        self.clock = clock
        self.checkpoint_every = checkpoint_every
        try:
            self.file = MappedAppendFile(path, reserve)
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
        self._pending: list[bytes] | None = None  # records of the open batch, not yet written
        self._syncer = ThreadPoolExecutor(1, thread_name_prefix="audit-sync")  # one: checkpoints durable in order
        self._unsynced: bytes | None = None  # a checkpoint line whose fsyncs failed on the syncer
        if torn:
            try:
                self.append("recover", f"torn_tail:{torn}")
            except BaseException:
                self._release()  # a start that cannot say what it cut must not keep the log from the next one
                raise

    def _recover(self) -> tuple[int, int, str]:
        """(bytes cut, sequence number, hash) at the log's end, read backwards from it. A last line without its
        newline is a record a crash stopped mid-copy, never acknowledged (the answer follows the whole copy):
        it is cut, so the chain goes on from the last whole record."""
        size = _TAIL
        while True:
            chunk = self.file.read_tail(size)
            whole = len(chunk) == self.file.end
            lines = chunk.split(b"\n")  # the first piece may be cut by the read; the last follows the last newline
            last = _last_record(lines[0 if whole else 1:-1])
            if last is not None or whole:
                torn = len(lines[-1])
                if torn:
                    try:
                        self.file.cut(self.file.end - torn)
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
        if self._unsynced is not None:
            self._sync(self._unsynced)  # AuditUnavailable if it fails again: no record, no answer
            self._unsynced = None
        # The keys in sorted order: orjson keeps insertion order, so this is the canonical form without a sort.
        body = {"action": action, "credential_id": credential_id, "exchange": exchange, "method": method,
                "outcome": outcome, "params_mac": None if params is None else self.params_mac(params),
                "path": path, "prev": self.head, "seq": self.seq + 1, "time": int(self.clock() * 1000)}
        encoded = dumps(body)
        raw = hashlib.sha256(self._head_bytes + encoded).digest()
        digest = raw.hex()
        # The line is the canonical record with its hash appended: encoded once (readers parse it as JSON).
        line = encoded[:-1] + b',"hash":"' + digest.encode() + b'"}\n'
        if self._pending is not None:
            self._pending.append(line)
        else:
            self._write(line)
        self.seq, self.head, self._head_bytes = body["seq"], digest, raw
        self._since_checkpoint += 1
        if self._since_checkpoint >= self.checkpoint_every and self._pending is None:
            self.checkpoint(wait=False)
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
        """Records appended inside are written together, in one copy, when the block ends — still before
        any of their answers goes out. If that write fails, the chain is put back where it stood and
        ``AuditUnavailable`` raised: the caller then answers none of the batch with a signature."""
        saved = (self.seq, self.head, self._head_bytes, self._since_checkpoint)
        self._pending = []
        try:
            yield
            pending = self._pending
            self._pending = None
            if pending:
                self._write(b"".join(pending))
        except BaseException:
            self._pending = None
            self.seq, self.head, self._head_bytes, self._since_checkpoint = saved
            raise
        if self._since_checkpoint >= self.checkpoint_every:
            self.checkpoint(wait=False)

    def checkpoint(self, wait: bool = True) -> None:
        """Sign the chain's head into the log, then make it durable: here (``wait``), or on the syncer."""
        if self.seq == 0:
            return
        now = int(self.clock() * 1000)
        sig = self.checkpoint_key.sign(checkpoint_message(self.seq, self.head, now))
        line = _canonical({"checkpoint": True, "seq": self.seq, "hash": self.head, "time": now,
                           "sig": base64.b64encode(sig).decode()}) + b"\n"
        self._write(line)
        self._since_checkpoint = 0
        if wait:
            self.flush()
            self._sync(line)
            self._unsynced = None  # this later checkpoint covers an earlier one that failed
        else:
            self._syncer.submit(self._sync_later, line)

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
        try:
            self.checkpoint()
        finally:
            self._release()

    def _release(self) -> None:
        self._syncer.shutdown(wait=True)
        self.file.close()
        os.close(self.cp_fd)


@dataclass
class VerifyResult:
    ok: bool
    records: int
    checkpoints: int
    problem: str | None = None
    first_bad_seq: int | None = None
    line: int | None = None


def verify(path: Path, public_key: Ed25519PublicKey) -> VerifyResult:
    """Walk the chain; report the first record that was edited, removed, reordered or torn."""
    prev, expected_seq, records, checkpoints = GENESIS, 1, 0, 0
    hashes: dict[int, str] = {}

    def bad(problem: str, seq: int | None, lineno: int) -> VerifyResult:
        return VerifyResult(False, records, checkpoints, problem, seq, lineno)

    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip(b"\0"):  # the reserve after the last record (a running or crashed signer's)
                break
            try:
                rec = json.loads(raw)
            except ValueError:
                return bad(f"line {lineno} is not a complete record (torn or edited)", expected_seq, lineno)
            if rec.get("checkpoint"):
                try:
                    public_key.verify(base64.b64decode(rec["sig"]),
                                      checkpoint_message(rec["seq"], rec["hash"], rec["time"]))
                except (InvalidSignature, KeyError, ValueError):
                    return bad(f"checkpoint at record {rec.get('seq')} has a bad signature", rec.get("seq"), lineno)
                if hashes.get(rec["seq"]) != rec["hash"]:
                    return bad(f"checkpoint at record {rec['seq']} does not match the chain", rec["seq"], lineno)
                checkpoints += 1
                continue
            seq = rec.get("seq")
            if not isinstance(seq, int):
                return bad(f"line {lineno} has no sequence number", expected_seq, lineno)
            if seq > expected_seq:
                return bad(f"record {expected_seq} is missing (removed) before record {seq}", expected_seq, lineno)
            if seq < expected_seq:
                return bad(f"record {seq} is out of order (reordered or duplicated) at line {lineno}", seq, lineno)
            body = {k: rec.get(k) for k in FIELDS}
            if rec.get("prev") != prev:
                return bad(f"record {seq} does not follow record {seq - 1} (removed or reordered)", seq, lineno)
            if record_hash(prev, body) != rec.get("hash"):
                return bad(f"record {seq} was edited (its hash does not match its content)", seq, lineno)
            prev = rec["hash"]
            hashes[seq] = prev
            expected_seq += 1
            records += 1
    # The second sink: every checkpoint ever written must still match the chain (catches a rewritten or
    # truncated log whose own checkpoint lines were removed with it).
    sink = path.with_name(path.name + ".checkpoints")
    if sink.exists():
        for lineno, raw in enumerate(sink.read_bytes().splitlines(), start=1):
            try:
                cp = json.loads(raw)
                public_key.verify(base64.b64decode(cp["sig"]), checkpoint_message(cp["seq"], cp["hash"], cp["time"]))
            except (ValueError, KeyError, InvalidSignature):
                return VerifyResult(False, records, checkpoints, f"checkpoint copy line {lineno} is not authentic",
                                    None, None)
            if hashes.get(cp["seq"]) != cp["hash"]:
                problem = (f"record {cp['seq']} was removed (the log ends at {expected_seq - 1})"
                           if cp["seq"] >= expected_seq else f"records up to {cp['seq']} were rewritten")
                return VerifyResult(False, records, checkpoints, problem, cp["seq"], None)
    return VerifyResult(True, records, checkpoints)
