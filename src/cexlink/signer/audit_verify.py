"""``audit verify``: walk an audit log's chain against public checkpoint keys given by the operator (never one read
from the data directory), and, with an anchor kept outside the Sign Center, catch a log truncated, emptied,
rehashed or missing its checkpoint copy."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import InputError
from .audit import (
    CHECKPOINT_KEYS,
    COPY_SUFFIX,
    FIELDS,
    GENESIS,
    HEAD_KEYS,
    RECORD_KEYS,
    checkpoint_message,
    record_hash,
)

__all__ = ["VerifyResult", "check_head", "verify"]


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
