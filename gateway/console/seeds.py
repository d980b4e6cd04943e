"""TOTP seeds encrypted at rest: AES-256-GCM under a key from the settings, bound to the officer.

A seed must stay readable to check codes (RFC 6238), so it cannot be hashed
like a password; a copy of the database (a backup, a stolen disk) must still
not yield working second factors. Each seed is stored as ``v1:`` + base64url
of a random 96-bit nonce and the ciphertext with its tag; the associated data
names the officer, so a seed copied onto another officer's row does not decrypt.

The key (``totp_encryption_key`` or ``totp_encryption_key_file``: base64 of 32
bytes) lives outside the database. Seeds written before encryption existed are
plain base32; ``encrypt_plain_seeds`` converts them when the agency listener
starts (migration 0008 only widens the column, because a migration does not
have the key).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import ConfigurationError, GatewayError
from gateway.settings import Settings

PREFIX: Final = "v1:"
_NONCE_BYTES: Final = 12
KEY_HINT: Final = (
    "set GATEWAY_TOTP_ENCRYPTION_KEY (or GATEWAY_TOTP_ENCRYPTION_KEY_FILE) to base64 of 32 random bytes, e.g. "
    'python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"'
)


class SeedUnreadable(GatewayError):
    """A stored TOTP seed does not decrypt under the configured key (wrong key, or the row was altered)."""

    slug = "totp-seed-unreadable"
    title = "TOTP seed unreadable"
    status = 500
    hint = "check totp_encryption_key; an officer whose seed is lost must be enrolled again"


def _decode_key(text: str, setting: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{setting} is not base64", hint=KEY_HINT) from None
    if len(key) != 32:
        raise ConfigurationError(f"{setting} must hold 32 bytes (base64), not {len(key)}", hint=KEY_HINT)
    return key


def load_seed_key(settings: Settings) -> bytes:
    """Return the TOTP encryption key of the settings.

    Raises ConfigurationError, naming the setting, when none is set, both are
    set, the file cannot be read, or the value is not base64 of 32 bytes.
    """
    if settings.totp_encryption_key is not None and settings.totp_encryption_key_file is not None:
        raise ConfigurationError("set totp_encryption_key or totp_encryption_key_file, not both")
    if settings.totp_encryption_key_file is not None:
        try:
            text = settings.totp_encryption_key_file.read_text("utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read totp_encryption_key_file {settings.totp_encryption_key_file}: {exc.strerror}"
            ) from exc
        return _decode_key(text, "totp_encryption_key_file")
    if settings.totp_encryption_key is not None:
        return _decode_key(settings.totp_encryption_key.get_secret_value(), "totp_encryption_key")
    raise ConfigurationError(
        "totp_encryption_key is not set (officers' TOTP seeds are encrypted with it)", hint=KEY_HINT
    )


def new_key() -> str:
    """Return a fresh key as base64 (for ``gateway demo`` and operators)."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def _associated_data(username: str) -> bytes:
    return f"mou-gateway totp-seed v1 officer:{username}".encode()


class SeedCipher:
    """Encrypts and decrypts officers' TOTP seeds under one key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> SeedCipher:
        """Return the cipher of the settings' key; raises ConfigurationError (see ``load_seed_key``)."""
        return cls(load_seed_key(settings))

    def encrypt(self, username: str, seed: str) -> str:
        """Return the stored form of ``seed`` for the officer ``username``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, seed.encode("ascii"), _associated_data(username))
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def decrypt(self, username: str, stored: str) -> str:
        """Return the seed of a stored value (a plain seed of an older row is returned as it is).

        Raises SeedUnreadable when it does not decrypt for ``username``.
        """
        if not is_encrypted(stored):
            return stored
        try:
            payload = stored[len(PREFIX) :]
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated_data(username))
        except (InvalidTag, binascii.Error, ValueError):
            raise SeedUnreadable(f"the TOTP seed of officer {username!r} does not decrypt under this key") from None
        return plain.decode("ascii")


def is_encrypted(stored: str) -> bool:
    """Return whether a stored seed is encrypted (plain seeds are base32, which has no ':')."""
    return stored.startswith(PREFIX)
