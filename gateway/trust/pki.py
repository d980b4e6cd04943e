"""Development PKI: a root CA per party, TLS and record-signing certificates, CRLs.

Production parties bring their own PKI; the gateway only needs PEM files. This
module exists so a developer, the tests and the demo can create a complete,
realistic PKI in one call (``gateway pki init``).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.trust.bundle import PartyTrust, party_entry
from gateway.trust.errors import PKIError
from gateway.trust.keys import (
    KeyKind,
    PrivateKey,
    generate_private_key,
    load_certificates,
    load_private_key,
    write_private_key,
)
from gateway.trust.parties import is_party_code
from gateway.trust.path import DOCUMENT_SIGNING

CertKind = Literal["tls", "signing"]


@dataclass(frozen=True, slots=True)
class PartyFiles:
    """Where ``pki init`` put a party's files."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def tls_cert(self) -> Path:
        return self.root / "tls.pem"

    @property
    def tls_key(self) -> Path:
        return self.root / "tls.key"

    @property
    def signing_cert(self) -> Path:
        return self.root / "signing.pem"

    @property
    def signing_key(self) -> Path:
        return self.root / "signing.key"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def bundle_entry(self) -> Path:
        return self.root / "bundle-entry.json"


def _hash_for(key: PrivateKey) -> hashes.SHA256 | None:
    # Ed25519 signs without a separate digest; cryptography wants None there.
    return None if key.__class__.__name__.startswith("Ed25519") else hashes.SHA256()


def _name(party: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, party),
            # A development PKI: the party says who it is in its own production PKI.
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"MOU Gateway party {party}"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_root_ca(party: str, key: PrivateKey, *, days: int = 3650, now: datetime | None = None) -> x509.Certificate:
    """Return a self-signed root CA certificate for ``party``."""
    now = now or datetime.now(UTC)
    name = _name(party, f"{party} MOU Gateway Root CA")
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, _hash_for(key))
    )


def issue_certificate(
    party: str,
    kind: CertKind,
    subject_key: PrivateKey,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    *,
    hosts: tuple[str, ...] = (),
    common_name: str | None = None,
    not_before: datetime | None = None,
    days: int = 825,
) -> x509.Certificate:
    """Return an end-entity certificate of ``kind`` for ``party`` issued by the CA.

    TLS certificates carry serverAuth+clientAuth and SANs 127.0.0.1, localhost
    and ``hosts``; signing certificates carry digitalSignature and
    contentCommitment, and id-kp-documentSigning (RFC 9336) as their only
    extended key usage.
    """
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    cn = common_name or f"{party} MOU Gateway {'node' if kind == 'tls' else 'record signing'}"
    public = subject_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(party, cn))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=kind == "signing",
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if kind == "tls":
        names: list[x509.GeneralName] = [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost"),
        ]
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    else:
        # One purpose per key: record signing only (RFC 9336), never TLS.
        builder = builder.add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), critical=False)
    return builder.sign(ca_key, _hash_for(ca_key))


def make_crl(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    revoked_serials: Sequence[tuple[int, datetime] | x509.RevokedCertificate],
    *,
    now: datetime | None = None,
    days: int = 30,
    number: int = 1,
) -> x509.CertificateRevocationList:
    """Return a CRL signed by the CA listing ``revoked_serials``, with CRL number ``number``.

    Partners refuse a CRL whose number is below the one they hold (no rollback).
    """
    now = now or datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for item in revoked_serials:
        if isinstance(item, x509.RevokedCertificate):  # an entry kept as it was, reason and all
            builder = builder.add_revoked_certificate(item)
            continue
        serial, when = item
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(ca_key, _hash_for(ca_key))


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_bundle_entry(files: PartyFiles, party: str) -> None:
    """(Re)write the party's trust-bundle entry from its CA and CRL files."""
    cas = tuple(load_certificates(files.ca_cert))
    crls = (x509.load_pem_x509_crl(files.crl.read_bytes()),) if files.crl.exists() else ()
    entry = {"format": "mou-trust-bundle/1", "parties": {party: party_entry(PartyTrust(party, cas, crls))}}
    files.bundle_entry.write_text(json.dumps(entry, indent=2), "utf-8")


def init_party(party: str, out: Path, *, hosts: tuple[str, ...] = (), key_kind: KeyKind = "ec-p256") -> PartyFiles:
    """Create a party's dev PKI under ``out``; refuses to overwrite an existing CA.

    Returns the file locations. Private keys are written 0600.
    """
    if not is_party_code(party):
        raise PKIError(f"{party!r} is not a party code", hint="use the ISO 3166-1 alpha-2 code of the party's country")
    files = PartyFiles(out)
    if files.ca_key.exists():
        raise PKIError(f"{files.ca_key} already exists", hint="choose another --out directory")
    ca_key = generate_private_key("ec-p256")
    ca_cert = make_root_ca(party, ca_key)
    write_private_key(files.ca_key, ca_key)
    _write_public(files.ca_cert, ca_cert.public_bytes(Encoding.PEM))
    for kind, cert_path, key_path in (
        ("tls", files.tls_cert, files.tls_key),
        ("signing", files.signing_cert, files.signing_key),
    ):
        # TLS stays on P-256 (every TLS stack has it); the record key follows key_kind.
        subject_key = generate_private_key("ec-p256" if kind == "tls" else key_kind)
        cert = issue_certificate(party, kind, subject_key, ca_cert, ca_key, hosts=hosts)  # type: ignore[arg-type]
        write_private_key(key_path, subject_key)
        _write_public(cert_path, cert.public_bytes(Encoding.PEM))
    _write_public(files.crl, make_crl(ca_cert, ca_key, []).public_bytes(Encoding.PEM))
    write_bundle_entry(files, party)
    return files


def _party_of_ca(ca_cert: x509.Certificate) -> str:
    countries = ca_cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
    if not countries:
        raise PKIError("CA certificate has no country (party) attribute")
    return str(countries[0].value)


def issue_from_dir(
    ca_dir: Path,
    kind: CertKind,
    out_cert: Path,
    out_key: Path,
    *,
    hosts: tuple[str, ...] = (),
    common_name: str | None = None,
    days: int = 825,
    not_before: datetime | None = None,
    key_kind: KeyKind = "ec-p256",
) -> x509.Certificate:
    """Issue a new certificate from the CA in ``ca_dir`` (``pki issue``)."""
    files = PartyFiles(ca_dir)
    ca_cert = load_certificates(files.ca_cert)[0]
    ca_key = load_private_key(files.ca_key)
    subject_key = generate_private_key(key_kind)
    cert = issue_certificate(
        _party_of_ca(ca_cert),
        kind,
        subject_key,
        ca_cert,
        ca_key,
        hosts=hosts,
        common_name=common_name,
        days=days,
        not_before=not_before,
    )
    write_private_key(out_key, subject_key)
    _write_public(out_cert, cert.public_bytes(Encoding.PEM))
    return cert


def revocation_entry(
    serial: int, when: datetime, reason: x509.ReasonFlags | None = None, invalidity_date: datetime | None = None
) -> x509.RevokedCertificate:
    """Return a CRL entry with an RFC 5280 reason code and invalidity date when given."""
    builder = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
    if reason is not None:
        builder = builder.add_extension(x509.CRLReason(reason), critical=False)
    if invalidity_date is not None:
        builder = builder.add_extension(x509.InvalidityDate(invalidity_date), critical=False)
    return builder.build()


def revoke_in_dir(
    ca_dir: Path,
    cert_path: Path,
    *,
    now: datetime | None = None,
    reason: x509.ReasonFlags | None = None,
    invalidity_date: datetime | None = None,
) -> x509.CertificateRevocationList:
    """Add ``cert_path``'s serial to the CA's CRL and refresh the bundle entry (``pki revoke``).

    ``reason`` and ``invalidity_date`` (RFC 5280 §5.3.1, §5.3.2) decide whether
    records signed before the revocation stay valid when received (trust.longterm).
    """
    files = PartyFiles(ca_dir)
    ca_cert = load_certificates(files.ca_cert)[0]
    ca_key = load_private_key(files.ca_key)
    target = load_certificates(cert_path)[0]
    if target.issuer != ca_cert.subject:
        raise PKIError(f"{cert_path} was not issued by the CA in {ca_dir}")
    now = now or datetime.now(UTC)
    revoked: list[x509.RevokedCertificate] = []
    number = 1
    if files.crl.exists():
        current = x509.load_pem_x509_crl(files.crl.read_bytes())
        revoked = list(current)
        try:
            number = current.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
        except x509.ExtensionNotFound:
            number = 2  # the first CRL of a party made before CRL numbers counts as 1
    if target.serial_number not in {entry.serial_number for entry in revoked}:
        revoked.append(revocation_entry(target.serial_number, now, reason, invalidity_date))
    crl = make_crl(ca_cert, ca_key, revoked, now=now, number=number)
    _write_public(files.crl, crl.public_bytes(Encoding.PEM))
    write_bundle_entry(files, _party_of_ca(ca_cert))
    return crl
