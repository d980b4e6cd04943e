"""The development PKI's certificate and CRL profile, field by field.

tests/trust/test_pki.py checks that ``pki init|issue|revoke`` work; these pin
what they write: every extension with its criticality and value, names,
validity periods and CRL numbers, so a changed profile fails a test rather than
a partner's TLS stack or path validation.
"""

from __future__ import annotations

import ipaddress
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import CRLEntryExtensionOID, ExtendedKeyUsageOID, NameOID

from gateway.trust.errors import PKIError
from gateway.trust.keys import generate_private_key, load_certificates, load_private_key, write_private_key
from gateway.trust.path import DOCUMENT_SIGNING
from gateway.trust.pki import (
    PartyFiles,
    init_party,
    issue_certificate,
    issue_from_dir,
    make_crl,
    make_root_ca,
    revocation_entry,
    revoke_in_dir,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def usage(*, digital_signature: bool = False, content_commitment: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def extensions(cert: x509.Certificate | x509.CertificateRevocationList) -> dict[str, tuple[bool, object]]:
    """Extension name → (critical, value)."""
    return {ext.oid._name: (ext.critical, ext.value) for ext in cert.extensions}


@pytest.fixture(scope="module")
def ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = generate_private_key("ec-p256")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return make_root_ca("PA", key, now=NOW), key


# -- root CA -------------------------------------------------------------------------


def test_root_ca_profile(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> None:
    cert, key = ca
    assert cert.subject.rfc4514_string() == "CN=PA MOU Gateway Root CA,O=MOU Gateway party PA,C=PA"
    assert cert.issuer == cert.subject
    assert cert.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert cert.not_valid_after_utc == NOW + timedelta(days=3650)
    assert cert.public_key() == key.public_key()
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    cert.verify_directly_issued_by(cert)
    assert extensions(cert) == {
        "basicConstraints": (True, x509.BasicConstraints(ca=True, path_length=1)),
        "keyUsage": (True, usage(ca=True)),
        "subjectKeyIdentifier": (False, x509.SubjectKeyIdentifier.from_public_key(key.public_key())),
    }


def test_root_ca_validity_in_days() -> None:
    cert = make_root_ca("CO", generate_private_key(), days=10, now=NOW)
    assert cert.not_valid_after_utc == NOW + timedelta(days=10)
    assert cert.subject.rfc4514_string() == "CN=CO MOU Gateway Root CA,O=MOU Gateway party CO,C=CO"


def test_an_ed25519_ca_signs_without_a_separate_digest() -> None:
    key = generate_private_key("ed25519")
    cert = make_root_ca("US", key, now=NOW)
    assert cert.signature_hash_algorithm is None
    assert isinstance(cert.public_key(), ed25519.Ed25519PublicKey)
    cert.verify_directly_issued_by(cert)
    crl = make_crl(cert, key, [], now=NOW)
    assert crl.signature_hash_algorithm is None
    assert crl.is_signature_valid(key.public_key())


# -- end-entity certificates ---------------------------------------------------------


def test_tls_certificate_profile(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> None:
    ca_cert, ca_key = ca
    subject_key = generate_private_key()
    cert = issue_certificate(
        "PA", "tls", subject_key, ca_cert, ca_key, hosts=("pa.example", "10.0.0.9"), not_before=NOW, days=90
    )
    assert cert.subject.rfc4514_string() == "CN=PA MOU Gateway node,O=MOU Gateway party PA,C=PA"
    assert cert.issuer == ca_cert.subject
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (NOW, NOW + timedelta(days=90))
    assert cert.public_key() == subject_key.public_key()
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    cert.verify_directly_issued_by(ca_cert)
    assert extensions(cert) == {
        "basicConstraints": (True, x509.BasicConstraints(ca=False, path_length=None)),
        "subjectKeyIdentifier": (False, x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key())),
        "authorityKeyIdentifier": (False, x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())),
        "keyUsage": (True, usage(digital_signature=True)),
        "subjectAltName": (
            False,
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                    x509.DNSName("pa.example"),
                    x509.IPAddress(ipaddress.ip_address("10.0.0.9")),
                ]
            ),
        ),
        "extendedKeyUsage": (
            False,
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
        ),
    }


def test_signing_certificate_profile(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> None:
    ca_cert, ca_key = ca
    subject_key = generate_private_key("ed25519")
    cert = issue_certificate("PA", "signing", subject_key, ca_cert, ca_key, hosts=("ignored.example",), not_before=NOW)
    assert cert.subject.rfc4514_string() == "CN=PA MOU Gateway record signing,O=MOU Gateway party PA,C=PA"
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (NOW, NOW + timedelta(days=825))
    assert extensions(cert) == {
        "basicConstraints": (True, x509.BasicConstraints(ca=False, path_length=None)),
        "subjectKeyIdentifier": (False, x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key())),
        "authorityKeyIdentifier": (False, x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())),
        "keyUsage": (True, usage(digital_signature=True, content_commitment=True)),
        "extendedKeyUsage": (False, x509.ExtendedKeyUsage([DOCUMENT_SIGNING])),
    }


def test_a_common_name_can_be_chosen(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> None:
    ca_cert, ca_key = ca
    cert = issue_certificate("PA", "tls", generate_private_key(), ca_cert, ca_key, common_name="pa-node-2")
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pa-node-2"


def test_the_default_start_is_five_minutes_ago(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> None:
    ca_cert, ca_key = ca
    before = datetime.now(UTC).replace(microsecond=0)
    cert = issue_certificate("PA", "signing", generate_private_key(), ca_cert, ca_key)
    after = datetime.now(UTC)
    assert before - timedelta(minutes=5, seconds=1) <= cert.not_valid_before_utc <= after - timedelta(minutes=5)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=825)


# -- CRLs ------------------------------------------------------------------------------


def test_crl_profile(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> None:
    ca_cert, ca_key = ca
    kept = revocation_entry(7, NOW - timedelta(days=2), x509.ReasonFlags.superseded, NOW - timedelta(days=3))
    crl = make_crl(ca_cert, ca_key, [(5, NOW - timedelta(days=1)), kept], now=NOW, days=7, number=4)
    assert crl.issuer == ca_cert.subject
    assert crl.last_update_utc == NOW - timedelta(minutes=1)
    assert crl.next_update_utc == NOW + timedelta(days=7)
    assert crl.is_signature_valid(ca_key.public_key())
    assert extensions(crl) == {
        "cRLNumber": (False, x509.CRLNumber(4)),
        "authorityKeyIdentifier": (False, x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())),
    }
    entries = {entry.serial_number: entry for entry in crl}
    assert sorted(entries) == [5, 7]
    assert entries[5].revocation_date_utc == NOW - timedelta(days=1)
    assert len(entries[5].extensions) == 0
    assert entries[7].revocation_date_utc == NOW - timedelta(days=2)
    assert entries[7].extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.superseded
    assert entries[7].extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc == (
        NOW - timedelta(days=3)
    )


def test_crl_defaults_number_one_for_thirty_days(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> None:
    crl = make_crl(ca[0], ca[1], [], now=NOW)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert crl.next_update_utc == NOW + timedelta(days=30)
    assert list(crl) == []


def test_a_revocation_entry_carries_only_what_is_given() -> None:
    plain = revocation_entry(9, NOW)
    assert (plain.serial_number, plain.revocation_date_utc, len(plain.extensions)) == (9, NOW, 0)
    reason_only = revocation_entry(9, NOW, x509.ReasonFlags.key_compromise)
    assert [(ext.oid, ext.critical) for ext in reason_only.extensions] == [(CRLEntryExtensionOID.CRL_REASON, False)]
    date_only = revocation_entry(9, NOW, invalidity_date=NOW - timedelta(hours=1))
    assert [(ext.oid, ext.critical) for ext in date_only.extensions] == [(CRLEntryExtensionOID.INVALIDITY_DATE, False)]


# -- init, issue and revoke in a directory ---------------------------------------------


def test_init_writes_a_bundle_entry_with_an_empty_crl_numbered_one(tmp_path: Path) -> None:
    files = init_party("PA", tmp_path / "pa")
    entry = json.loads(files.bundle_entry.read_text("utf-8"))
    ca_pem = files.ca_cert.read_text("ascii")
    crl_pem = files.crl.read_text("ascii")
    assert entry == {
        "format": "mou-trust-bundle/1",
        "parties": {"PA": {"cas": [ca_pem], "crls": [crl_pem], "sequence": 0}},
    }
    assert files.bundle_entry.read_text("utf-8") == json.dumps(entry, indent=2)
    crl = x509.load_pem_x509_crl(crl_pem.encode())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert list(crl) == []
    ca = load_certificates(files.ca_cert)[0]
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    tls = load_certificates(files.tls_cert)[0]
    assert tls.subject.rfc4514_string() == "CN=PA MOU Gateway node,O=MOU Gateway party PA,C=PA"


def test_init_puts_the_hosts_in_the_tls_certificate_only(tmp_path: Path) -> None:
    files = init_party("CO", tmp_path / "co", hosts=("co.example",))
    tls = load_certificates(files.tls_cert)[0]
    names = tls.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "co.example"]


def test_issue_from_dir_passes_hosts_and_common_name(tmp_path: Path) -> None:
    files = init_party("US", tmp_path / "us")
    cert = issue_from_dir(
        files.root, "tls", tmp_path / "n.pem", tmp_path / "n.key", hosts=("us2.example",), common_name="us-node-2"
    )
    assert cert.subject.rfc4514_string() == "CN=us-node-2,O=MOU Gateway party US,C=US"
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["localhost", "us2.example"]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=825)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_issue_from_a_ca_without_a_country_is_refused(tmp_path: Path) -> None:
    key = generate_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no country")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = PartyFiles(tmp_path / "ca")
    files.root.mkdir()
    files.ca_cert.write_bytes(ca.public_bytes(Encoding.PEM))
    write_private_key(files.ca_key, key)
    with pytest.raises(PKIError) as caught:
        issue_from_dir(files.root, "tls", tmp_path / "x.pem", tmp_path / "x.key")
    assert caught.value.detail == "CA certificate has no country (party) attribute"
    assert not (tmp_path / "x.key").exists()


def test_revoke_numbers_each_crl_one_above_the_last(tmp_path: Path) -> None:
    files = init_party("PA", tmp_path / "pa")
    first = revoke_in_dir(files.root, files.tls_cert, now=NOW, reason=x509.ReasonFlags.key_compromise)
    second = revoke_in_dir(files.root, files.signing_cert, now=NOW + timedelta(hours=1))
    assert [crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number for crl in (first, second)] == [
        2,
        3,
    ]
    assert second.last_update_utc == NOW + timedelta(hours=1) - timedelta(minutes=1)
    tls_serial = load_certificates(files.tls_cert)[0].serial_number
    kept = second.get_revoked_certificate_by_serial_number(tls_serial)
    assert kept is not None
    assert kept.revocation_date_utc == NOW
    assert kept.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise


def test_revoke_after_a_crl_without_a_number_writes_number_two(tmp_path: Path) -> None:
    files = init_party("CO", tmp_path / "co")
    ca = load_certificates(files.ca_cert)[0]
    ca_key = load_private_key(files.ca_key)
    unnumbered = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(NOW - timedelta(days=1))
        .next_update(NOW + timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    files.crl.write_bytes(unnumbered.public_bytes(Encoding.PEM))
    crl = revoke_in_dir(files.root, files.signing_cert, now=NOW)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2


def test_revoke_without_a_crl_file_writes_number_one(tmp_path: Path) -> None:
    files = init_party("US", tmp_path / "us")
    files.crl.unlink()
    crl = revoke_in_dir(files.root, files.signing_cert, now=NOW)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert [entry.serial_number for entry in crl] == [load_certificates(files.signing_cert)[0].serial_number]
    assert x509.load_pem_x509_crl(files.crl.read_bytes()) == crl


def test_revoke_records_reason_and_invalidity_date(tmp_path: Path) -> None:
    files = init_party("PA", tmp_path / "pa")
    compromised = NOW - timedelta(days=2)
    crl = revoke_in_dir(
        files.root, files.signing_cert, now=NOW, reason=x509.ReasonFlags.key_compromise, invalidity_date=compromised
    )
    entry = crl.get_revoked_certificate_by_serial_number(load_certificates(files.signing_cert)[0].serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    assert entry.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc == compromised


def test_revoke_dates_by_the_utc_clock_whatever_the_local_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = init_party("PA", tmp_path / "pa")
    monkeypatch.setenv("TZ", "America/Panama")  # UTC-5 all year
    time.tzset()
    try:
        before = datetime.now(UTC).replace(microsecond=0)
        crl = revoke_in_dir(files.root, files.signing_cert)
        after = datetime.now(UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert before - timedelta(minutes=1, seconds=1) <= crl.last_update_utc <= after - timedelta(minutes=1)
    entry = crl.get_revoked_certificate_by_serial_number(load_certificates(files.signing_cert)[0].serial_number)
    assert entry is not None
    assert before - timedelta(seconds=1) <= entry.revocation_date_utc <= after
