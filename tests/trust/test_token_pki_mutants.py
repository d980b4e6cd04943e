"""Exact behaviour of token_pki.py (pki init|rotate --pkcs11) that surviving mutmut mutants showed untested.

The certificate of a token key is a record-signing certificate (content
commitment) valid 825 days unless told otherwise, written into a directory
made as needed; a CA without a country is refused; init keeps the TLS hosts
and refuses an existing CA naming what to do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.trust.errors import PKIError
from gateway.trust.keys import load_certificates, write_private_key
from gateway.trust.pki import PartyFiles, init_party
from gateway.trust.token_pki import init_party_with_token, issue_token_signing_certificate
from tests.support.softhsm import USER_PIN, SoftHSM


def _lifetime(cert: x509.Certificate) -> timedelta:
    return cert.not_valid_after_utc - cert.not_valid_before_utc


def test_a_token_key_gets_a_record_signing_certificate_valid_825_days_in_a_new_directory(
    softhsm: SoftHSM, tmp_path: Path
) -> None:
    ca_dir = init_party("PA", tmp_path / "pa").root
    out = tmp_path / "rotated" / "2027" / "signing.pem"
    cert = issue_token_signing_certificate(ca_dir, softhsm.uri("pki-825"), softhsm.module, USER_PIN, out)
    assert load_certificates(out) == [cert]
    assert _lifetime(cert) == timedelta(days=825)
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment is True
    short = issue_token_signing_certificate(
        ca_dir, softhsm.uri("pki-30"), softhsm.module, USER_PIN, tmp_path / "short.pem", days=30
    )
    assert _lifetime(short) == timedelta(days=30)


def test_a_ca_without_a_country_is_refused(softhsm: SoftHSM, tmp_path: Path) -> None:
    files = PartyFiles(tmp_path / "ca")
    files.root.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "no country CA")])
    now = datetime.now(UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_private_key(files.ca_key, key)
    files.ca_cert.write_bytes(ca.public_bytes(Encoding.PEM))
    with pytest.raises(PKIError) as caught:
        issue_token_signing_certificate(
            files.root, softhsm.uri("pki-no-c"), softhsm.module, USER_PIN, tmp_path / "s.pem"
        )
    assert caught.value.detail == "CA certificate has no country (party) attribute"


def test_init_with_a_token_keeps_the_tls_hosts_and_refuses_an_existing_ca(softhsm: SoftHSM, tmp_path: Path) -> None:
    files = init_party_with_token(
        "CO", tmp_path / "co", softhsm.uri("pki-hosts"), softhsm.module, USER_PIN, hosts=("co.gateway.test",)
    )
    tls = load_certificates(files.tls_cert)[0]
    names = tls.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "co.gateway.test" in names.get_values_for_type(x509.DNSName)
    assert not files.signing_key.exists()
    with pytest.raises(PKIError) as caught:
        init_party_with_token("CO", tmp_path / "co", softhsm.uri("pki-again"), softhsm.module, USER_PIN)
    assert (caught.value.detail, caught.value.hint) == (
        f"{files.ca_key} already exists",
        "choose another --out directory",
    )
