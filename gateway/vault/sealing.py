"""Envelope encryption, framework-free: AES-256-GCM bodies under data keys wrapped by a KEK.

Each body gets a fresh 256-bit data key and a 96-bit random nonce; the
associated data binds the ciphertext to the row it belongs to (originator,
record id, JWS digest), so a sealed body moved onto another row fails its tag.
Data keys are wrapped (AES-256-GCM again) by the key-encryption key, with the
data key's reference as associated data, so a wrapped key cannot be swapped
between references either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.vault.errors import BodyTamperedError, KeyEncryptionKeyError

SEALED_PREFIX = "sealed.v1."  # a stored JWS never starts with this (JWS starts with "ey")
_NONCE = 12
WRAP_LABEL = b"gateway-data-key-v1|"


class KeyWrapper(Protocol):
    """What the vault needs of a key-encryption key: a file key (below) or a token key (token_kek.py)."""

    @property
    def kek_id(self) -> str: ...

    def wrap(self, key_ref: str, data_key: bytes) -> bytes: ...

    def unwrap(self, key_ref: str, wrapped: bytes) -> bytes: ...


@dataclass(frozen=True)
class KeyEncryptionKey:
    """A 32-byte key-encryption key and its public id (a keyed digest: it reveals nothing of the key)."""

    key: bytes = field(repr=False)

    @property
    def kek_id(self) -> str:
        return hmac.new(self.key, b"gateway-kek-id", hashlib.sha256).hexdigest()[:32]

    @classmethod
    def generate(cls) -> KeyEncryptionKey:
        return cls(AESGCM.generate_key(bit_length=256))

    def encoded(self) -> str:
        """The key as a key file holds it: standard base64 of 32 bytes, one line."""
        return base64.b64encode(self.key).decode("ascii")

    @classmethod
    def from_file(cls, path: Path | None) -> KeyEncryptionKey:
        """Read a key file (base64 of 32 bytes); raises KeyEncryptionKeyError saying what is wrong."""
        if path is None:
            raise KeyEncryptionKeyError(
                "kek_file is not set", hint="create one with `gateway keys new-kek --out FILE` and set GATEWAY_KEK_FILE"
            )
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise KeyEncryptionKeyError(f"kek_file {path} does not exist", hint="set GATEWAY_KEK_FILE") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyEncryptionKeyError(f"kek_file {path} cannot be read ({exc.__class__.__name__})") from None
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise KeyEncryptionKeyError(f"kek_file {path} does not hold base64 of 32 bytes")
        return cls(key)

    def wrap(self, key_ref: str, data_key: bytes) -> bytes:
        """Return ``data_key`` wrapped under this KEK for reference ``key_ref`` (nonce ‖ ciphertext ‖ tag)."""
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(self.key).encrypt(nonce, data_key, WRAP_LABEL + key_ref.encode())

    def unwrap(self, key_ref: str, wrapped: bytes) -> bytes:
        """Return the data key; raises BodyTamperedError when the wrapped key fails its tag."""
        try:
            return AESGCM(self.key).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], WRAP_LABEL + key_ref.encode())
        except InvalidTag:
            raise BodyTamperedError(f"the data key {key_ref} does not open under this key-encryption key") from None

    def search_key(self, purpose: str) -> bytes:
        """A key derived for keyed hashes (``purpose`` names their use), so the KEK itself never hashes data."""
        return hmac.new(self.key, b"gateway-search|" + purpose.encode(), hashlib.sha256).digest()


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(data_key: bytes, plaintext: str, associated: str) -> str:
    """Return ``plaintext`` sealed as one ASCII string (prefix, base64url of nonce ‖ ciphertext ‖ tag)."""
    nonce = os.urandom(_NONCE)
    sealed = nonce + AESGCM(data_key).encrypt(nonce, plaintext.encode("utf-8"), associated.encode("utf-8"))
    return SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")


def open_sealed(data_key: bytes, sealed: str, associated: str) -> str:
    """Return the plaintext of ``sealed``; raises BodyTamperedError when it or its binding was altered."""
    text = sealed.removeprefix(SEALED_PREFIX)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return AESGCM(data_key).decrypt(raw[:_NONCE], raw[_NONCE:], associated.encode("utf-8")).decode("utf-8")
    except (InvalidTag, ValueError, binascii.Error):
        raise BodyTamperedError("the stored body does not match its integrity tag") from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)
