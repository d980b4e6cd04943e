"""Certificates minted by hand for the chain-integrity and key-purpose tests.

Only ``cryptography``: every certificate here is what an attacker holding some
private key (a party's TLS key, its record-signing key, a CA key) could issue,
with each field chosen by the test. Nothing calls the gateway's PKI code, so a
bug there cannot hide a bug in what is tested.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from gateway.records.schemas import record_json
from gateway.records.signing import build_record
from gateway.trust.canonical import canonicalize
from gateway.trust.jws import RECORD_TYP
from tests.trust import forge

# RFC 9336 id-kp-documentSigning, spelled out here rather than imported: the
# tests pin the OID the gateway promises, not whatever constant it holds.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
# A private-arc OID nobody processes: marked critical it must make a certificate unusable.
UNKNOWN_OID = ObjectIdentifier("1.3.6.1.4.1.99999.7.1")

AnyPrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def name(party: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, party),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


EE_USAGE = _usage(digital_signature=True)
CA_USAGE = _usage(key_cert_sign=True, crl_sign=True)
CA_USAGE_WITHOUT_CERT_SIGN = _usage(digital_signature=True, crl_sign=True)

_DEFAULT: Any = object()


def _hash_for(key: AnyPrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def mint(
    subject: x509.Name,
    public_key: Any,
    issuer_name: x509.Name,
    issuer_key: AnyPrivateKey,
    *,
    ca: bool = False,
    path_length: int | None = None,
    basic_constraints: bool = True,
    key_usage: x509.KeyUsage | None = _DEFAULT,
    purposes: tuple[ObjectIdentifier, ...] | None = _DEFAULT,
    unknown_extension: bool | None = None,
    localhost: bool = False,
    days: int = 30,
) -> x509.Certificate:
    """Return a certificate with exactly the fields named.

    ``key_usage`` defaults to digitalSignature for an end entity and
    keyCertSign+cRLSign for a CA (None: no keyUsage extension);
    ``purposes`` defaults to id-kp-documentSigning for an end entity and none
    for a CA (None: no extended key usage); ``unknown_extension``
    True/False adds UNKNOWN_OID as a critical/non-critical extension;
    ``localhost`` adds the SANs 127.0.0.1 and localhost (TLS certificates).
    """
    start = datetime.now(UTC) - timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    if key_usage is _DEFAULT:
        key_usage = CA_USAGE if ca else EE_USAGE
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    if purposes is _DEFAULT:
        purposes = None if ca else (DOCUMENT_SIGNING,)
    if purposes is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(purposes)), critical=False)
    if unknown_extension is not None:
        extension = x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00")  # DER NULL
        builder = builder.add_extension(extension, critical=unknown_extension)
    if localhost:
        sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, _hash_for(issuer_key))


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


@dataclass(frozen=True)
class Authority:
    """A CA certificate and its private key (a root of a test bundle, or an intermediate)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def issue(self, subject: x509.Name, public_key: Any, **fields: Any) -> x509.Certificate:
        return mint(subject, public_key, self.cert.subject, self.key, **fields)

    def sub_ca(self, common_name: str, **fields: Any) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        party = str(self.cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value)
        return Authority(self.issue(name(party, common_name), key.public_key(), ca=True, **fields), key)


def root(party: str, *, path_length: int | None = 1) -> Authority:
    """A self-signed root CA of ``party`` (not in any bundle until a test puts it there)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name(party, f"{party} test root {x509.random_serial_number() % 10**6}")
    return Authority(mint(subject, key.public_key(), subject, key, ca=True, path_length=path_length), key)


# -- records signed with a chosen key and chain --------------------------------------


def flag_payload(moment: datetime, party: str = "PA", recipients: tuple[str, ...] = ("CO",)) -> bytes:
    """A criminal_network_flag originated by ``party`` (fresh record_id), as canonical JSON."""
    draft = forge.example_draft("criminal_network_flag")
    draft["originator"]["party"] = party
    draft["recipients"] = list(recipients)
    draft["body"]["subject"].pop("travel_document", None)  # sendable to any recipient under the terms
    return canonicalize(record_json(build_record(draft, moment)))


def signed_token(
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
    chain: list[x509.Certificate],
    payload: bytes,
    **header: Any,
) -> str:
    """A record JWS over ``payload`` signed with ``key``; x5c = ``chain``; kid = the key's thumbprint."""
    values: dict[str, Any] = {
        "alg": "Ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256",
        "kid": forge.jwk_thumbprint(key.public_key()),
        "typ": RECORD_TYP,
        "x5c": forge.x5c(chain),
    }
    values.update(header)
    return forge.compact(values, payload, forge.signer_for(key))


def raw_es_token(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, chain: list[x509.Certificate], payload: bytes, kid: str
) -> str:
    """A record JWS claiming ES256 over ``payload`` signed with a key the gateway does not accept.

    P-384 signs with ECDSA SHA-256 (r||s of 48 bytes each), RSA with PKCS#1 v1.5:
    each a signature a careless verifier might still check.
    """

    def sign(signing_input: bytes) -> bytes:
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    header = {"alg": "ES256", "kid": kid, "typ": RECORD_TYP, "x5c": forge.x5c(chain)}
    return forge.compact(header, payload, sign)
