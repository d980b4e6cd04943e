"""A key-encryption key held in a PKCS#11 token: data keys are wrapped and unwrapped inside the token.

The KEK is an AES-256 secret key generated in the token (``gateway keys
new-kek --pkcs11 URI``), sensitive and not extractable, named by an RFC 7512
URI (``pkcs11:token=mou-pa;object=pa-kek``) with the token's module and PIN
from the same settings as a token signing key (``pkcs11_module``,
``GATEWAY_PKCS11_PIN`` / ``pkcs11_pin_file``). A data key is wrapped with
CKM_AES_GCM by the token: a fresh 96-bit nonce, the data key's reference as
associated data, the same ``nonce ‖ ciphertext ‖ tag`` layout as a file KEK,
so a wrapped key cannot be swapped between references here either. The KEK
itself never leaves the token.

Its id (kept in the key store, so a wrong key is refused at start) is derived
inside the token: the SHA-256 of a fixed label encrypted under the KEK with a
fixed nonce. That is a pseudo-random function of the key: a copy of the key in
another token (an HSM backup restored) has the same id, another key does not,
and the id reveals nothing of the key.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Final

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams

from gateway.trust.errors import PKIError
from gateway.trust.token_keys import TokenSession, describe_error, open_token
from gateway.trust.token_uri import parse_pkcs11_uri
from gateway.vault.errors import BodyTamperedError, KeyEncryptionKeyError, KeyEncryptionKeyUnavailableError
from gateway.vault.sealing import WRAP_LABEL

_NONCE: Final = 12
_ID_NONCE: Final = b"\x00" * _NONCE  # only ever used for the id's fixed plaintext
_ID_LABEL: Final = b"gateway-kek-id|token|v1"


class TokenKeyEncryptionKey:
    """An AES-256 key-encryption key in a PKCS#11 token; wrap and unwrap run in the token."""

    def __init__(self, session: TokenSession, key: Any) -> None:
        self._session = session
        self._key = key
        self._kek_id = hashlib.sha256(self._encrypt(_ID_NONCE, _ID_LABEL, _ID_LABEL)).hexdigest()[:32]

    @property
    def kek_id(self) -> str:
        return self._kek_id

    @property
    def token_name(self) -> str:
        """The token's label as messages quote it."""
        return self._session.token_name

    @property
    def uri(self) -> str:
        return self._session.uri.text

    def _encrypt(self, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
        try:
            with self._session.lock:
                return bytes(
                    self._key.encrypt(
                        plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, associated, 128)
                    )
                )
        except p11.PKCS11Error as exc:
            raise KeyEncryptionKeyUnavailableError(
                f"the PKCS#11 token {self._session.token_name} could not wrap a data key: {describe_error(exc)}"
            ) from exc

    def wrap(self, key_ref: str, data_key: bytes) -> bytes:
        """Return ``data_key`` wrapped in the token for ``key_ref`` (nonce ‖ ciphertext ‖ tag)."""
        nonce = os.urandom(_NONCE)
        return nonce + self._encrypt(nonce, data_key, WRAP_LABEL + key_ref.encode())

    def unwrap(self, key_ref: str, wrapped: bytes) -> bytes:
        """Return the data key unwrapped in the token.

        Raises BodyTamperedError when the wrapped key fails its tag,
        KeyEncryptionKeyUnavailableError (503) when the token no longer answers.
        """
        try:
            return self._decrypt(wrapped[:_NONCE], wrapped[_NONCE:], WRAP_LABEL + key_ref.encode())
        except p11.PKCS11Error as exc:
            # Tokens name a failed GCM tag differently (CKR_ENCRYPTED_DATA_INVALID, CKR_AEAD_DECRYPT_FAILED,
            # SoftHSM2's CKR_GENERAL_ERROR): a token that still opens its own probe refused this wrapped key.
            if self.healthy():
                raise BodyTamperedError(f"the data key {key_ref} does not open under this key-encryption key") from None
            raise KeyEncryptionKeyUnavailableError(
                f"the PKCS#11 token {self._session.token_name} could not unwrap a data key: {describe_error(exc)}"
            ) from exc

    def _decrypt(self, nonce: bytes, ciphertext: bytes, associated: bytes) -> bytes:
        params = GCMParams(nonce, associated, 128)
        with self._session.lock:
            return bytes(self._key.decrypt(ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=params))

    def healthy(self) -> bool:
        """Whether the token still answers with this key (a seal and open of a fixed probe)."""
        nonce = os.urandom(_NONCE)
        try:
            sealed = self._encrypt(nonce, _ID_LABEL, _ID_LABEL)
            return self._decrypt(nonce, sealed, _ID_LABEL) == _ID_LABEL
        except (p11.PKCS11Error, KeyEncryptionKeyError):
            return False

    def close(self) -> None:
        self._session.close()


def _secret_key(session: TokenSession) -> Any:
    uri = session.uri
    name = repr(uri.object) if uri.object is not None else f"id {uri.id!r}"
    try:
        key = session.handle.get_key(object_class=ObjectClass.SECRET_KEY, label=uri.object, id=uri.id)
    except p11.NoSuchKey:
        raise KeyEncryptionKeyError(
            f"no key-encryption key {name} in PKCS#11 token {session.token_name}",
            hint="create it with `gateway keys new-kek --pkcs11 URI` or check object=/id= in kek_uri",
        ) from None
    except p11.MultipleObjectsReturned:
        raise KeyEncryptionKeyError(f"several keys match {name} in PKCS#11 token {session.token_name}") from None
    except p11.PKCS11Error as exc:
        raise KeyEncryptionKeyError(f"PKCS#11 token {session.token_name}: {describe_error(exc)}") from exc
    if key.key_type != KeyType.AES or key.key_length != 256:
        raise KeyEncryptionKeyError(f"key {name} in PKCS#11 token {session.token_name} is not an AES-256 key")
    return key


def _opened(uri_text: str, module: Path | None, pin: str) -> TokenSession:
    try:
        return open_token(parse_pkcs11_uri(uri_text), module, pin)
    except PKIError as exc:  # TokenError included: absent token, wrong PIN, no module
        raise KeyEncryptionKeyError(f"kek_uri: {exc.detail}", hint=exc.hint) from None


def load_token_kek(uri_text: str, module: Path | None, pin: str) -> TokenKeyEncryptionKey:
    """Open the token and return its key-encryption key; raises KeyEncryptionKeyError in one line."""
    session = _opened(uri_text, module, pin)
    try:
        return TokenKeyEncryptionKey(session, _secret_key(session))
    except KeyEncryptionKeyError:
        session.close()
        raise


def generate_token_kek(uri_text: str, module: Path | None, pin: str) -> TokenKeyEncryptionKey:
    """Generate an AES-256 key-encryption key in the token under the URI's label (sensitive, not extractable).

    Raises KeyEncryptionKeyError when the token cannot be used or already holds a key of that name.
    """
    session = _opened(uri_text, module, pin)
    uri = session.uri
    try:
        try:
            session.handle.get_key(object_class=ObjectClass.SECRET_KEY, label=uri.object, id=uri.id)
        except p11.NoSuchKey:
            pass
        except p11.PKCS11Error as exc:
            raise KeyEncryptionKeyError(f"PKCS#11 token {session.token_name}: {describe_error(exc)}") from exc
        else:
            raise KeyEncryptionKeyError(
                f"PKCS#11 token {session.token_name} already holds a key {uri.object or uri.id!r}",
                hint="a key-encryption key is never replaced; name another object= in the URI",
            )
        label = uri.object or ""
        try:
            key = session.handle.generate_key(
                KeyType.AES,
                256,
                label=label,
                id=uri.id if uri.id is not None else hashlib.sha256(label.encode()).digest()[:8],
                store=True,
                template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.PRIVATE: True,
                    Attribute.ENCRYPT: True,
                    Attribute.DECRYPT: True,
                    Attribute.SIGN: False,
                    Attribute.VERIFY: False,
                    Attribute.WRAP: False,
                    Attribute.UNWRAP: False,
                },
            )
        except p11.PKCS11Error as exc:
            raise KeyEncryptionKeyError(
                f"PKCS#11 token {session.token_name} could not generate an AES-256 key: {describe_error(exc)}"
            ) from exc
        return TokenKeyEncryptionKey(session, key)
    except KeyEncryptionKeyError:
        session.close()
        raise


def kek_status(kek: object) -> str:
    """Readiness of a key-encryption key: "ok", or why a token-held one no longer answers.

    A file key is in memory and cannot go away; a token can be unplugged or reset while the node runs.
    """
    if isinstance(kek, TokenKeyEncryptionKey) and not kek.healthy():
        return f"error: the PKCS#11 token {kek.token_name} holding the key-encryption key does not answer"
    return "ok"
