"""Signing keys: algorithm choice, RFC 7638 thumbprints (kid), PEM loading, 0600 key files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gateway.trust.errors import PKIError
from gateway.trust.keys import (
    ALLOWED_ALGORITHMS,
    SigningKey,
    algorithm_for,
    generate_private_key,
    load_certificates,
    load_private_key,
    thumbprint,
    write_private_key,
)
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.trust import forge

# RFC 8037 appendix A.1 (private key d, public key x) and A.3 (its JWK thumbprint).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_rfc8037_ed25519_thumbprint_vector() -> None:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(forge.b64url_decode(RFC8037_D))
    assert forge.b64url(key.public_key().public_bytes_raw()) == RFC8037_X
    assert thumbprint(key) == RFC8037_THUMBPRINT
    assert thumbprint(key.public_key()) == RFC8037_THUMBPRINT
    assert forge.jwk_thumbprint(key.public_key()) == RFC8037_THUMBPRINT


@pytest.mark.parametrize("kind", ["ec-p256", "ed25519"])
def test_thumbprint_matches_the_hand_computed_rfc7638_value(kind: str) -> None:
    for _ in range(5):
        key = generate_private_key(kind)  # type: ignore[arg-type]
        assert thumbprint(key) == forge.jwk_thumbprint(key.public_key())


def test_thumbprint_depends_on_the_key() -> None:
    first, second = generate_private_key(), generate_private_key()
    assert thumbprint(first) != thumbprint(second)
    assert len(thumbprint(first)) == 43  # unpadded base64url of 32 bytes


def test_only_es256_and_fully_specified_ed25519_are_allowed() -> None:
    assert ALLOWED_ALGORITHMS == ("ES256", "Ed25519")
    assert algorithm_for(generate_private_key("ec-p256")) == "ES256"
    assert algorithm_for(generate_private_key("ed25519")) == "Ed25519"
    assert algorithm_for(generate_private_key("ed25519").public_key()) == "Ed25519"


def test_other_curves_are_refused() -> None:
    with pytest.raises(PKIError, match="EC curve secp384r1 is not supported"):
        algorithm_for(ec.generate_private_key(ec.SECP384R1()))


def test_rsa_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(PKIError, match="unsupported key type RSAPrivateKey"):
        algorithm_for(key)  # type: ignore[arg-type]


def test_signing_key_from_files(pki: ThreePartyPKI) -> None:
    files = pki.parties["PA"]
    key = SigningKey.from_files(files.signing_key, files.signing_cert)
    assert key.algorithm == "ES256"
    assert key.certificate == load_certificates(files.signing_cert)[0]
    assert key.kid == forge.jwk_thumbprint(key.certificate.public_key())  # type: ignore[arg-type]


def test_signing_key_with_chain_file(pki: ThreePartyPKI) -> None:
    files = pki.parties["CO"]
    key = SigningKey.from_files(files.signing_key, files.signing_cert, files.ca_cert)
    assert [c.subject.rfc4514_string() for c in key.chain] == [
        load_certificates(files.signing_cert)[0].subject.rfc4514_string(),
        load_certificates(files.ca_cert)[0].subject.rfc4514_string(),
    ]


def test_signing_key_refuses_a_certificate_of_another_key(pki: ThreePartyPKI) -> None:
    pa, co = pki.parties["PA"], pki.parties["CO"]
    with pytest.raises(PKIError, match="does not belong to the private key"):
        SigningKey.from_files(pa.signing_key, co.signing_cert)


def test_signing_key_needs_a_certificate() -> None:
    with pytest.raises(PKIError, match="needs its certificate"):
        SigningKey(generate_private_key(), ())


def test_write_private_key_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.key"
    key = generate_private_key("ed25519")
    write_private_key(path, key)
    assert mode(path) == 0o600
    assert thumbprint(load_private_key(path)) == thumbprint(key)


def test_write_private_key_tightens_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    path.write_text("old")
    path.chmod(0o644)
    write_private_key(path, generate_private_key())
    assert mode(path) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN " + b"PRIVATE KEY-----")  # PKCS#8, unencrypted


def test_load_private_key_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PKIError, match="cannot read private key"):
        load_private_key(tmp_path / "absent.key")


def test_load_private_key_not_pem(tmp_path: Path) -> None:
    path = tmp_path / "garbage.key"
    path.write_bytes(b"not a key")
    with pytest.raises(PKIError, match="is not an unencrypted PEM private key"):
        load_private_key(path)


def test_load_private_key_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "encrypted.key"
    path.write_bytes(
        generate_private_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(PKIError, match="is not an unencrypted PEM private key"):
        load_private_key(path)


def test_load_private_key_unsupported_curve(tmp_path: Path) -> None:
    path = tmp_path / "p384.key"
    path.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(PKIError, match="secp384r1 is not supported"):
        load_private_key(path)


def test_load_certificates_not_pem(tmp_path: Path) -> None:
    path = tmp_path / "cert.pem"
    path.write_text("-----BEGIN NOTHING-----\n")
    with pytest.raises(PKIError, match="holds no PEM certificate"):
        load_certificates(path)


def test_load_certificates_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PKIError, match="cannot read certificate"):
        load_certificates(tmp_path / "absent.pem")
