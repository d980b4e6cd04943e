"""The node's vault: seals record bodies, opens them, destroys their keys, re-wraps under a new KEK."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from gateway.vault.errors import KeyEncryptionKeyError
from gateway.vault.keystore import CHECK_REF, KeyStore
from gateway.vault.sealing import KeyEncryptionKey, KeyWrapper, new_data_key, open_sealed, seal

_CHECK_VALUE = b"\x00" * 32


def _where(kek: KeyWrapper) -> str:
    return "kek_file" if isinstance(kek, KeyEncryptionKey) else "kek_uri"


@dataclass(frozen=True)
class SealedBody:
    key_ref: str
    sealed: str


class Vault:
    """Seals and opens record bodies under per-record data keys kept (wrapped) in ``keystore``."""

    def __init__(self, kek: KeyWrapper, keystore: KeyStore) -> None:
        self.kek = kek
        self.keystore = keystore

    @classmethod
    def open(cls, kek: KeyWrapper, keystore_engine: Engine) -> Vault:
        """Return the vault; raises KeyEncryptionKeyError when ``kek`` is not the key store's KEK."""
        keystore = KeyStore(keystore_engine)
        check = keystore.check_row()
        if check is None:
            keystore.set_check(kek.kek_id, kek.wrap(CHECK_REF, _CHECK_VALUE))
        else:
            kek_id, wrapped = check
            if kek_id != kek.kek_id:
                raise KeyEncryptionKeyError(
                    f"{_where(kek)} holds key {kek.kek_id}, but the key store is wrapped under key {kek_id}",
                    hint=f"set GATEWAY_{_where(kek).upper()} to the key the key store was last wrapped "
                    "(or rotated) under",
                )
            if kek.unwrap(CHECK_REF, wrapped) != _CHECK_VALUE:
                raise KeyEncryptionKeyError(f"the key store's check value does not open under {_where(kek)}")
        return cls(kek, keystore)

    def seal_many(self, items: Sequence[tuple[str, str]]) -> list[SealedBody]:
        """Seal each (plaintext, associated data) under a fresh data key; the wrapped keys are stored first."""
        sealed: list[SealedBody] = []
        wrapped: list[tuple[str, bytes]] = []
        for plaintext, associated in items:
            ref = str(uuid.uuid4())
            data_key = new_data_key()
            wrapped.append((ref, self.kek.wrap(ref, data_key)))
            sealed.append(SealedBody(ref, seal(data_key, plaintext, associated)))
        # Stored (and committed) before the row that needs them: a row never
        # commits without its key; a key whose row rolled back is an unused orphan.
        self.keystore.put_many(self.kek.kek_id, wrapped)
        return sealed

    def open_body(self, key_ref: str, sealed: str, associated: str) -> str | None:
        """Return the plaintext, or None when its data key was destroyed (shredded).

        Raises BodyTamperedError when the sealed body or the wrapped key fails its tag.
        """
        wrapped = self.keystore.get(key_ref)
        if wrapped is None:
            return None
        return open_sealed(self.kek.unwrap(key_ref, wrapped), sealed, associated)

    def shred(self, key_refs: Sequence[str]) -> int:
        """Destroy the data keys ``key_refs`` (committed at once); returns how many existed."""
        return self.keystore.delete(key_refs)

    def rotate(self, new_kek: KeyWrapper, *, batch: int = 500) -> int:
        """Re-wrap every data key under ``new_kek`` (bodies untouched); returns how many were re-wrapped.

        Resumable: keys already under ``new_kek`` are left alone; the store's
        check value moves to ``new_kek`` last, so until then the old key still opens the node.
        """
        done = 0
        for rows in self.keystore.batches(batch):
            rewrapped: list[tuple[str, bytes]] = []
            for ref, kek_id, wrapped in rows:
                if kek_id == new_kek.kek_id:
                    continue  # re-wrapped by an interrupted run
                rewrapped.append((ref, new_kek.wrap(ref, self.kek.unwrap(ref, wrapped))))
            self.keystore.replace_wrapped(new_kek.kek_id, rewrapped)
            done += len(rewrapped)
        self.keystore.set_check(new_kek.kek_id, new_kek.wrap(CHECK_REF, _CHECK_VALUE))
        self.kek = new_kek
        return done
