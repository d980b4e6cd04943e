"""Sealing, key files and the key store, without a node (gateway.vault)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.db import make_engine
from gateway.vault.errors import BodyTamperedError, KeyEncryptionKeyError
from gateway.vault.sealing import SEALED_PREFIX, KeyEncryptionKey, new_data_key, open_sealed, seal
from gateway.vault.vault import Vault


def test_a_sealed_body_opens_only_with_its_key_and_its_binding() -> None:
    key = new_data_key()
    sealed = seal(key, "eyJhbGciOi.payload.sig", "PA|0190-rec|abc")
    assert sealed.startswith(SEALED_PREFIX)
    assert "payload" not in sealed
    assert open_sealed(key, sealed, "PA|0190-rec|abc") == "eyJhbGciOi.payload.sig"
    with pytest.raises(BodyTamperedError, match="integrity tag"):
        open_sealed(key, sealed, "PA|0190-other|abc")  # moved onto another row
    with pytest.raises(BodyTamperedError, match="integrity tag"):
        open_sealed(new_data_key(), sealed, "PA|0190-rec|abc")
    flipped = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
    with pytest.raises(BodyTamperedError, match="integrity tag"):
        open_sealed(key, flipped, "PA|0190-rec|abc")


def test_a_key_file_is_refused_in_one_line_when_missing_unset_or_malformed(tmp_path: Path) -> None:
    with pytest.raises(KeyEncryptionKeyError, match="kek_file is not set"):
        KeyEncryptionKey.from_file(None)
    with pytest.raises(KeyEncryptionKeyError, match="does not exist"):
        KeyEncryptionKey.from_file(tmp_path / "absent.key")
    short = tmp_path / "short.key"
    short.write_text("c2hvcnQ=\n")
    with pytest.raises(KeyEncryptionKeyError, match="base64 of 32 bytes"):
        KeyEncryptionKey.from_file(short)
    good = tmp_path / "good.key"
    kek = KeyEncryptionKey.generate()
    good.write_text(kek.encoded() + "\n")
    assert KeyEncryptionKey.from_file(good).kek_id == kek.kek_id
    assert kek.encoded() not in repr(kek)


def test_the_key_store_refuses_another_kek_and_rotation_rewraps_every_key(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'keystore.sqlite3'}")
    old = KeyEncryptionKey.generate()
    vault = Vault.open(old, engine)
    bodies = vault.seal_many([(f"body-{i}", f"aad-{i}") for i in range(7)])
    with pytest.raises(KeyEncryptionKeyError, match="wrapped under key " + old.kek_id):
        Vault.open(KeyEncryptionKey.generate(), engine)

    new = KeyEncryptionKey.generate()
    assert vault.rotate(new, batch=3) == 7
    assert vault.rotate(new, batch=3) == 0  # resumable: nothing left under the old key
    with pytest.raises(KeyEncryptionKeyError, match="wrapped under key " + new.kek_id):
        Vault.open(old, engine)  # the old key can now be destroyed
    reopened = Vault.open(new, engine)
    assert [reopened.open_body(b.key_ref, b.sealed, f"aad-{i}") for i, b in enumerate(bodies)] == [
        f"body-{i}" for i in range(7)
    ]


def test_a_shredded_key_leaves_a_body_nobody_can_open(tmp_path: Path) -> None:
    vault = Vault.open(KeyEncryptionKey.generate(), make_engine(f"sqlite:///{tmp_path / 'ks.sqlite3'}"))
    first, second = vault.seal_many([("one", "a"), ("two", "b")])
    assert vault.shred([first.key_ref]) == 1
    assert vault.open_body(first.key_ref, first.sealed, "a") is None
    assert vault.open_body(second.key_ref, second.sealed, "b") == "two"
    assert vault.shred([first.key_ref]) == 0
