"""Write-only intake: pasted-key hygiene with precise messages, and durability of acknowledged credentials."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cexlink.errors import InputError, SignerUnavailable
from cexlink.signer.client import SignerClient
from cexlink.signer.hygiene import clean
from tests.support.signer import audit_records, start_signer, verify_cli

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


@pytest.mark.parametrize("pasted, message", [
    (KEY[:10] + "\u200b" + KEY[10:], "character 11 is an invisible character (U+200B ZERO WIDTH SPACE)"),
    (KEY[:20] + " " + KEY[20:], "character 21 is a space (U+0020 SPACE)"),
    (KEY[:5] + "\u0430" + KEY[6:], "character 6 is a non-ASCII character (U+0430 CYRILLIC SMALL LETTER A)"),
    (KEY[:30] + "\u00a0" + KEY[30:], "character 31 is a space (U+00A0 NO-BREAK SPACE)"),
    (KEY[:-3], "has 61 characters; a binance api_key is 64 letters and digits"),
    (KEY[:7] + "_" + KEY[8:], "character 8 is a character not used in these keys (U+005F)"),
])
def test_pasted_key_problems_name_field_position_and_fix(client: SignerClient, pasted: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        client.store("owner", "binance", pasted, SECRET)
    assert err.value.field == "api_key"
    assert message in err.value.message and "copy it again with the exchange's copy button" in err.value.message
    assert KEY[:12] not in str(err.value)  # the message never quotes the key


def test_surrounding_whitespace_is_trimmed(client: SignerClient) -> None:
    stored = client.store("owner", "binance", f"  {KEY}\n", f"\t{SECRET} ")
    assert stored["masked_key"] == "vmPU…Eh8A"
    assert stored["key_fingerprint"].startswith("kf_")


def test_each_field_and_exchange_has_its_rules(client: SignerClient) -> None:
    with pytest.raises(InputError) as err:
        client.store("owner", "okx", "0f9b3c2e-5d1a-4e8b-9c7d-2a1b3c4d5e6f", "3F7A9C2E5B1D4F6A8C0E2B4D6F8A0C1E")
    assert err.value.field == "passphrase" and "required" in err.value.message
    with pytest.raises(InputError) as err:
        client.store("owner", "okx", "0f9b3c2e-5d1a-4e8b-9c7d-2a1b3c4d5e6f", "3f7a9c2e5b1d4f6a8c0e2b4d6f8a0c1e",
                     "pp-123456")
    assert err.value.field == "secret" and "32 hexadecimal digits" in err.value.message
    with pytest.raises(InputError) as err:
        client.store("owner", "notanexchange", KEY, SECRET)
    assert err.value.field == "exchange"
    with pytest.raises(InputError) as err:
        client.store("", "binance", KEY, SECRET)
    assert err.value.field == "owner"


def test_fingerprint_is_keyed_and_stable(client: SignerClient) -> None:
    a = client.store("owner-a", "binance", KEY, SECRET)
    b = client.store("owner-b", "binance", KEY, SECRET)
    assert a["key_fingerprint"] == b["key_fingerprint"]  # the app can see the same key used twice
    assert KEY not in a["key_fingerprint"] and len(a["key_fingerprint"]) == 43
    import hashlib

    assert a["key_fingerprint"][3:] != hashlib.sha256(KEY.encode()).hexdigest()[:40]  # not a bare hash


def test_clean_unit() -> None:
    assert clean("bybit", "api_key", " Xk3pQ9rT2vLm8NwZ4a ") == "Xk3pQ9rT2vLm8NwZ4a"
    assert clean("okx", "passphrase", None, required=False) is None


def test_sigkill_during_an_intake_burst_keeps_every_acknowledged_credential(sandbox, tmp_path: Path) -> None:
    proc = start_signer(tmp_path, sandbox.url, name="burst")
    acknowledged: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        c = SignerClient(socket_path=proc.socket)
        try:
            for i in range(10_000):
                key = f"{n:02d}{i:06d}".ljust(64, "K")
                cred = c.store(f"burst-{n}", "binance", key, SECRET)["credential_id"]
                with lock:
                    acknowledged.append(cred)
        except SignerUnavailable:
            pass
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(acknowledged) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.stop(kill=True)  # SIGKILL mid-burst
    for t in threads:
        t.join(timeout=30)
    assert len(acknowledged) >= 50
    # The audit log as the kill left it: every acknowledged intake is in it.
    log = proc.data_dir / "audit-0.log"
    assert set(acknowledged) <= {r["credential_id"] for r in audit_records(log) if r.get("action") == "intake"}
    proc = start_signer(tmp_path, sandbox.url, name="burst", data_dir=proc.data_dir)
    c = SignerClient(socket_path=proc.socket)
    try:
        for cred in acknowledged:
            assert c.describe(cred)["status"] == "active"
        # Each opens, is signed and is sent (the exchange knows none of these made-up keys, and says so).
        sent = [c.forward(cred, "binance", ["private"], "GET", "account", {}) for cred in acknowledged[:20]]
        assert all(s["status"] == 401 and '"code":-2015' in s["body"] for s in sent)
    finally:
        c.close()
        proc.stop()
    code, result = verify_cli(proc.data_dir)
    assert code == 0, result  # the chain goes on across the kill
    assert result["records"] >= len(acknowledged) + 20
