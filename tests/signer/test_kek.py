"""KEK providers: the same behaviour from the key file and from a PKCS#11 token (SoftHSM2), plus what only a
token can promise (keys that never leave it, state shared by processes through the token)."""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pkcs11
import pytest
from cryptography.exceptions import InvalidTag
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.exceptions import AttributeSensitive, KeyUnextractable, PKCS11Error

from cexlink.signer.engine import SignCenter, SignerConfig
from cexlink.signer.kek import KekError, KekProvider, KekRetired
from cexlink.signer.keystore import Binding, SealBroken, open_sealed, seal
from cexlink.signer.pkcs11kek import Pkcs11Kek, WrappedKeyInvalid, load_pin

if TYPE_CHECKING:
    from tests.support.softhsm import SoftHsmToken

ALNUM = string.ascii_letters + string.digits
TAMPERED = (InvalidTag, ValueError)  # the key file raises InvalidTag, the token WrappedKeyInvalid (a ValueError)


def _alnum(n: int) -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(n))


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


# ---- the same tests on both providers ----

def test_round_trip(kek_provider: KekProvider) -> None:
    dek = os.urandom(32)
    version, wrapped = kek_provider.wrap(dek)
    assert (version, kek_provider.current, kek_provider.min_version) == (1, 1, 1)
    assert dek not in wrapped and len(wrapped) == 12 + 32 + 16  # IV || ciphertext || tag
    assert kek_provider.unwrap(version, wrapped) == dek
    assert kek_provider.wrap(dek)[1] != wrapped  # a fresh IV every time


def test_old_version_unwraps_after_rotate(kek_provider: KekProvider) -> None:
    dek = os.urandom(32)
    v1, wrapped = kek_provider.wrap(dek)
    assert kek_provider.rotate() == 2
    assert (kek_provider.current, kek_provider.min_version) == (2, 1)
    assert kek_provider.unwrap(v1, wrapped) == dek
    v2, wrapped2 = kek_provider.wrap(dek)
    assert v2 == 2 and kek_provider.unwrap(v2, wrapped2) == dek


@pytest.mark.parametrize("where", ["iv", "ciphertext", "tag"])
def test_tampered_wrapped_key_is_refused(kek_provider: KekProvider, where: str) -> None:
    version, wrapped = kek_provider.wrap(os.urandom(32))
    i = {"iv": 3, "ciphertext": 20, "tag": len(wrapped) - 1}[where]
    with pytest.raises(TAMPERED):
        kek_provider.unwrap(version, _flip(wrapped, i))


def test_wrapped_key_is_bound_to_its_version(kek_provider: KekProvider) -> None:
    version, wrapped = kek_provider.wrap(os.urandom(32))
    kek_provider.rotate()
    with pytest.raises(TAMPERED):  # the version is in the AAD: relabelling a wrapped key does not open it
        kek_provider.unwrap(version + 1, wrapped)
    with pytest.raises(TAMPERED):
        kek_provider.unwrap(version, wrapped[:20])


def test_tampered_wrapped_key_is_a_broken_seal(kek_provider: KekProvider) -> None:
    binding = Binding("cred_1", "user-1", "binance", 1)
    sealed = seal(kek_provider, binding, {"api_key": "k", "secret": "s", "passphrase": None})
    assert open_sealed(kek_provider, binding, sealed)["secret"] == "s"
    bad = type(sealed)(sealed.kek_version, _flip(sealed.wrapped_dek, 30), sealed.nonce, sealed.ciphertext)
    with pytest.raises(SealBroken):
        open_sealed(kek_provider, binding, bad)


def test_retire_below_current_refuses_old_wraps(kek_provider: KekProvider) -> None:
    dek = os.urandom(32)
    v1, wrapped = kek_provider.wrap(dek)
    current = kek_provider.rotate()
    v2, wrapped2 = kek_provider.wrap(dek)
    kek_provider.retire_below(current)
    assert kek_provider.min_version == current == kek_provider.current
    with pytest.raises(KekRetired):
        kek_provider.unwrap(v1, wrapped)
    assert kek_provider.unwrap(v2, wrapped2) == dek
    with pytest.raises(KekError):
        kek_provider.retire_below(current + 1)  # never the current version
    with pytest.raises(KekError):
        kek_provider.unwrap(current + 5, wrapped2)  # a version that never existed


def test_second_instance_sees_rotation(kek_provider: KekProvider,
                                       reopen_kek: Callable[[KekProvider], KekProvider]) -> None:
    dek = os.urandom(32)
    v1, wrapped = kek_provider.wrap(dek)
    kek_provider.rotate()
    kek_provider.rotate()
    other = reopen_kek(kek_provider)
    assert (other.current, other.min_version) == (3, 1)
    assert other.unwrap(v1, wrapped) == dek
    kek_provider.retire_below(3)
    again = reopen_kek(kek_provider)
    assert (again.current, again.min_version) == (3, 3)
    with pytest.raises(KekRetired):
        again.unwrap(v1, wrapped)


def test_sign_center_rotates_and_still_signs(kek_provider: KekProvider, tmp_path: Path) -> None:
    config = SignerConfig(data_dir=tmp_path / "signer", rate_per_credential=1e9, burst_per_credential=1e9)
    sc = SignCenter(config, kek=kek_provider)
    try:
        api_key, secret = _alnum(64), _alnum(64)
        cred = sc.store_credential("user-1", "binance", api_key, secret)["credential_id"]
        first = sc.sign(cred, "binance", ["private"], "GET", "account", {}, forward=True)
        assert first["headers"]["X-MBX-APIKEY"] == api_key and "signature=" in first["url"]
        assert sc.describe(cred)["kek_version"] == 1
        old = sc.store.get(cred)
        assert old is not None and old.sealed is not None

        result = sc.rotate_kek(retire_old=True)
        assert result["kek_version"] == 2 and result["rewrapped"] == 1 and result["min_version"] == 2
        assert sc.describe(cred)["kek_version"] == 2
        again = sc.sign(cred, "binance", ["private"], "GET", "account", {}, forward=True)
        assert again["headers"]["X-MBX-APIKEY"] == api_key and "signature=" in again["url"]
        with pytest.raises(KekRetired):  # the v1-wrapped copy of the data key is dead
            kek_provider.unwrap(old.sealed.kek_version, old.sealed.wrapped_dek)
        for blob in [result, sc.describe(cred), again]:
            assert secret not in repr(blob)
    finally:
        sc.close()


def test_concurrent_wrap_unwrap(kek_provider: KekProvider) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(30):
                dek = os.urandom(32)
                assert kek_provider.unwrap(*kek_provider.wrap(dek)) == dek
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    rotated = kek_provider.rotate()
    for t in threads:
        t.join()
    assert errors == [] and kek_provider.current == rotated


# ---- what only the token promises ----

def _token_keys(token: SoftHsmToken, kek: Pkcs11Kek) -> list[dict[Attribute, object]]:
    """Read the KEK objects as anyone holding the PIN could (this process is logged in through the provider)."""
    tok = pkcs11.lib(token.lib_path).get_token(token_label=token.label)
    with tok.open() as session:
        keys = [k for k in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})
                if k.label.startswith(kek.prefix + "-v")]
        out = []
        for key in keys:
            attrs = key.get_attributes([Attribute.LABEL, Attribute.SENSITIVE, Attribute.EXTRACTABLE,
                                        Attribute.ALWAYS_SENSITIVE, Attribute.NEVER_EXTRACTABLE, Attribute.TOKEN,
                                        Attribute.VALUE_LEN])
            with pytest.raises(AttributeSensitive):  # the token will not say the value
                key[Attribute.VALUE]
            wrapper = session.generate_key(KeyType.AES, 256)
            with pytest.raises(KeyUnextractable):  # nor hand it out wrapped under another key
                wrapper.wrap_key(key)
            with pytest.raises(PKCS11Error):  # and the flags cannot be relaxed
                key[Attribute.EXTRACTABLE] = True
            out.append(attrs)
        return out


def test_kek_material_never_leaves_the_token(softhsm_token: SoftHsmToken, softhsm_kek: Pkcs11Kek) -> None:
    softhsm_kek.rotate()
    keys = _token_keys(softhsm_token, softhsm_kek)
    assert sorted(str(k[Attribute.LABEL]) for k in keys) == [f"{softhsm_kek.prefix}-v1", f"{softhsm_kek.prefix}-v2"]
    for attrs in keys:
        assert attrs[Attribute.SENSITIVE] and attrs[Attribute.ALWAYS_SENSITIVE] and attrs[Attribute.TOKEN]
        assert not attrs[Attribute.EXTRACTABLE] and attrs[Attribute.NEVER_EXTRACTABLE]
        assert attrs[Attribute.VALUE_LEN] == 32  # AES-256


def test_retire_destroys_the_key_objects(softhsm_token: SoftHsmToken, softhsm_kek: Pkcs11Kek) -> None:
    softhsm_kek.rotate()
    softhsm_kek.rotate()
    softhsm_kek.retire_below(3)
    labels = [str(k[Attribute.LABEL]) for k in _token_keys(softhsm_token, softhsm_kek)]
    assert labels == [f"{softhsm_kek.prefix}-v3"]


def test_another_process_sees_the_token_state(softhsm_token: SoftHsmToken, softhsm_kek: Pkcs11Kek) -> None:
    dek = os.urandom(32)
    v1, wrapped = softhsm_kek.wrap(dek)
    softhsm_kek.rotate()
    child = (
        "import sys\n"
        "from cexlink.signer.pkcs11kek import Pkcs11Kek\n"
        "k = Pkcs11Kek(sys.argv[1], sys.argv[2], sys.stdin.readline().strip(), sys.argv[3])\n"
        "assert k.unwrap(int(sys.argv[4]), bytes.fromhex(sys.argv[5])).hex() == sys.argv[6]\n"
        "print(k.current, k.min_version, k.rotate())\n"
    )
    out = subprocess.run([sys.executable, "-c", child, softhsm_token.lib_path, softhsm_token.label,
                          softhsm_kek.prefix, str(v1), wrapped.hex(), dek.hex()],
                         input=softhsm_token.user_pin + "\n", env=softhsm_token.env(), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "1", "3"]
    assert softhsm_kek.current == 3  # the child's rotation, seen through the token


def test_duplicate_version_from_a_racing_rotation_is_harmless(softhsm_token: SoftHsmToken,
                                                             softhsm_kek: Pkcs11Kek) -> None:
    """Two processes that rotate at once may both create ``-v2``; both copies must keep working."""
    dek = os.urandom(32)
    softhsm_kek.rotate()
    mine = softhsm_kek.wrap(dek)
    tok = pkcs11.lib(softhsm_token.lib_path).get_token(token_label=softhsm_token.label)
    with tok.open(rw=True) as session:  # the racer's copy, made as the provider makes its keys
        racer = session.generate_key(KeyType.AES, 256, id=os.urandom(16), label=f"{softhsm_kek.prefix}-v2",
                                     store=True, template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
        nonce = os.urandom(12)
        params = pkcs11.GCMParams(nonce, b"cexlink-kek:v2", 128)
        theirs = (2, nonce + racer.encrypt(dek, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=params))
    assert softhsm_kek.current == 2
    assert softhsm_kek.unwrap(*mine) == dek and softhsm_kek.unwrap(*theirs) == dek
    assert softhsm_kek.unwrap(*softhsm_kek.wrap(dek)) == dek
    softhsm_kek.rotate()
    softhsm_kek.retire_below(3)  # both copies go
    for wrapped in (mine, theirs):
        with pytest.raises(KekRetired):
            softhsm_kek.unwrap(*wrapped)


def test_works_after_fork(softhsm_kek: Pkcs11Kek) -> None:
    dek = os.urandom(32)
    wrapped = softhsm_kek.wrap(dek)
    pid = os.fork()
    if pid == 0:  # child: the parent's session is not valid here; the provider must set itself up again
        code = 1
        try:
            code = 0 if softhsm_kek.unwrap(*wrapped) == dek and softhsm_kek.rotate() == 2 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert softhsm_kek.current == 2 and softhsm_kek.unwrap(*wrapped) == dek


# ---- the PIN ----

def _chain(e: BaseException | None) -> str:
    parts = []
    while e is not None:
        parts.append(f"{e!s} {e!r}")
        e = e.__cause__ or e.__context__
    return " ".join(parts)


def test_no_pin_in_any_message(softhsm_token: SoftHsmToken, softhsm_kek: Pkcs11Kek) -> None:
    pin = softhsm_token.user_pin
    messages = [repr(softhsm_kek), str(softhsm_kek)]
    with pytest.raises(KekError) as wrong_pin:
        Pkcs11Kek(softhsm_token.lib_path, softhsm_token.label, pin[::-1], softhsm_kek.prefix)
    with pytest.raises(KekError) as no_token:
        Pkcs11Kek(softhsm_token.lib_path, "no-such-token", pin)
    v, wrapped = softhsm_kek.wrap(os.urandom(32))
    with pytest.raises(WrappedKeyInvalid) as tampered:
        softhsm_kek.unwrap(v, _flip(wrapped, 15))
    softhsm_kek.rotate()
    softhsm_kek.retire_below(2)
    with pytest.raises(KekRetired) as retired:
        softhsm_kek.unwrap(v, wrapped)
    for info in (wrong_pin, no_token, tampered, retired):
        messages.append(_chain(info.value))
    assert "PinIncorrect" in _chain(wrong_pin.value)
    assert pin not in " ".join(messages) and pin[::-1] not in " ".join(messages)


def test_wrong_pin_in_a_fresh_process_is_refused_by_the_token(softhsm_token: SoftHsmToken,
                                                               softhsm_kek: Pkcs11Kek) -> None:
    child = (
        "import sys, traceback\n"
        "from cexlink.signer.pkcs11kek import Pkcs11Kek, KekError\n"
        "try:\n"
        "    Pkcs11Kek(sys.argv[1], sys.argv[2], sys.stdin.readline().strip(), sys.argv[3])\n"
        "except KekError:\n"
        "    traceback.print_exc()\n"
        "    sys.exit(3)\n"
    )
    wrong = softhsm_token.user_pin[::-1]
    out = subprocess.run([sys.executable, "-c", child, softhsm_token.lib_path, softhsm_token.label,
                          softhsm_kek.prefix], input=wrong + "\n", env=softhsm_token.env(), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 3, out.stderr
    assert "PinIncorrect" in out.stderr and wrong not in out.stderr + out.stdout


def test_pin_from_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("s3cret-pin\n")
    pin_file.chmod(0o600)
    assert load_pin(pin_file) == "s3cret-pin"
    pin_file.chmod(0o640)
    with pytest.raises(KekError, match="chmod 600") as loose:
        load_pin(pin_file)
    monkeypatch.setenv("CEXLINK_PKCS11_PIN", "env-pin")
    assert load_pin() == "env-pin"
    monkeypatch.delenv("CEXLINK_PKCS11_PIN")
    with pytest.raises(KekError, match="CEXLINK_PKCS11_PIN"):
        load_pin()
    with pytest.raises(KekError, match="cannot be read"):
        load_pin(tmp_path / "missing")
    assert "s3cret-pin" not in _chain(loose.value)


def test_a_replica_signs_after_another_rotated_and_retired(tmp_path: Path) -> None:
    """Two Sign Centers over one data directory (workers, replicas): after one rotates the key file and
    retires the old version, the other opens the rewrapped credentials without a restart."""
    config = dict(data_dir=tmp_path / "signer", rate_per_credential=1e9, burst_per_credential=1e9)
    a = SignCenter(SignerConfig(**config, replica="a"))
    b = SignCenter(SignerConfig(**config, replica="b"))
    try:
        cred = a.store_credential("o", "binance", _alnum(64), _alnum(64))["credential_id"]
        a.rotate_kek(retire_old=True)
        b._cache.clear()  # as after its time limit: b must open the credential again
        assert b.sign(cred, "binance", ["private"], "GET", "account", {}, forward=True)["url"]
        fresh = b.store_credential("o", "binance", _alnum(64), _alnum(64))["credential_id"]
        assert b.describe(fresh)["kek_version"] == 2
        assert a.sign(fresh, "binance", ["private"], "GET", "account", {}, forward=True)["url"]
    finally:
        a.close()
        b.close()
