"""An attacker who can write the Sign Center's data directory, but does not hold its checkpoint key (kept outside
that directory), tries to rewrite the audit log. Each attack goes through the real files of a real Sign Center
(a process on its Unix socket, signing on the sandbox) and is judged by the real ``signer audit verify``.

Which need the anchor (the heads the API server fetched with ``audit_heads`` and keeps in its own database):
a chain rewritten with every checkpoint line and the copy removed, an emptied or deleted log, a log cut back
(with its copy) to an earlier checkpoint, a truncated copy. Without the anchor those look like a log that ended
earlier, and ``verify`` passes them (asserted below, so the limit stays visible). Edits, added fields,
forged checkpoints and a deleted copy fail without it.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cexlink.signer.audit import GENESIS, checkpoint_message, record_hash
from cexlink.signer.checkpoint_key import default_checkpoint_key_path
from cexlink.signer.client import SignerClient
from tests.support.signer import audit_records, checkpoint_public_key, start_signer, store, verify_cli

INTERVAL_S = 0.2


@dataclass
class Pristine:
    data_dir: Path
    key: Path  # the checkpoint key: outside the data directory, never copied into the attacker's
    heads: list[dict]


def _forward(client: SignerClient, cred: str, n: int) -> None:
    for i in range(n):
        client.forward(cred, "binance", ["private"], "GET", "myTrades", {"symbol": "BTCUSDT", "limit": i + 1})


@pytest.fixture(scope="module")
def pristine(sandbox, new_key, tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    """A Sign Center that took a key and forwarded six requests in two rounds, each followed by the timer's
    checkpoint (at record 7 the last); the API server's anchor fetched after; then killed (no closing
    checkpoint)."""
    tmp = tmp_path_factory.mktemp("audit-rewrite")
    proc = start_signer(tmp, sandbox.url, name="victim", extra=["--checkpoint-interval", str(INTERVAL_S)])
    client = SignerClient(socket_path=proc.socket)
    key = new_key("binance")
    try:
        cred = store(client, key, "binance")
        _forward(client, cred, 3)
        time.sleep(3 * INTERVAL_S)
        _forward(client, cred, 3)
        time.sleep(3 * INTERVAL_S)
        heads = client.audit_heads()["heads"]
    finally:
        client.close()
        proc.stop(kill=True)
    assert [(h["log"], h["seq"]) for h in heads] == [("audit-0.log", 7)]
    return Pristine(proc.data_dir, default_checkpoint_key_path(proc.data_dir), heads)


@dataclass
class Attack:
    data_dir: Path
    anchor: Path
    key: Path

    @property
    def log(self) -> Path:
        return self.data_dir / "audit-0.log"

    @property
    def copy(self) -> Path:
        return self.data_dir / "audit-0.log.checkpoints"

    def verify(self, anchored: bool = False) -> tuple[int, dict]:
        return verify_cli(self.data_dir, self.anchor if anchored else None, key=self.key)


@pytest.fixture
def attack(pristine: Pristine, tmp_path: Path) -> Attack:
    """The attacker's copy of the data directory; the anchor file (the API server's export) beside it."""
    data_dir = tmp_path / "data"
    shutil.copytree(pristine.data_dir, data_dir)
    anchor = tmp_path / "anchor.json"
    anchor.write_text(json.dumps({"heads": pristine.heads}))
    return Attack(data_dir, anchor, pristine.key)


def write(path: Path, items: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in items))


def rehash(items: list[dict]) -> list[dict]:
    """Every record's prev and hash recomputed in order, as an attacker without any key can."""
    prev = GENESIS
    for r in items:
        if not r.get("checkpoint"):
            r["prev"] = prev
            r["hash"] = prev = record_hash(prev, {k: v for k, v in r.items() if k != "hash"})
    return items


def records_only(log: Path) -> list[dict]:
    return [r for r in audit_records(log) if not r.get("checkpoint")]


def fails(result: tuple[int, dict], *words: str) -> None:
    code, out = result
    assert code == 1 and not out["ok"], out
    assert all(w in out["problem"] for w in words), out["problem"]


def passes(result: tuple[int, dict]) -> dict:
    code, out = result
    assert code == 0 and out["ok"], out
    return out


def test_the_untouched_log_passes_with_and_without_the_anchor(attack: Attack) -> None:
    out = passes(attack.verify())
    assert out["records"] == 7 and out["checkpoints"] >= 2
    assert passes(attack.verify(anchored=True))["anchored"] == 7


def test_a_chain_rehashed_with_its_checkpoints_and_copy_removed_needs_the_anchor(attack: Attack) -> None:
    recs = records_only(attack.log)
    recs[1]["outcome"] = "refused"  # a forwarded request made to look refused
    write(attack.log, rehash(recs))
    attack.copy.unlink()
    passes(attack.verify())  # consistent, and nothing left that was signed
    fails(attack.verify(anchored=True), "rewritten")


def test_an_emptied_log_needs_the_anchor(attack: Attack) -> None:
    attack.log.write_bytes(b"")
    attack.copy.write_bytes(b"")
    passes(attack.verify())
    fails(attack.verify(anchored=True), "ends at record 0", "truncated or emptied")


def test_a_deleted_log_is_found_by_the_anchor(attack: Attack) -> None:
    attack.log.unlink()
    attack.copy.unlink()
    fails(attack.verify(anchored=True), "audit-0.log is missing")


def test_a_log_cut_back_to_an_earlier_checkpoint_with_its_copy_needs_the_anchor(attack: Attack) -> None:
    items = audit_records(attack.log)
    first = next(i for i, r in enumerate(items) if r.get("checkpoint"))
    write(attack.log, items[:first + 1])
    attack.copy.write_bytes(attack.copy.read_bytes().splitlines(keepends=True)[0])
    seq = items[first]["seq"]
    assert seq < 7 and passes(attack.verify())["records"] == seq
    fails(attack.verify(anchored=True), f"ends at record {seq}", "anchored checkpoint at record 7")


def test_an_edited_record_the_timer_checkpointed_fails_even_after_a_crash(attack: Attack) -> None:
    """The last record of a killed Sign Center: under count-only checkpoints no signature covered it. The
    timer's checkpoint did, so rehashing it is caught without the anchor; dropping that checkpoint from the log
    and its copy too is caught by the anchor."""
    items = audit_records(attack.log)
    last = max(i for i, r in enumerate(items) if not r.get("checkpoint"))
    assert any(r.get("checkpoint") and r["seq"] == items[last]["seq"] for r in items[last:])
    items[last]["outcome"] = "forged"
    write(attack.log, rehash(items))
    fails(attack.verify(), "does not match the chain")

    write(attack.log, [r for r in items if not (r.get("checkpoint") and r["seq"] == 7)])
    copies = [json.loads(line) for line in attack.copy.read_bytes().splitlines()]
    write(attack.copy, [c for c in copies if c["seq"] != 7])
    passes(attack.verify())
    fails(attack.verify(anchored=True), "rewritten")


@pytest.mark.parametrize("where", ["record", "record rehashed", "checkpoint", "record twice"])
def test_a_field_outside_the_schema_fails(attack: Attack, where: str) -> None:
    items = audit_records(attack.log)
    if where == "checkpoint":
        target = next(r for r in items if r.get("checkpoint"))
        target["note"] = "added"
        write(attack.log, items)
        fails(attack.verify(), "fields outside the schema")
        return
    if where == "record twice":  # the same field given twice: JSON parsers keep one, the hash covers one
        raw = attack.log.read_bytes().rstrip(b"\0")
        forwarded = raw.replace(b'"outcome":"ok"', b'"outcome":"refused","outcome":"ok"', 1)
        assert forwarded != raw
        attack.log.write_bytes(forwarded)
        fails(attack.verify(), "gives a field twice")
        return
    recs = records_only(attack.log)
    recs[2]["approved_by"] = "admin"  # a field the hash would not cover, were it not refused
    if where == "record rehashed":
        prev = GENESIS
        for r in recs:
            r["prev"] = prev
            r["hash"] = prev = record_hash(prev, {k: v for k, v in r.items() if k != "hash"})
    write(attack.log, [*recs, *[r for r in audit_records(attack.log) if r.get("checkpoint")]])
    fails(attack.verify(), "record 3 has fields outside the schema", "approved_by")


def test_checkpoints_forged_with_a_key_written_into_the_data_dir_fail(attack: Attack) -> None:
    """The attacker rewrites the chain and signs every checkpoint (log and copy) with a key of their own, put
    where the old Sign Center kept its key (signer-keys.json) and as a key file in the data dir: verify checks
    against the public key it is given, never one from there."""
    forged = Ed25519PrivateKey.generate()
    keys_file = attack.data_dir / "signer-keys.json"
    keys = json.loads(keys_file.read_text())
    keys["checkpoint"] = base64.b64encode(forged.private_bytes_raw()).decode()
    keys_file.write_text(json.dumps(keys))

    items = audit_records(attack.log)
    items[1]["outcome"] = "refused"
    rehash(items)
    head = {}
    for r in items:
        if r.get("checkpoint"):
            r["hash"] = head[r["seq"]]
            r["sig"] = base64.b64encode(forged.sign(checkpoint_message(r["seq"], r["hash"], r["time"]))).decode()
        else:
            head[r["seq"]] = r["hash"]
    write(attack.log, items)
    write(attack.copy, [r for r in items if r.get("checkpoint")])
    fails(attack.verify(), "bad signature")
    fails(attack.verify(anchored=True), "bad signature")

    # Without a public key verify does not fall back on anything in the data directory: a usage error.
    out = subprocess.run([sys.executable, "-m", "cexlink.cli", "signer", "audit", "verify", "--data-dir",
                          str(attack.data_dir)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--public-key" in out.stderr


def test_a_deleted_copy_fails_and_a_truncated_one_needs_the_anchor(attack: Attack) -> None:
    saved = attack.copy.read_bytes()
    attack.copy.unlink()
    fails(attack.verify(), "checkpoint copy", "missing")
    fails(attack.verify(anchored=True), "checkpoint copy", "missing")

    lines = saved.splitlines(keepends=True)
    attack.copy.write_bytes(b"".join(lines[:-1]))  # a crash between the log's fsync and the copy looks so
    passes(attack.verify())
    fails(attack.verify(anchored=True), "absent from the checkpoint copy")


def test_checkpoint_lines_removed_from_the_log_are_found(attack: Attack) -> None:
    write(attack.log, records_only(attack.log))
    fails(attack.verify(), "in the copy is not in the log")
    attack.copy.unlink()  # and the copy with them: the records are intact, but the anchored head is gone
    passes(attack.verify())
    fails(attack.verify(anchored=True), "anchored checkpoint at record 7 is absent from the log")


def test_a_forged_anchor_head_is_not_trusted(attack: Attack) -> None:
    heads = json.loads(attack.anchor.read_text())["heads"]
    heads[0]["hash"] = "f" * 64
    attack.anchor.write_text(json.dumps({"heads": heads}))
    fails(attack.verify(anchored=True), "not signed by the checkpoint key")


def test_the_checkpoint_key_is_refused_inside_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    out = subprocess.run([sys.executable, "-m", "cexlink.cli", "signer", "serve", "--socket",
                          str(tmp_path / "s.sock"), "--data-dir", str(data_dir), "--checkpoint-key",
                          str(data_dir / "sub" / ".." / "checkpoint.key")], capture_output=True, text=True,
                         timeout=60, env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 2 and "inside the data directory" in out.stderr, out.stderr
    assert not (data_dir / "checkpoint.key").exists() and not (tmp_path / "s.sock").exists()


def test_an_old_data_dir_keeps_working_and_its_old_key_signs_nothing(sandbox, new_key, tmp_path: Path) -> None:
    """signer-keys.json from before holds the checkpoint key beside the log: the Sign Center still starts on
    it (same pepper and audit MAC key) and signs checkpoints with the key outside; the old one verifies none."""
    data_dir = tmp_path / "old-data"
    data_dir.mkdir(mode=0o700)
    old = Ed25519PrivateKey.generate()
    (data_dir / "signer-keys.json").write_text(json.dumps({
        "pepper": base64.b64encode(b"p" * 32).decode(), "audit_mac": base64.b64encode(b"m" * 32).decode(),
        "checkpoint": base64.b64encode(old.private_bytes_raw()).decode()}))
    (data_dir / "signer-keys.json").chmod(0o600)
    proc = start_signer(tmp_path, sandbox.url, name="old", data_dir=data_dir)
    client = SignerClient(socket_path=proc.socket)
    try:
        cred = store(client, new_key("binance"), "binance")
        _forward(client, cred, 2)
    finally:
        client.close()
        proc.stop()
    assert json.loads((data_dir / "signer-keys.json").read_text())["pepper"] == base64.b64encode(b"p" * 32).decode()
    assert passes(verify_cli(data_dir))["records"] == 3
    old_public = base64.b64encode(old.public_key().public_bytes_raw()).decode()
    out = subprocess.run([sys.executable, "-m", "cexlink.cli", "signer", "audit", "verify", "--data-dir",
                          str(data_dir), "--public-key", old_public], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "bad signature" in json.loads(out.stdout.splitlines()[0])["problem"]
    # The public key as `signer checkpoint-key public` prints it is the one verify_cli used.
    printed = subprocess.run([sys.executable, "-m", "cexlink.cli", "signer", "checkpoint-key", "public",
                              "--checkpoint-key", str(default_checkpoint_key_path(data_dir))],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0 and printed.stdout.strip() == checkpoint_public_key(data_dir)


def test_while_signing_goes_on_no_record_waits_longer_than_the_interval(sandbox, new_key, tmp_path: Path) -> None:
    """A running Sign Center with a 0.2 s interval, forwarding for about 1.5 s, then idle: every record is
    covered by a checkpoint made at most 0.2 s after it (by the append that found it due, or by the timer once
    signing stopped), and ``audit_heads`` moves along meanwhile."""
    proc = start_signer(tmp_path, sandbox.url, name="interval", extra=["--checkpoint-interval", str(INTERVAL_S),
                                                                        "--rate-per-credential", "10000",
                                                                        "--burst-per-credential", "10000"])
    client = SignerClient(socket_path=proc.socket)
    seen: list[int] = []
    try:
        cred = store(client, new_key("binance"), "binance")
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            _forward(client, cred, 5)
            seen += [h["seq"] for h in client.audit_heads()["heads"]]
        time.sleep(3 * INTERVAL_S)  # signing stopped: the timer covers the last records
        log = proc.data_dir / "audit-0.log"
        items = audit_records(log)  # read while it runs: no closing checkpoint helps
        final = client.audit_heads()["heads"]
    finally:
        client.close()
        proc.stop()
    checkpoints = [r for r in items if r.get("checkpoint")]
    records = [r for r in items if not r.get("checkpoint")]
    assert len(records) > 20 and len(checkpoints) >= 5
    waits = []
    for r in records:
        covering = next(c for c in checkpoints if c["seq"] >= r["seq"])
        waits.append(covering["time"] - r["time"])
    assert max(waits) <= INTERVAL_S * 1000, sorted(waits)[-5:]
    assert len(set(seen)) >= 4 and seen == sorted(seen)  # the anchor's head advanced while signing went on
    assert final[0]["seq"] == records[-1]["seq"]
