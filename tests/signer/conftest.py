"""KEK fixtures for the Sign Center tests: a SoftHSM2 token of the test session, and providers of both kinds.

``softhsm_token`` initialises one fresh token in a temporary directory (its own softhsm2.conf and tokendir,
``SOFTHSM2_CONF`` pointing at it) before the PKCS#11 library is first loaded: SoftHSM2 reads that variable in
C_Initialize, and tokens made later by ``softhsm2-util`` are not seen by a process already initialised.
Tests get fresh providers from it by a unique key label prefix, so they never see each other's KEK versions.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cexlink.signer.kek import KekProvider, KeyFileKek
from cexlink.signer.pkcs11kek import Pkcs11Kek
from tests.support.softhsm import SOFTHSM_LIB, SoftHsmToken


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsmToken]:
    util = shutil.which("softhsm2-util")
    if util is None or not Path(SOFTHSM_LIB).exists():
        pytest.fail("SoftHSM2 is not installed: run scripts/system-deps.sh (`make test` does)")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n")
    token = SoftHsmToken(SOFTHSM_LIB, "cexlink-test", secrets.token_hex(8), secrets.token_hex(8), conf)
    subprocess.run([util, "--init-token", "--free", "--label", token.label, "--so-pin", token.so_pin,
                    "--pin", token.user_pin], env=token.env(), check=True, capture_output=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        yield token


@pytest.fixture
def softhsm_kek(softhsm_token: SoftHsmToken) -> Iterator[Pkcs11Kek]:
    """A ready Pkcs11Kek on the session's SoftHSM2 token, fresh for this test (version 1 only)."""
    kek = softhsm_token.kek()
    yield kek
    kek.close()


@pytest.fixture(params=["keyfile", "pkcs11"])
def kek_provider(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KekProvider]:
    """A fresh KEK provider of each kind: a key file in tmp_path, or a Pkcs11Kek on SoftHSM2."""
    if request.param == "keyfile":
        yield KeyFileKek(tmp_path / "kek.json")
    else:
        yield request.getfixturevalue("softhsm_kek")


@pytest.fixture
def reopen_kek(request: pytest.FixtureRequest) -> Callable[[KekProvider], KekProvider]:
    """Open the same provider again, as another process would: the same key file, or a new token session."""

    def reopen(kek: KekProvider) -> KekProvider:
        if isinstance(kek, KeyFileKek):
            return KeyFileKek(kek.path)
        assert isinstance(kek, Pkcs11Kek)
        token: SoftHsmToken = request.getfixturevalue("softhsm_token")
        return token.kek(kek.prefix)

    return reopen
