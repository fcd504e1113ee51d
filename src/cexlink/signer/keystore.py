"""Envelope encryption of credential material (the "hazmat" layer: only the signer package imports it).

Each credential's material (API key, secret, passphrase) is sealed with its own AES-256-GCM data key (DEK).
The associated data binds the ciphertext to its credential id, owner, exchange and version, so a row copied
onto another row does not decrypt. The DEK is wrapped by the KEK provider and stored beside the ciphertext;
destroying the wrapped DEK shreds the credential.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import CexlinkError
from .kek import KekProvider

NONCE = 12


class SealBroken(CexlinkError):
    """The ciphertext does not open under its binding: tampered, swapped between rows, or shredded."""


@dataclass(frozen=True)
class Binding:
    credential_id: str
    owner: str
    exchange: str
    version: int

    def aad(self) -> bytes:
        return json.dumps([self.credential_id, self.owner, self.exchange, self.version],
                          separators=(",", ":")).encode()


@dataclass(frozen=True)
class Sealed:
    kek_version: int
    wrapped_dek: bytes
    nonce: bytes
    ciphertext: bytes


def seal(kek: KekProvider, binding: Binding, material: dict[str, str | None]) -> Sealed:
    dek = AESGCM.generate_key(256)
    nonce = os.urandom(NONCE)
    plaintext = json.dumps(material, separators=(",", ":")).encode()
    ciphertext = AESGCM(dek).encrypt(nonce, plaintext, binding.aad())
    version, wrapped = kek.wrap(dek)
    return Sealed(version, wrapped, nonce, ciphertext)


def open_sealed(kek: KekProvider, binding: Binding, sealed: Sealed) -> dict[str, str | None]:
    try:
        dek = kek.unwrap(sealed.kek_version, sealed.wrapped_dek)
        plaintext = AESGCM(dek).decrypt(sealed.nonce, sealed.ciphertext, binding.aad())
    except (InvalidTag, ValueError) as e:
        raise SealBroken(f"credential {binding.credential_id} does not open under its binding") from e
    material: dict[str, str | None] = json.loads(plaintext)
    return material


def rewrap(kek: KekProvider, sealed: Sealed) -> Sealed:
    """Wrap the same data key under the current KEK version; the ciphertext and the secret stay untouched."""
    if sealed.kek_version == kek.current:
        return sealed
    dek = kek.unwrap(sealed.kek_version, sealed.wrapped_dek)
    version, wrapped = kek.wrap(dek)
    return Sealed(version, wrapped, sealed.nonce, sealed.ciphertext)
