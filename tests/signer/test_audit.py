"""The audit log: every intake, signature, refusal and revocation is a hash-chained record written before the
answer; ``cexlink signer audit verify`` finds the first edited, removed or reordered record."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cexlink.errors import SignerRefused
from cexlink.signer.audit import GENESIS, AuditUnavailable, record_hash
from cexlink.signer.audit_verify import verify
from cexlink.signer.client import SignerClient
from cexlink.signer.engine import SignCenter, SignerConfig
from tests.support.signer import audit_records, start_signer, store, verify_cli


@pytest.fixture
def audited(sandbox, new_key, tmp_path: Path) -> tuple[Path, Path, dict]:
    """A signer that stored, signed, refused and revoked; stopped (so its last checkpoint is written)."""
    proc = start_signer(tmp_path, sandbox.url, name="audit")
    client = SignerClient(socket_path=proc.socket)
    key = new_key("binance")
    try:
        cred = store(client, key, "binance")
        for i in range(5):
            client.forward(cred, "binance", ["private"], "GET", "myTrades", {"symbol": "BTCUSDT", "limit": i + 1})
        with pytest.raises(SignerRefused):
            client.forward(cred, "binance", ["sapi"], "POST", "capital/withdraw/apply", {"amount": "1"})
        client.revoke(cred)
    finally:
        client.close()
        proc.stop()
    return proc.data_dir, proc.data_dir / "audit-0.log", key


def write(log: Path, recs: list[dict]) -> None:
    log.write_text("".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in recs))


def test_records_say_what_happened_without_secrets(audited: tuple) -> None:
    data_dir, log, key = audited
    recs = [r for r in audit_records(log) if not r.get("checkpoint")]
    assert [r["action"] for r in recs] == ["intake"] + ["forward"] * 5 + ["refuse", "revoke"]
    assert recs[6]["outcome"] == "withdrawal_forbidden" and recs[6]["path"] == "capital/withdraw/apply"
    assert len({r["params_mac"] for r in recs[1:6]}) == 5  # a keyed hash per request, not the parameters
    text = log.read_text()
    assert key["secret"] not in text and key["api_key"] not in text and "BTCUSDT" not in text
    code, result = verify_cli(data_dir)
    assert code == 0 and result["ok"] and result["records"] == 8 and result["checkpoints"] >= 1


def test_an_edited_record_is_found(audited: tuple) -> None:
    data_dir, log, _ = audited
    recs = audit_records(log)
    recs[3]["outcome"] = "ok-but-different"
    write(log, recs)
    code, result = verify_cli(data_dir)
    assert code == 1 and result["first_bad_seq"] == 4 and "edited" in result["problem"]


def test_a_removed_record_is_found(audited: tuple) -> None:
    data_dir, log, _ = audited
    recs = audit_records(log)
    del recs[2]
    write(log, recs)
    code, result = verify_cli(data_dir)
    assert code == 1 and result["first_bad_seq"] == 3 and "missing" in result["problem"]


def test_swapped_records_are_found(audited: tuple) -> None:
    data_dir, log, _ = audited
    recs = audit_records(log)
    recs[2], recs[3] = recs[3], recs[2]
    write(log, recs)
    code, result = verify_cli(data_dir)
    assert code == 1 and result["first_bad_seq"] in (3, 4)


def test_a_rewritten_chain_is_caught_by_the_signed_checkpoint(audited: tuple) -> None:
    """Editing a record and recomputing every hash after it still fails: the checkpoint signature covers the
    head, and the attacker does not hold the checkpoint key."""
    data_dir, log, _ = audited
    recs = [r for r in audit_records(log) if not r.get("checkpoint")]
    recs[1]["outcome"] = "forged"
    prev = GENESIS
    for r in recs:
        r["prev"] = prev
        body = {k: r[k] for k in r if k != "hash"}
        r["hash"] = prev = record_hash(prev, body)
    write(log, recs)  # checkpoint lines dropped from the main log
    code, result = verify_cli(data_dir)
    assert code == 1 and "rewritten" in result["problem"]


def test_a_truncated_log_is_found(audited: tuple) -> None:
    data_dir, log, _ = audited
    write(log, [r for r in audit_records(log) if not r.get("checkpoint")][:4])
    code, result = verify_cli(data_dir)
    assert code == 1 and "removed" in result["problem"]


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """RLIMIT_FSIZE: no file of this process may grow past ``limit`` (EFBIG, as a full disk gives ENOSPC)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@contextmanager
def disk_full(fd: int) -> Iterator[None]:
    """Writes to the file behind ``fd`` fail with ENOSPC (it is pointed at /dev/full) until the block ends: a
    full disk for that one file."""
    saved, full = os.dup(fd), os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, fd)
    os.close(full)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


ROOM = 2000  # bytes past the log's end a test lets it grow: a few records, the last of them cut off mid-line


def small_center(tmp_path: Path) -> SignCenter:
    return SignCenter(SignerConfig(tmp_path, rate_per_credential=1e9, burst_per_credential=1e9))


def test_no_audit_no_signature(tmp_path: Path) -> None:
    """Fail closed: when the record cannot be written (the log cannot grow: EFBIG, as a full disk gives ENOSPC),
    the caller gets a refusal, not a signature, and the half record the write got in is cut back; the process
    lives on (no signal), and once the log can grow again, signing goes on and the chain verifies."""
    center = small_center(tmp_path)
    cred = center.store_credential("o", "binance", "A" * 64, "B" * 64)["credential_id"]
    log = tmp_path / "audit-0.log"
    signed = 0
    with file_size_limit(log.stat().st_size + ROOM), pytest.raises(SignerRefused) as refused:
        for _ in range(100):
            center.sign(cred, "binance", ["private"], "GET", "account", {}, forward=True)
            signed += 1
    assert refused.value.reason == "audit_unavailable"
    assert 0 < signed < 100  # the room took some, then the log could not grow
    assert center.audit.seq == 1 + signed
    raw = log.read_bytes()
    assert raw.endswith(b"\n") and len(raw) == center.audit.file.end  # no half line left by the refused write
    assert center.sign(cred, "binance", ["private"], "GET", "account", {}, forward=True)["url"]
    center.close()
    result = verify(log, center.audit.checkpoint_key.public_key())
    assert result.ok and result.records == signed + 2


def test_a_checkpoint_that_cannot_be_made_durable_refuses_what_follows_until_it_can(tmp_path: Path) -> None:
    """A periodic checkpoint is made durable beside signing (its fsyncs on a thread of their own). When that
    fails (here the checkpoint copy file's disk is full), the next signature makes it again first and is refused
    while it still fails; then signing goes on, and the log and its copies verify."""
    center = SignCenter(SignerConfig(tmp_path, rate_per_credential=1e9, burst_per_credential=1e9,
                                     checkpoint_every=5, checkpoint_interval_s=600))  # by count only here
    cred = center.store_credential("o", "binance", "A" * 64, "B" * 64)["credential_id"]  # record 1
    copies = tmp_path / "audit-0.log.checkpoints"

    def sign() -> dict:
        return center.sign(cred, "binance", ["private"], "GET", "account", {}, forward=True)

    for _ in range(4):  # records 2-5: a checkpoint at 5
        sign()
    center.audit.flush()
    assert [json.loads(line)["seq"] for line in copies.read_bytes().splitlines()] == [5]
    with disk_full(center.audit.cp_fd):
        for _ in range(5):  # records 6-10: the checkpoint at 10 is written into the log, its copy cannot be
            sign()
        center.audit.flush()
        with pytest.raises(SignerRefused) as refused:
            sign()
        assert refused.value.reason == "audit_unavailable"
    assert center.audit.seq == 10
    assert sign()["url"]  # record 11, after the checkpoint at 10 was made durable
    center.close()  # and a last checkpoint at 11
    assert [json.loads(line)["seq"] for line in copies.read_bytes().splitlines()] == [5, 10, 11]
    result = verify(tmp_path / "audit-0.log", center.audit.checkpoint_key.public_key())
    assert result.ok and result.records == 11 and result.checkpoints == 3


def test_a_batch_that_cannot_be_written_signs_nothing_and_the_chain_stays_whole(tmp_path: Path) -> None:
    """Signatures answered together share one copy into the log: if it fails, every one of them is refused, and
    the chain goes on from where it stood (it still verifies)."""
    from cexlink.signer.protocol import Forwarder, Service

    center = small_center(tmp_path)
    service = Service(center, Forwarder())
    # KuCoin: its signature binds the whole request, so the Sign Center hands it out (Binance's it forwards).
    cred = center.store_credential("o", "kucoin", "a" * 24, "12345678-1234-1234-1234-123456789012",
                                   "passphrase")["credential_id"]
    args = {"credential_id": cred, "exchange": "kucoin", "api": ["private"], "method": "GET", "path": "accounts",
            "params": {}, "context": {}}
    batch = [{"id": i, "op": "sign", "args": args} for i in range(4)]
    with file_size_limit((tmp_path / "audit-0.log").stat().st_size + ROOM):
        for _ in range(10):
            seq = center.audit.seq
            answers = service.answer_many(batch)
            if not answers[0]["ok"]:
                break
            assert all(a["ok"] for a in answers)
    assert [a["error"]["reason"] for a in answers] == ["audit_unavailable"] * 4
    assert [a["id"] for a in answers] == [0, 1, 2, 3]
    assert center.audit.seq == seq > 1
    assert all(a["ok"] for a in service.answer_many(batch))
    center.close()
    result = verify(tmp_path / "audit-0.log", center.audit.checkpoint_key.public_key())
    assert result.ok and result.records == seq + 4


def test_a_running_signers_log_verifies_and_a_second_writer_is_refused(sandbox, new_key, tmp_path: Path) -> None:
    """While the Sign Center runs, its log ends with its last acknowledged record, whole, and ``audit verify``
    accepts it. A second process that would write the same chain is refused at start."""
    proc = start_signer(tmp_path, sandbox.url, name="live")
    client = SignerClient(socket_path=proc.socket)
    log = proc.data_dir / "audit-0.log"
    try:
        cred = store(client, new_key("binance"), "binance")
        for _ in range(3):
            client.forward(cred, "binance", ["private"], "GET", "account", {})
        assert log.read_bytes().endswith(b"\n")
        code, result = verify_cli(proc.data_dir)
        assert code == 0 and result["ok"] and result["records"] == 4
        for command in (["serve", "--socket", str(tmp_path / "second.sock")], ["rotate-kek"]):
            second = subprocess.run([sys.executable, "-m", "cexlink.cli", "signer", *command, "--data-dir",
                                     str(proc.data_dir)], capture_output=True, text=True, timeout=60,
                                    env={**os.environ, "COLUMNS": "300"})  # one line, however long
            assert second.returncode == 2
            assert "audit-0.log is open in another process" in second.stderr
            assert "Traceback" not in second.stderr
        assert client.forward(cred, "binance", ["private"], "GET", "account", {})["status"] == 200
    finally:
        client.close()
        proc.stop()
    code, result = verify_cli(proc.data_dir)
    assert code == 0 and result["records"] == 5 and result["checkpoints"] >= 1  # and one a second while it ran


CRASH_MID_COPY = """
import os, signal, sys
from pathlib import Path
from cexlink.signer.engine import SignCenter, SignerConfig
center = SignCenter(SignerConfig(Path(sys.argv[1]), rate_per_credential=1e9, burst_per_credential=1e9))
cred = center.store_credential("o", "binance", "A" * 64, "B" * 64)["credential_id"]
for _ in range(int(sys.argv[2])):
    center.sign(cred, "binance", ["private"], "GET", "account", {}, forward=True)
center.audit.file.append(b'{"action":"sign","credential_id":"' + cred.encode())  # the write stops here
os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_mid_copy(data_dir: Path, signed: int = 2) -> Path:
    """A Sign Center's process killed in the middle of writing its record after ``signed`` signatures; its audit
    log."""
    out = subprocess.run([sys.executable, "-c", CRASH_MID_COPY, str(data_dir), str(signed)], capture_output=True,
                         timeout=60)
    assert out.returncode == -9, out.stderr
    return data_dir / "audit-0.log"


def test_a_record_torn_by_a_crash_is_cut_at_the_next_start_and_the_cut_recorded(tmp_path: Path) -> None:
    """A process killed in the middle of writing a record (which it had not answered) leaves that record's
    first bytes. The next start cuts them, says so in a record, and the chain verifies."""
    log = _killed_mid_copy(tmp_path)
    raw = log.read_bytes()
    assert b'"credential_id":"cred_' in raw.rsplit(b"\n", 1)[1]
    center = SignCenter(SignerConfig(tmp_path))
    assert center.audit.seq == 4
    center.close()
    recs = [r for r in audit_records(log) if not r.get("checkpoint")]
    assert [r["action"] for r in recs] == ["intake", "forward", "forward", "recover"]
    assert recs[-1]["outcome"].startswith("torn_tail:")
    result = verify(log, center.audit.checkpoint_key.public_key())
    assert result.ok and result.records == 4


def test_a_hole_a_power_loss_left_is_found(audited: tuple) -> None:
    """After a power loss, pages of the log written since the last fsync may read back as NULs: ``audit
    verify`` reports the first record lost."""
    data_dir, log, _ = audited
    lines = log.read_bytes().split(b"\n")
    lines[3] = b"\0" * len(lines[3])
    log.write_bytes(b"\n".join(lines))
    code, result = verify_cli(data_dir)
    assert code == 1 and result["first_bad_seq"] == 4 and "not a complete record" in result["problem"]


def test_a_start_that_cannot_record_its_cut_changes_nothing_and_leaves_the_log_free(tmp_path: Path) -> None:
    """The cut of a torn tail and its ``recover`` record go together: when the log cannot grow for the record
    (a full disk), the start fails with a clear error, the torn bytes are back where they were, and the log is
    let go; the next start cuts the same tail and records it."""
    log = _killed_mid_copy(tmp_path, signed=250)  # a log longer than the store's files
    content = log.read_bytes()
    # No file may grow past the log's size: the store opens, the recover record (longer than the torn bytes)
    # does not fit.
    with file_size_limit(len(content)), pytest.raises(AuditUnavailable, match="audit-0.log is not writable"):
        SignCenter(SignerConfig(tmp_path))
    assert log.read_bytes() == content  # the torn record is still there, for the next start
    center = SignCenter(SignerConfig(tmp_path))  # not "open in another process": the failed start let it go
    center.close()
    recs = [r for r in audit_records(log) if not r.get("checkpoint")]
    assert [r["action"] for r in recs] == ["intake"] + ["forward"] * 250 + ["recover"]
    torn = content.rsplit(b"\n", 1)[1]
    assert torn.startswith(b'{"action":"sign"') and recs[-1]["outcome"] == f"torn_tail:{len(torn)}"
    assert verify(log, center.audit.checkpoint_key.public_key()).ok
