"""Exact behaviour of keys.py that surviving mutmut mutants showed untested.

A private key file is created 0600 (never readable by others, not even until the
final chmod), in directories created as needed; each refusal says exactly what
is wrong.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.trust.errors import PKIError
from gateway.trust.keys import SigningKey, generate_private_key, load_private_key, thumbprint, write_private_key
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class


def test_write_private_key_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "signing.key"
    key = generate_private_key()
    write_private_key(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert thumbprint(load_private_key(path)) == thumbprint(key)


def test_a_new_key_file_is_owner_only_from_its_creation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The final chmod tightens a file that existed before; a new file must be created
    # 0600, so that no one can open it in the moment between writing the key and chmod.
    path = tmp_path / "signing.key"
    modes_before_chmod: list[int] = []
    real_chmod = os.chmod

    def spy(target: object, mode: int) -> None:
        modes_before_chmod.append(stat.S_IMODE(os.stat(target).st_mode))  # type: ignore[arg-type]
        real_chmod(target, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "chmod", spy)
    old_umask = os.umask(0o022)  # the usual umask: an open() without a mode would leave 0644 or 0755
    try:
        write_private_key(path, generate_private_key("ed25519"))
    finally:
        os.umask(old_umask)
    assert modes_before_chmod == [0o600]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_rsa_key_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "rsa.key"
    path.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(PKIError) as caught:
        load_private_key(path)
    assert caught.value.detail == f"{path}: unsupported key type; use P-256 or Ed25519"


def test_a_signing_key_without_a_certificate_is_refused_exactly() -> None:
    with pytest.raises(PKIError) as caught:
        SigningKey(generate_private_key(), ())
    assert caught.value.detail == "a signing key needs its certificate"


def test_a_certificate_of_another_key_is_refused_exactly(pki: ThreePartyPKI) -> None:
    pa, co = pki.parties["PA"], pki.parties["CO"]
    with pytest.raises(PKIError) as caught:
        SigningKey.from_files(pa.signing_key, co.signing_cert)
    assert caught.value.detail == "the certificate does not belong to the private key"
