"""Development PKI (``pki init|issue|revoke``) and the trust bundle format."""

from __future__ import annotations

import ipaddress
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.trust.bundle import BUNDLE_FORMAT, TrustBundle
from gateway.trust.errors import PKIError
from gateway.trust.keys import load_certificates, load_private_key
from gateway.trust.path import DOCUMENT_SIGNING
from gateway.trust.pki import PartyFiles, init_party, issue_from_dir, revoke_in_dir
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class


def cert(path: Path) -> x509.Certificate:
    return load_certificates(path)[0]


E = TypeVar("E", bound=x509.ExtensionType)


def extension(certificate: x509.Certificate, kind: type[E]) -> E:
    return certificate.extensions.get_extension_for_class(kind).value


@pytest.fixture(scope="module")
def pa(tmp_path_factory: pytest.TempPathFactory) -> PartyFiles:
    """A PA PKI with extra TLS host names (not mutated by these tests)."""
    return init_party(
        "PA",
        tmp_path_factory.mktemp("pki") / "pa",
        hosts=("pa.gateway.example", "10.20.0.7", "::1"),
    )


# -- init ------------------------------------------------------------------------


def test_init_writes_every_file(pa: PartyFiles) -> None:
    for path in (
        pa.ca_cert, pa.ca_key, pa.tls_cert, pa.tls_key,
        pa.signing_cert, pa.signing_key, pa.crl, pa.bundle_entry,
    ):  # fmt: skip
        assert path.is_file(), path


def test_private_keys_are_owner_only(pa: PartyFiles) -> None:
    keys = sorted(pa.root.glob("*.key"))
    assert [k.name for k in keys] == ["ca.key", "signing.key", "tls.key"]
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_public_files_are_not_secret(pa: PartyFiles) -> None:
    assert b"PRIVATE KEY" not in pa.ca_cert.read_bytes() + pa.bundle_entry.read_bytes()


def test_root_ca(pa: PartyFiles) -> None:
    ca = cert(pa.ca_cert)
    assert ca.subject == ca.issuer
    assert ca.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "PA"
    constraints = extension(ca, x509.BasicConstraints)
    assert constraints.ca
    usage = extension(ca, x509.KeyUsage)
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature


def test_tls_certificate(pa: PartyFiles) -> None:
    tls = cert(pa.tls_cert)
    tls.verify_directly_issued_by(cert(pa.ca_cert))
    eku = extension(tls, x509.ExtendedKeyUsage)
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    san = extension(tls, x509.SubjectAlternativeName)
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "pa.gateway.example"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.20.0.7"),
        ipaddress.ip_address("::1"),
    }
    assert not extension(tls, x509.BasicConstraints).ca
    assert extension(tls, x509.KeyUsage).digital_signature
    # TLS stays on P-256 whatever the record key is.
    assert isinstance(tls.public_key(), ec.EllipticCurvePublicKey)


def test_signing_certificate(pa: PartyFiles) -> None:
    signing = cert(pa.signing_cert)
    signing.verify_directly_issued_by(cert(pa.ca_cert))
    usage = extension(signing, x509.KeyUsage)
    assert usage.digital_signature
    assert usage.content_commitment
    assert not usage.key_cert_sign
    assert not extension(signing, x509.BasicConstraints).ca
    # One purpose: RFC 9336 document signing, no TLS purpose.
    assert list(extension(signing, x509.ExtendedKeyUsage)) == [DOCUMENT_SIGNING]
    with pytest.raises(x509.ExtensionNotFound, match="extension was found"):
        signing.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_keys_match_their_certificates(pa: PartyFiles) -> None:
    for key_path, cert_path in ((pa.tls_key, pa.tls_cert), (pa.signing_key, pa.signing_cert)):
        key = load_private_key(key_path)
        assert key.public_key() == cert(cert_path).public_key()


def test_ed25519_record_key(tmp_path: Path) -> None:
    files = init_party("CO", tmp_path / "co", key_kind="ed25519")
    assert isinstance(cert(files.signing_cert).public_key(), ed25519.Ed25519PublicKey)
    assert isinstance(cert(files.tls_cert).public_key(), ec.EllipticCurvePublicKey)


def test_init_refuses_to_overwrite(pa: PartyFiles) -> None:
    before = pa.ca_key.read_bytes()
    with pytest.raises(PKIError, match=r"ca\.key already exists") as caught:
        init_party("PA", pa.root)
    assert caught.value.hint == "choose another --out directory"
    assert pa.ca_key.read_bytes() == before


def test_init_refuses_a_code_that_is_not_a_party_code(tmp_path: Path) -> None:
    with pytest.raises(PKIError, match="'mx' is not a party code") as caught:
        init_party("mx", tmp_path / "mx")
    assert caught.value.hint == "use the ISO 3166-1 alpha-2 code of the party's country"
    assert not (tmp_path / "mx").exists()


def test_init_makes_a_pki_for_any_new_party(tmp_path: Path) -> None:
    # A fourth party (Costa Rica) needs no code change, only its own PKI.
    files = init_party("CR", tmp_path / "cr")
    assert sorted(TrustBundle.load(files.bundle_entry).parties) == ["CR"]


def test_bundle_entry_holds_the_ca_and_an_empty_crl(pa: PartyFiles) -> None:
    entry = TrustBundle.load(pa.bundle_entry)
    assert list(entry.parties) == ["PA"]
    trust = entry.parties["PA"]
    assert trust.cas == (cert(pa.ca_cert),)
    assert len(trust.crls) == 1
    assert list(trust.crls[0]) == []
    assert trust.crl_for(cert(pa.ca_cert)) == trust.crls[0]


# -- issue -----------------------------------------------------------------------


def test_issue_from_dir(pa: PartyFiles, tmp_path: Path) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    issued = issue_from_dir(
        pa.root, "signing", tmp_path / "s.pem", tmp_path / "s.key",
        days=10, not_before=start, key_kind="ed25519",
    )  # fmt: skip
    assert cert(tmp_path / "s.pem") == issued
    assert stat.S_IMODE((tmp_path / "s.key").stat().st_mode) == 0o600
    assert issued.not_valid_before_utc == start
    assert issued.not_valid_after_utc == start + timedelta(days=10)
    assert issued.issuer == cert(pa.ca_cert).subject
    assert isinstance(issued.public_key(), ed25519.Ed25519PublicKey)


# -- revoke ----------------------------------------------------------------------


def test_revoke_adds_the_serial_to_the_crl_and_the_bundle_entry(tmp_path: Path) -> None:
    files = init_party("CO", tmp_path / "co")
    target = cert(files.signing_cert)

    crl = revoke_in_dir(files.root, files.signing_cert)

    assert crl.get_revoked_certificate_by_serial_number(target.serial_number) is not None
    on_disk = x509.load_pem_x509_crl(files.crl.read_bytes())
    assert [r.serial_number for r in on_disk] == [target.serial_number]
    assert on_disk.is_signature_valid(cert(files.ca_cert).public_key())  # type: ignore[arg-type]
    entry_crl = TrustBundle.load(files.bundle_entry).parties["CO"].crl_for(cert(files.ca_cert))
    assert entry_crl is not None
    assert entry_crl.get_revoked_certificate_by_serial_number(target.serial_number) is not None


def test_revoke_keeps_earlier_entries_and_does_not_repeat(tmp_path: Path) -> None:
    files = init_party("US", tmp_path / "us")
    revoke_in_dir(files.root, files.signing_cert)
    revoke_in_dir(files.root, files.tls_cert)
    crl = revoke_in_dir(files.root, files.signing_cert)
    assert sorted(r.serial_number for r in crl) == sorted(
        [cert(files.signing_cert).serial_number, cert(files.tls_cert).serial_number]
    )


def test_revoke_refuses_a_certificate_of_another_ca(pa: PartyFiles, tmp_path: Path) -> None:
    other = init_party("CO", tmp_path / "co")
    with pytest.raises(PKIError, match="was not issued by the CA in"):
        revoke_in_dir(other.root, pa.signing_cert)
    assert list(x509.load_pem_x509_crl(other.crl.read_bytes())) == []


# -- trust bundle ----------------------------------------------------------------


def bundle_text(parties: dict[str, dict[str, list[str]]]) -> str:
    return json.dumps({"format": BUNDLE_FORMAT, "parties": parties})


def pem(path: Path) -> str:
    return path.read_text("ascii")


def test_bundle_round_trips(pki: ThreePartyPKI) -> None:
    bundle = pki.bundle()
    assert sorted(bundle.parties) == ["CO", "PA", "US"]
    again = TrustBundle.from_json(bundle.to_json())
    assert again.parties == bundle.parties


def test_bundle_accepts_any_iso_shaped_party_code(pa: PartyFiles) -> None:
    # Which parties exist is configuration: a fourth country is a bundle entry, not a code change.
    bundle = TrustBundle.from_json(bundle_text({"MX": {"cas": [pem(pa.ca_cert)], "crls": []}}))
    assert sorted(bundle.parties) == ["MX"]


@pytest.mark.parametrize("code", ["pa", "PAN", "P", "P1", ""])
def test_bundle_rejects_a_code_not_shaped_like_a_party(pa: PartyFiles, code: str) -> None:
    with pytest.raises(PKIError, match=rf"{code!r} is not a party code \(ISO 3166-1 alpha-2"):
        TrustBundle.from_json(bundle_text({code: {"cas": [pem(pa.ca_cert)]}}))


@pytest.mark.parametrize("which", ["tls_cert", "signing_cert"])
def test_bundle_rejects_an_end_entity_certificate(pa: PartyFiles, which: str) -> None:
    text = bundle_text({"PA": {"cas": [pem(getattr(pa, which))], "crls": []}})
    with pytest.raises(PKIError, match="a certificate of PA is not a CA certificate"):
        TrustBundle.from_json(text)


def test_bundle_rejects_an_end_entity_next_to_a_ca(pa: PartyFiles) -> None:
    text = bundle_text({"PA": {"cas": [pem(pa.ca_cert) + pem(pa.signing_cert)]}})
    with pytest.raises(PKIError, match="is not a CA certificate"):
        TrustBundle.from_json(text)


def test_bundle_rejects_a_party_without_ca() -> None:
    with pytest.raises(PKIError, match="party PA has no CA certificate"):
        TrustBundle.from_json(bundle_text({"PA": {"cas": []}}))


def test_bundle_rejects_garbage_pem() -> None:
    with pytest.raises(PKIError, match="party CO has an unreadable certificate or CRL"):
        TrustBundle.from_json(bundle_text({"CO": {"cas": ["-----BEGIN CERTIFICATE-----\nxx"]}}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "is not JSON"),
        ('{"format": "other/1", "parties": {}}', "is not a mou-trust-bundle/1 document"),
        ('["mou-trust-bundle/1"]', "is not a mou-trust-bundle/1 document"),
        ('{"format": "mou-trust-bundle/1", "parties": {}}', "lists no parties"),
    ],
)
def test_bundle_rejects_malformed_documents(text: str, message: str) -> None:
    with pytest.raises(PKIError, match=message):
        TrustBundle.from_json(text, "bundle.json")


def test_bundle_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PKIError, match="cannot read trust bundle"):
        TrustBundle.load(tmp_path / "absent.json")


def test_issuing_party_is_decided_by_signature(pki: ThreePartyPKI, pa: PartyFiles) -> None:
    bundle = pki.bundle()
    co_signing = cert(pki.parties["CO"].signing_cert)
    party, ca = bundle.issuing_party(co_signing) or ("", None)
    assert party == "CO"
    assert ca == cert(pki.parties["CO"].ca_cert)
    # Same subject and issuer names as the session PA PKI, other keys: not trusted.
    assert cert(pa.signing_cert).issuer == cert(pki.parties["PA"].signing_cert).issuer
    assert bundle.issuing_party(cert(pa.signing_cert)) is None


def test_merge_keeps_every_party(pki: ThreePartyPKI) -> None:
    entries = [TrustBundle.load(pki.parties[p].bundle_entry) for p in ("PA", "CO", "US")]
    merged = TrustBundle.merge(entries)
    assert sorted(merged.parties) == ["CO", "PA", "US"]
    pem_blob = merged.verify_locations_pem(["CO"])
    assert pem_blob.count(b"BEGIN CERTIFICATE") == 1
    assert pem_blob.count(b"BEGIN X509 CRL") == 1
    assert cert(pki.parties["CO"].ca_cert).public_bytes(Encoding.PEM) in pem_blob
