"""The audit log: every intake, signature, refusal and revocation is a hash-chained record written before the
answer; ``cexlink signer audit verify`` finds the first edited, removed or reordered record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cexlink.errors import SignerRefused
from cexlink.signer.audit import GENESIS, record_hash
from cexlink.signer.client import SignerClient
from cexlink.signer.engine import SignCenter, SignerConfig
from signer_support import start_signer, store


@pytest.fixture
def audited(sandbox, new_key, tmp_path: Path) -> tuple[Path, Path, dict]:
    """A signer that stored, signed, refused and revoked; stopped (so its last checkpoint is written)."""
    proc = start_signer(tmp_path, sandbox.url, name="audit")
    client = SignerClient(socket_path=proc.socket)
    key = new_key("binance")
    try:
        cred = store(client, key, "binance")
        for i in range(5):
            client.sign(cred, "binance", ["private"], "GET", "myTrades", {"symbol": "BTCUSDT", "n": i})
        with pytest.raises(SignerRefused):
            client.sign(cred, "binance", ["sapi"], "POST", "capital/withdraw/apply", {"amount": "1"})
        client.revoke(cred)
    finally:
        client.close()
        proc.stop()
    return proc.data_dir, proc.data_dir / "audit-0.log", key


def verify_cli(data_dir: Path) -> tuple[int, dict]:
    out = subprocess.run([sys.executable, "-m", "cexlink.cli", "signer", "audit", "verify", "--data-dir",
                          str(data_dir)], capture_output=True, text=True, timeout=60)
    return out.returncode, json.loads(out.stdout.splitlines()[0])


def records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def write(log: Path, recs: list[dict]) -> None:
    log.write_text("".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in recs))


def test_records_say_what_happened_without_secrets(audited: tuple) -> None:
    data_dir, log, key = audited
    recs = [r for r in records(log) if not r.get("checkpoint")]
    assert [r["action"] for r in recs] == ["intake"] + ["sign"] * 5 + ["refuse", "revoke"]
    assert recs[6]["outcome"] == "withdrawal_forbidden" and recs[6]["path"] == "capital/withdraw/apply"
    assert len({r["params_mac"] for r in recs[1:6]}) == 5  # a keyed hash per request, not the parameters
    text = log.read_text()
    assert key["secret"] not in text and key["api_key"] not in text and "BTCUSDT" not in text
    code, result = verify_cli(data_dir)
    assert code == 0 and result["ok"] and result["records"] == 8 and result["checkpoints"] == 1


def test_an_edited_record_is_found(audited: tuple) -> None:
    data_dir, log, _ = audited
    recs = records(log)
    recs[3]["outcome"] = "ok-but-different"
    write(log, recs)
    code, result = verify_cli(data_dir)
    assert code == 1 and result["first_bad_seq"] == 4 and "edited" in result["problem"]


def test_a_removed_record_is_found(audited: tuple) -> None:
    data_dir, log, _ = audited
    recs = records(log)
    del recs[2]
    write(log, recs)
    code, result = verify_cli(data_dir)
    assert code == 1 and result["first_bad_seq"] == 3 and "missing" in result["problem"]


def test_swapped_records_are_found(audited: tuple) -> None:
    data_dir, log, _ = audited
    recs = records(log)
    recs[2], recs[3] = recs[3], recs[2]
    write(log, recs)
    code, result = verify_cli(data_dir)
    assert code == 1 and result["first_bad_seq"] in (3, 4)


def test_a_rewritten_chain_is_caught_by_the_signed_checkpoint(audited: tuple) -> None:
    """Editing a record and recomputing every hash after it still fails: the checkpoint signature covers the
    head, and the attacker does not hold the checkpoint key."""
    data_dir, log, _ = audited
    recs = [r for r in records(log) if not r.get("checkpoint")]
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
    write(log, [r for r in records(log) if not r.get("checkpoint")][:4])
    code, result = verify_cli(data_dir)
    assert code == 1 and "removed" in result["problem"]


def test_no_audit_no_signature(tmp_path: Path) -> None:
    """Fail closed: when the record cannot be written, the caller gets a refusal, not a signature."""
    center = SignCenter(SignerConfig(tmp_path))
    cred = center.store_credential("o", "binance", "A" * 64, "B" * 64)["credential_id"]
    import os

    os.close(center.audit.fd)
    center.audit.fd = os.open(os.devnull, os.O_RDONLY)  # writes now fail
    with pytest.raises(SignerRefused) as refused:
        center.sign(cred, "binance", ["private"], "GET", "account", {})
    assert refused.value.reason == "audit_unavailable"


def test_a_batch_that_cannot_be_written_signs_nothing_and_the_chain_stays_whole(tmp_path: Path) -> None:
    """Signatures answered together share one write: if it fails, every one of them is refused, and the chain
    goes on from where it stood (it still verifies)."""
    import os

    from cexlink.signer.audit import verify
    from cexlink.signer.protocol import Forwarder, Service

    center = SignCenter(SignerConfig(tmp_path, rate_per_credential=1e9, burst_per_credential=1e9))
    service = Service(center, Forwarder())
    cred = center.store_credential("o", "binance", "A" * 64, "B" * 64)["credential_id"]
    args = {"credential_id": cred, "exchange": "binance", "api": ["private"], "method": "GET", "path": "account",
            "params": {}, "context": {}}
    batch = [{"id": i, "op": "sign", "args": args} for i in range(4)]
    assert all(a["ok"] for a in service.answer_many(batch))
    seq = center.audit.seq
    good_fd = center.audit.fd
    center.audit.fd = os.open(os.devnull, os.O_RDONLY)  # writes now fail
    answers = service.answer_many(batch)
    assert [a["error"]["reason"] for a in answers] == ["audit_unavailable"] * 4
    assert [a["id"] for a in answers] == [0, 1, 2, 3]
    assert center.audit.seq == seq
    os.close(center.audit.fd)
    center.audit.fd = good_fd
    assert all(a["ok"] for a in service.answer_many(batch))
    center.close()
    result = verify(tmp_path / "audit-0.log", center.secrets.checkpoint_key.public_key())
    assert result.ok and result.records == seq + 4
