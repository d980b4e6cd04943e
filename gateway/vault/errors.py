"""Errors of sealing and of the key store."""

from __future__ import annotations

from gateway.errors import ConfigurationError, GatewayError


class KeyEncryptionKeyError(ConfigurationError):
    """The key-encryption key is missing, malformed, or not the one the key store was sealed under."""

    slug = "key-encryption-key"
    title = "Key-encryption key unusable"


class KeyEncryptionKeyUnavailableError(KeyEncryptionKeyError):
    """The token holding the key-encryption key stopped answering while the node runs (not a bad request)."""

    slug = "key-encryption-key-unavailable"
    title = "Key-encryption key unavailable"
    status = 503
    hint = "the PKCS#11 token holding the key-encryption key does not answer; check the HSM, then retry"


class BodyTamperedError(GatewayError):
    """A sealed body (or its wrapped data key) failed its GCM tag: it was altered in the database."""

    slug = "record-body-tampered"
    title = "Stored record body failed its integrity check"
    status = 500
    hint = "the database row was altered outside the gateway; restore it from a backup and investigate"


class VaultUnavailableError(GatewayError):
    """A sealed body was read through a session that has no vault (no key-encryption key loaded)."""

    slug = "vault-unavailable"
    title = "Record bodies cannot be opened here"
    status = 500
    hint = "open the database through the node (kek_file configured) to read record bodies"
