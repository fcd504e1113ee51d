"""A SoftHSM2 token for the KEK tests: what a test needs to open providers on it, or to hand it to a child."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cexlink.signer.pkcs11kek import Pkcs11Kek

SOFTHSM_LIB = os.environ.get("CEXLINK_TEST_PKCS11_LIB", "/usr/lib/softhsm/libsofthsm2.so")


@dataclass(frozen=True)
class SoftHsmToken:
    lib_path: str
    label: str
    user_pin: str  # random per test session; tests look for it in messages
    so_pin: str
    conf: Path

    def kek(self, prefix: str | None = None) -> Pkcs11Kek:
        """A Pkcs11Kek on this token; a new prefix (default) makes a fresh provider with only version 1."""
        return Pkcs11Kek(self.lib_path, self.label, self.user_pin, prefix or f"test-{secrets.token_hex(6)}")

    def env(self) -> dict[str, str]:
        """Environment for a child process that should see this token."""
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf)}
