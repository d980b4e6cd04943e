"""Hostile and broken record JWS: each is refused by ``verify_record`` with its own error.

Tokens are built by hand (tests/trust/forge.py: ``cryptography`` + base64url), and
``test_hand_built_token_verifies`` shows that the untouched hand-built token does
verify, so each negative test differs from a valid token only in what it names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.records.schemas import Record, record_json
from gateway.records.signing import build_record, rfc3339, sign_record, verify_record
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import (
    AlgorithmNotAllowedError,
    BadSignatureError,
    CertificateExpiredError,
    CertificateRevokedError,
    KeyPurposeError,
    KeyUsageError,
    MalformedJWSError,
    PartyMismatchError,
    RecordExpiredError,
    SchemaViolationError,
    UnknownKeyError,
    UntrustedChainError,
)
from gateway.trust.jws import RECEIPT_TYP, RECORD_TYP, sign_compact
from gateway.trust.keys import (
    PrivateKey,
    SigningKey,
    generate_private_key,
    load_certificates,
    load_private_key,
)
from gateway.trust.path import DOCUMENT_SIGNING
from gateway.trust.pki import init_party, issue_certificate, make_crl, make_root_ca, revoke_in_dir
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.support.pki import make_test_pki
from tests.trust import forge


@dataclass(frozen=True)
class Signer:
    """A private key and the certificate chain (leaf first) that goes into x5c."""

    key: PrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def alg(self) -> str:
        return "Ed25519" if isinstance(self.key, ed25519.Ed25519PrivateKey) else "ES256"

    def header(self, **changes: Any) -> dict[str, Any]:
        header: dict[str, Any] = {
            "alg": self.alg,
            "kid": forge.jwk_thumbprint(self.key.public_key()),
            "typ": RECORD_TYP,
            "x5c": forge.x5c(list(self.chain)),
        }
        header.update(changes)
        return {name: value for name, value in header.items() if value is not None}

    def forge(self, payload: bytes, **header_changes: Any) -> str:
        """Return a token signed correctly by this key over ``payload`` with a changed header."""
        return forge.compact(self.header(**header_changes), payload, forge.signer_for(self.key))


def party_signer(pki: ThreePartyPKI, party: str) -> Signer:
    files = pki.parties[party]
    return Signer(load_private_key(files.signing_key), tuple(load_certificates(files.signing_cert)))


def party_ca(pki: ThreePartyPKI, party: str) -> tuple[x509.Certificate, PrivateKey]:
    files = pki.parties[party]
    return load_certificates(files.ca_cert)[0], load_private_key(files.ca_key)


def now() -> datetime:
    return datetime.now(UTC)


def flag_record(moment: datetime, **changes: Any) -> Record:
    """The PA criminal_network_flag example as a record created at ``moment``."""
    return build_record({**forge.example_draft("criminal_network_flag"), **changes}, moment)


def flag_payload(moment: datetime) -> bytes:
    return canonicalize(record_json(flag_record(moment)))


@pytest.fixture(scope="module")
def rogue_pa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second "PA" PKI: same CA name as the real one, but not in the trust bundle."""
    return init_party("PA", tmp_path_factory.mktemp("rogue") / "pa").root


# -- baseline --------------------------------------------------------------------


def test_hand_built_token_verifies(pki: ThreePartyPKI) -> None:
    moment = now()
    token = party_signer(pki, "PA").forge(flag_payload(moment))
    verified = verify_record(token, pki.bundle(), moment)
    assert verified.signer_party == "PA"
    assert verified.payload == flag_record(moment).model_copy(update={"record_id": verified.payload.record_id})


# -- step 1: header parse --------------------------------------------------------


@pytest.mark.parametrize("parameter", ["jwk", "jku", "x5u", "crit"])
def test_header_parameter_choosing_trust_is_refused(pki: ThreePartyPKI, parameter: str) -> None:
    moment = now()
    attacker = generate_private_key()
    value: Any = {
        "jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        "jku": "https://attacker.example/keys.json",
        "x5u": "https://attacker.example/cert.pem",
        "crit": ["exp"],
    }[parameter]
    header = {**party_signer(pki, "PA").header(), parameter: value}
    token = forge.compact(header, flag_payload(moment), forge.signer_for(attacker))
    with pytest.raises(MalformedJWSError, match=f"header parameters not accepted: {parameter}"):
        verify_record(token, pki.bundle(), moment)


def test_x5c_missing(pki: ThreePartyPKI) -> None:
    moment = now()
    token = party_signer(pki, "PA").forge(flag_payload(moment), x5c=None)
    with pytest.raises(MalformedJWSError, match="x5c header with the signing certificate chain"):
        verify_record(token, pki.bundle(), moment)


@pytest.mark.parametrize("x5c", [[], "MIIB", [17]], ids=["empty", "string", "number"])
def test_x5c_of_the_wrong_shape(pki: ThreePartyPKI, x5c: Any) -> None:
    moment = now()
    token = party_signer(pki, "PA").forge(flag_payload(moment), x5c=x5c)
    with pytest.raises(MalformedJWSError, match="x5c header with the signing certificate chain"):
        verify_record(token, pki.bundle(), moment)


def test_x5c_entry_not_a_certificate(pki: ThreePartyPKI) -> None:
    moment = now()
    token = party_signer(pki, "PA").forge(flag_payload(moment), x5c=["bm90IGEgY2VydA=="])
    with pytest.raises(MalformedJWSError, match="x5c entry is not a base64 DER certificate"):
        verify_record(token, pki.bundle(), moment)


@pytest.mark.parametrize("typ", ["JWT", RECEIPT_TYP, "MOU-RECORD+JWS", None])
def test_wrong_typ(pki: ThreePartyPKI, typ: str | None) -> None:
    moment = now()
    token = party_signer(pki, "PA").forge(flag_payload(moment), typ=typ)
    with pytest.raises(MalformedJWSError, match="typ must be 'mou-record\\+jws'"):
        verify_record(token, pki.bundle(), moment)


def test_receipt_signed_by_the_gateway_is_not_a_record(pki: ThreePartyPKI) -> None:
    moment = now()
    token = sign_compact(flag_payload(moment), pki.signing_key("PA"), RECEIPT_TYP)
    with pytest.raises(MalformedJWSError, match="got 'mou-receipt\\+jws'"):
        verify_record(token, pki.bundle(), moment)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("abc.def", "three non-empty dot-separated parts"),
        ("a.b.c.d.e", "three non-empty dot-separated parts"),
        ("eyJhbGciOiJFUzI1NiJ9..c2ln", "three non-empty dot-separated parts"),
        ("eyJhbGciOiJFUzI1NiJ9=.e30.c2ln", "must be unpadded"),
        ("W10.e30.c2ln", "not a JSON object"),  # header is []
        ("bm90IGpzb24.e30.c2ln", "protected header is not JSON"),
        ("e30.e30.c2ln", "typ must be"),  # header is {}
    ],
)
def test_structurally_broken_tokens(pki: ThreePartyPKI, token: str, message: str) -> None:
    with pytest.raises(MalformedJWSError, match=message):
        verify_record(token, pki.bundle(), now())


def test_duplicate_header_member_is_refused(pki: ThreePartyPKI) -> None:
    # Two "alg" members: parsers disagree on which one wins, so neither may.
    raw_header = '{"alg":"ES256","alg":"none","typ":"mou-record+jws"}'
    token = f"{forge.b64url(raw_header.encode())}.e30.c2ln"
    with pytest.raises(MalformedJWSError, match="duplicate key 'alg'"):
        verify_record(token, pki.bundle(), now())


def test_non_ascii_bytes(pki: ThreePartyPKI) -> None:
    with pytest.raises(MalformedJWSError, match="ASCII only"):
        verify_record("e30.é.c2ln".encode(), pki.bundle(), now())


def test_oversized_token(pki: ThreePartyPKI) -> None:
    with pytest.raises(MalformedJWSError, match="larger than 1 MiB"):
        verify_record(b"e30." + b"A" * (1024 * 1024) + b".c2ln", pki.bundle(), now())


# -- step 2: algorithm -----------------------------------------------------------


def test_alg_none_with_a_signature(pki: ThreePartyPKI) -> None:
    moment = now()
    token = party_signer(pki, "PA").forge(flag_payload(moment), alg="none")
    with pytest.raises(AlgorithmNotAllowedError, match="alg 'none' is not accepted"):
        verify_record(token, pki.bundle(), moment)


def test_alg_none_unsecured_token(pki: ThreePartyPKI) -> None:
    # RFC 7515 appendix A.5 form: empty signature. Refused before the alg is even read.
    moment = now()
    token = forge.compact(party_signer(pki, "PA").header(alg="none"), flag_payload(moment), None)
    assert token.endswith(".")
    with pytest.raises(MalformedJWSError, match="three non-empty dot-separated parts"):
        verify_record(token, pki.bundle(), moment)


@pytest.mark.parametrize("secret_form", ["spki-pem", "spki-der", "certificate-der"])
def test_hs256_keyed_with_the_public_key(pki: ThreePartyPKI, secret_form: str) -> None:
    # Algorithm confusion: a verifier that picks the key type from the header would
    # check this HMAC with the (public) x5c key bytes as the secret.
    moment = now()
    signer = party_signer(pki, "PA")
    public = signer.chain[0].public_key()
    secret = {
        "spki-pem": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "spki-der": public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        "certificate-der": signer.chain[0].public_bytes(serialization.Encoding.DER),
    }[secret_form]
    token = forge.compact(signer.header(alg="HS256"), flag_payload(moment), forge.hs256_signer(secret))
    with pytest.raises(AlgorithmNotAllowedError, match="alg 'HS256' is not accepted"):
        verify_record(token, pki.bundle(), moment)


@pytest.mark.parametrize("alg", ["HS384", "RS256", "PS256", "ES384", "ES256K", "es256", "ES256 "])
def test_other_algorithms(pki: ThreePartyPKI, alg: str) -> None:
    moment = now()
    token = party_signer(pki, "PA").forge(flag_payload(moment), alg=alg)
    with pytest.raises(AlgorithmNotAllowedError, match=f"alg '{alg}' is not accepted"):
        verify_record(token, pki.bundle(), moment)


def test_alg_missing(pki: ThreePartyPKI) -> None:
    moment = now()
    token = party_signer(pki, "PA").forge(flag_payload(moment), alg=None)
    with pytest.raises(AlgorithmNotAllowedError, match="alg None is not accepted"):
        verify_record(token, pki.bundle(), moment)


def test_deprecated_eddsa_name(pki: ThreePartyPKI) -> None:
    moment = now()
    ca_cert, ca_key = party_ca(pki, "PA")
    key = generate_private_key("ed25519")
    signer = Signer(key, (issue_certificate("PA", "signing", key, ca_cert, ca_key),))
    payload = flag_payload(moment)
    # Control: the same key and certificate under the RFC 9864 name verify.
    assert verify_record(signer.forge(payload), pki.bundle(), moment).algorithm == "Ed25519"
    with pytest.raises(AlgorithmNotAllowedError, match="alg 'EdDSA' is not accepted"):
        verify_record(signer.forge(payload, alg="EdDSA"), pki.bundle(), moment)


# -- step 3: certificate chain ---------------------------------------------------


def test_unknown_ca(pki: ThreePartyPKI, rogue_pa: Path) -> None:
    moment = now()
    rogue = Signer(
        load_private_key(rogue_pa / "signing.key"),
        tuple(load_certificates(rogue_pa / "signing.pem")),
    )
    # Same issuer name as the real PA CA: only the signature on the certificate differs.
    real_ca, _ = party_ca(pki, "PA")
    assert rogue.chain[0].issuer == real_ca.subject
    with pytest.raises(UntrustedChainError, match="does not chain to any CA of the trust bundle"):
        verify_record(rogue.forge(flag_payload(moment)), pki.bundle(), moment)


def test_unknown_ca_in_x5c_is_not_a_trust_anchor(pki: ThreePartyPKI, rogue_pa: Path) -> None:
    moment = now()
    real_ca, _ = party_ca(pki, "PA")
    rogue = Signer(
        load_private_key(rogue_pa / "signing.key"),
        (
            load_certificates(rogue_pa / "signing.pem")[0],
            load_certificates(rogue_pa / "ca.pem")[0],
            real_ca,
        ),
    )
    with pytest.raises(UntrustedChainError, match="does not chain to any CA of the trust bundle"):
        verify_record(rogue.forge(flag_payload(moment)), pki.bundle(), moment)


def test_party_missing_from_the_bundle(pki: ThreePartyPKI) -> None:
    moment = now()
    token = sign_record(flag_record(moment), pki.signing_key("PA")).jws
    without_pa = TrustBundle({code: t for code, t in pki.bundle().parties.items() if code != "PA"})
    with pytest.raises(UntrustedChainError, match="does not chain"):
        verify_record(token, without_pa, moment)


# -- step 4: validity ------------------------------------------------------------


def issued_signer(pki: ThreePartyPKI, *, not_before: datetime, days: int) -> Signer:
    ca_cert, ca_key = party_ca(pki, "PA")
    key = generate_private_key()
    cert = issue_certificate("PA", "signing", key, ca_cert, ca_key, not_before=not_before, days=days)
    return Signer(key, (cert,))


def test_expired_signing_certificate(pki: ThreePartyPKI) -> None:
    moment = now()
    signer = issued_signer(pki, not_before=moment - timedelta(days=60), days=30)
    token = sign_record(flag_record(moment), SigningKey(signer.key, signer.chain)).jws
    with pytest.raises(CertificateExpiredError, match=r"PA MOU Gateway record signing.* expired at"):
        verify_record(token, pki.bundle(), moment)


def test_expired_signing_certificate_verified_while_valid() -> None:
    # Control for the test above, with a CA old enough to have issued the certificate.
    moment = now()
    ca_key = generate_private_key()
    ca_cert = make_root_ca("PA", ca_key, now=moment - timedelta(days=90))
    bundle = TrustBundle({"PA": PartyTrust("PA", (ca_cert,))})
    key = generate_private_key()
    cert = issue_certificate("PA", "signing", key, ca_cert, ca_key, not_before=moment - timedelta(days=60), days=30)
    token = sign_record(flag_record(moment), SigningKey(key, (cert,))).jws
    assert verify_record(token, bundle, moment - timedelta(days=45)).signer_party == "PA"
    with pytest.raises(CertificateExpiredError, match=r"record signing.* expired at"):
        verify_record(token, bundle, moment)


def test_not_yet_valid_signing_certificate(pki: ThreePartyPKI) -> None:
    moment = now()
    signer = issued_signer(pki, not_before=moment + timedelta(days=1), days=30)
    token = sign_record(flag_record(moment), SigningKey(signer.key, signer.chain)).jws
    with pytest.raises(CertificateExpiredError, match="is not valid before"):
        verify_record(token, pki.bundle(), moment)


def test_verification_time_before_the_ca_existed(pki: ThreePartyPKI) -> None:
    moment = now()
    token = sign_record(flag_record(moment), pki.signing_key("PA")).jws
    with pytest.raises(CertificateExpiredError, match="is not valid before") as caught:
        verify_record(token, pki.bundle(), moment - timedelta(days=1))
    assert caught.value.step == "4-certificate-validity"


# -- step 5: revocation ----------------------------------------------------------


def test_revoked_signing_certificate(tmp_path: Path) -> None:
    own = make_test_pki(tmp_path, parties=("PA", "CO"))  # revocation mutates the PKI
    moment = now()
    token = sign_record(flag_record(moment), own.signing_key("PA")).jws
    assert verify_record(token, own.bundle(), moment).signer_party == "PA"

    revoke_in_dir(own.parties["PA"].root, own.parties["PA"].signing_cert)
    stale = own.bundle()  # the bundle file is not rewritten until redistributed
    assert verify_record(token, stale, moment).signer_party == "PA"
    bundle = own.rebuild_bundle()

    with pytest.raises(CertificateRevokedError, match=r"record signing.*was revoked on") as caught:
        verify_record(token, bundle, now())
    assert caught.value.reason == "certificate_revoked"


def test_crl_of_another_ca_does_not_revoke(tmp_path: Path, rogue_pa: Path) -> None:
    # A CRL listing the serial but signed by someone else is ignored.
    own = make_test_pki(tmp_path, parties=("PA",))
    moment = now()
    token = sign_record(flag_record(moment), own.signing_key("PA")).jws
    serial = load_certificates(own.parties["PA"].signing_cert)[0].serial_number
    rogue_ca = load_certificates(rogue_pa / "ca.pem")[0]
    forged_crl = make_crl(rogue_ca, load_private_key(rogue_pa / "ca.key"), [(serial, moment)])
    trust = own.bundle().parties["PA"]
    bundle = TrustBundle({"PA": PartyTrust("PA", trust.cas, (*trust.crls, forged_crl))})
    assert verify_record(token, bundle, moment).signer_party == "PA"


# -- step 6: key usage and kid ---------------------------------------------------


def test_kid_changed(pki: ThreePartyPKI) -> None:
    moment = now()
    token = sign_record(flag_record(moment), pki.signing_key("PA")).jws
    header, _, _ = forge.split(token)
    # The kid of another real, trusted key: still not the key of x5c[0].
    tampered = forge.replace_header(token, {**header, "kid": pki.signing_key("CO").kid})
    with pytest.raises(UnknownKeyError, match="kid is not the RFC 7638 thumbprint of the x5c\\[0\\] key"):
        verify_record(tampered, pki.bundle(), moment)


def test_kid_missing(pki: ThreePartyPKI) -> None:
    moment = now()
    token = party_signer(pki, "PA").forge(flag_payload(moment), kid=None)
    with pytest.raises(UnknownKeyError, match="kid is not the RFC 7638 thumbprint"):
        verify_record(token, pki.bundle(), moment)


def test_ca_certificate_used_to_sign(pki: ThreePartyPKI) -> None:
    moment = now()
    ca_cert, ca_key = party_ca(pki, "PA")
    token = Signer(ca_key, (ca_cert,)).forge(flag_payload(moment))
    with pytest.raises(KeyUsageError, match="is a CA certificate, not an end entity"):
        verify_record(token, pki.bundle(), moment)


def hand_issued(
    pki: ThreePartyPKI,
    key: PrivateKey,
    usage: x509.KeyUsage | None,
    purposes: tuple[x509.ObjectIdentifier, ...] = (DOCUMENT_SIGNING,),
) -> x509.Certificate:
    """A PA end-entity certificate with exactly the given keyUsage (or none) and extended key usages (or none)."""
    ca_cert, ca_key = party_ca(pki, "PA")
    start = now() - timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PA hand-issued")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if purposes:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(purposes)), critical=False)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    return builder.sign(ca_key, hashes.SHA256())


def key_usage(*, digital_signature: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def test_certificate_without_digital_signature(pki: ThreePartyPKI) -> None:
    moment = now()
    key = generate_private_key()
    signer = Signer(key, (hand_issued(pki, key, key_usage(digital_signature=False)),))
    # Control: the same profile with digitalSignature verifies.
    good = Signer(key, (hand_issued(pki, key, key_usage(digital_signature=True)),))
    assert verify_record(good.forge(flag_payload(moment)), pki.bundle(), moment)
    with pytest.raises(KeyUsageError, match="lacks the digitalSignature key usage"):
        verify_record(signer.forge(flag_payload(moment)), pki.bundle(), moment)


def test_certificate_without_key_usage_extension(pki: ThreePartyPKI) -> None:
    moment = now()
    key = generate_private_key()
    signer = Signer(key, (hand_issued(pki, key, None),))
    with pytest.raises(KeyUsageError, match="has no keyUsage extension"):
        verify_record(signer.forge(flag_payload(moment)), pki.bundle(), moment)


def test_alg_that_does_not_match_the_key(pki: ThreePartyPKI) -> None:
    moment = now()
    token = party_signer(pki, "PA").forge(flag_payload(moment), alg="Ed25519")
    with pytest.raises(KeyUsageError, match="alg Ed25519 does not match"):
        verify_record(token, pki.bundle(), moment)


def test_tls_certificate_used_to_sign(pki: ThreePartyPKI) -> None:
    moment = now()
    files = pki.parties["PA"]
    signer = Signer(load_private_key(files.tls_key), tuple(load_certificates(files.tls_cert)))
    with pytest.raises(KeyPurposeError, match=r"lacks the extended key usage 1\.3\.6\.1\.5\.5\.7\.3\.36"):
        verify_record(signer.forge(flag_payload(moment)), pki.bundle(), moment)


@pytest.mark.parametrize("tls_purpose", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
def test_signing_certificate_that_also_serves_tls(pki: ThreePartyPKI, tls_purpose: x509.ObjectIdentifier) -> None:
    moment = now()
    key = generate_private_key()
    both = hand_issued(pki, key, key_usage(digital_signature=True), (DOCUMENT_SIGNING, tls_purpose))
    with pytest.raises(KeyPurposeError, match="is a TLS certificate"):
        verify_record(Signer(key, (both,)).forge(flag_payload(moment)), pki.bundle(), moment)


def test_signing_certificate_without_any_extended_key_usage(pki: ThreePartyPKI) -> None:
    moment = now()
    key = generate_private_key()
    bare = hand_issued(pki, key, key_usage(digital_signature=True), ())
    with pytest.raises(KeyPurposeError, match="required for document-signing"):
        verify_record(Signer(key, (bare,)).forge(flag_payload(moment)), pki.bundle(), moment)


# -- step 7: signature -----------------------------------------------------------


def test_tampered_payload(pki: ThreePartyPKI) -> None:
    moment = now()
    signed = sign_record(flag_record(moment), pki.signing_key("PA"))
    document = json.loads(signed.payload)
    document["handling"] = "H0"  # H3 in the example: "do not disseminate further"
    assert document != json.loads(signed.payload)
    tampered = forge.replace_payload(signed.jws, canonicalize(document))
    with pytest.raises(BadSignatureError, match="signature does not verify") as caught:
        verify_record(tampered, pki.bundle(), moment)
    assert caught.value.step == "7-signature"


def test_tampered_header_with_the_same_kid(pki: ThreePartyPKI) -> None:
    moment = now()
    token = sign_record(flag_record(moment), pki.signing_key("PA")).jws
    header, _, _ = forge.split(token)
    tampered = forge.replace_header(token, {**header, "cty": "json"})
    with pytest.raises(BadSignatureError, match="signature does not verify"):
        verify_record(tampered, pki.bundle(), moment)


def test_header_reencoded_with_the_same_members(pki: ThreePartyPKI) -> None:
    # The signature covers the header bytes, not its meaning.
    moment = now()
    token = sign_record(flag_record(moment), pki.signing_key("PA")).jws
    header, _, _ = forge.split(token)
    tampered = forge.replace_header(token, dict(reversed(list(header.items()))))
    assert tampered.split(".")[0] != token.split(".")[0]
    with pytest.raises(BadSignatureError, match="signature does not verify"):
        verify_record(tampered, pki.bundle(), moment)


def test_signature_bit_flipped(pki: ThreePartyPKI) -> None:
    moment = now()
    token = sign_record(flag_record(moment), pki.signing_key("PA")).jws
    _, _, signature = forge.split(token)
    flipped = bytes([signature[0] ^ 0x01]) + signature[1:]
    raw_header, raw_payload, _ = token.split(".")
    with pytest.raises(BadSignatureError, match="signature does not verify"):
        verify_record(f"{raw_header}.{raw_payload}.{forge.b64url(flipped)}", pki.bundle(), moment)


def test_der_encoded_ecdsa_signature(pki: ThreePartyPKI) -> None:
    # JWS ES256 signatures are raw r||s; the DER (X9.62) form must not be accepted.
    moment = now()
    signer = party_signer(pki, "PA")
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey)
    key = signer.key
    token = forge.compact(
        signer.header(),
        flag_payload(moment),
        lambda signing_input: key.sign(signing_input, ec.ECDSA(hashes.SHA256())),
    )
    with pytest.raises(BadSignatureError, match="signature does not verify"):
        verify_record(token, pki.bundle(), moment)


def test_signature_by_another_key_of_the_same_party(pki: ThreePartyPKI) -> None:
    moment = now()
    signer = party_signer(pki, "PA")
    other = generate_private_key()
    token = forge.compact(signer.header(), flag_payload(moment), forge.signer_for(other))
    with pytest.raises(BadSignatureError, match="signature does not verify"):
        verify_record(token, pki.bundle(), moment)


# -- step 8: payload schema ------------------------------------------------------


@pytest.mark.parametrize("where", ["envelope", "body"])
def test_extra_field(pki: ThreePartyPKI, where: str) -> None:
    moment = now()
    document = record_json(flag_record(moment))
    target = document if where == "envelope" else document["body"]
    target["home_address"] = "not something the MOU lets anyone share"
    token = sign_compact(canonicalize(document), pki.signing_key("PA"))
    with pytest.raises(SchemaViolationError, match="home_address: Extra inputs are not permitted"):
        verify_record(token, pki.bundle(), moment)


def test_missing_field(pki: ThreePartyPKI) -> None:
    moment = now()
    document = record_json(flag_record(moment))
    del document["legal_basis"]
    token = sign_compact(canonicalize(document), pki.signing_key("PA"))
    with pytest.raises(SchemaViolationError, match="legal_basis: Field required"):
        verify_record(token, pki.bundle(), moment)


@pytest.mark.parametrize(
    "encode",
    [
        lambda doc: json.dumps(doc, indent=2).encode(),
        lambda doc: json.dumps(doc, separators=(",", ":")).encode(),  # unsorted, \u-escaped
        lambda doc: canonicalize(doc) + b"\n",
    ],
    ids=["indented", "unsorted", "trailing-newline"],
)
def test_non_canonical_payload(pki: ThreePartyPKI, encode: Any) -> None:
    moment = now()
    payload = encode(record_json(flag_record(moment)))
    token = sign_compact(payload, pki.signing_key("PA"))
    with pytest.raises(SchemaViolationError, match="not in RFC 8785 canonical form"):
        verify_record(token, pki.bundle(), moment)


def test_payload_with_duplicate_member(pki: ThreePartyPKI) -> None:
    moment = now()
    payload = canonicalize(record_json(flag_record(moment)))
    assert payload.startswith(b'{"body":')
    doubled = b'{"body":{},' + payload[1:]  # a second "body" after the first
    token = sign_compact(doubled, pki.signing_key("PA"))
    with pytest.raises(SchemaViolationError, match="duplicate key 'body'"):
        verify_record(token, pki.bundle(), moment)


def test_payload_not_json(pki: ThreePartyPKI) -> None:
    moment = now()
    token = sign_compact(b"record_type=criminal_network_flag", pki.signing_key("PA"))
    with pytest.raises(SchemaViolationError, match="payload is not canonical JSON"):
        verify_record(token, pki.bundle(), moment)


def test_record_expired(pki: ThreePartyPKI) -> None:
    moment = now()
    expires = moment + timedelta(days=2)
    record = flag_record(moment, expires_at=rfc3339(expires), review_due=rfc3339(moment + timedelta(days=1)))
    token = sign_record(record, pki.signing_key("PA")).jws
    assert verify_record(token, pki.bundle(), expires).payload == record  # still valid at expiry
    later = expires + timedelta(seconds=1)
    with pytest.raises(RecordExpiredError, match=f"record expired at {rfc3339(expires)}"):
        verify_record(token, pki.bundle(), later)
    assert verify_record(token, pki.bundle(), later, allow_expired=True).payload == record


# -- step 9: originator party ----------------------------------------------------


def test_co_certificate_signing_a_pa_record(pki: ThreePartyPKI) -> None:
    moment = now()
    record = flag_record(moment)
    assert record.originator.party == "PA"
    token = sign_record(record, pki.signing_key("CO")).jws
    with pytest.raises(
        PartyMismatchError,
        match="payload claims party 'PA' but the signing certificate belongs to 'CO'",
    ):
        verify_record(token, pki.bundle(), moment)


def test_party_is_decided_by_the_ca_not_the_certificate_name(
    pki: ThreePartyPKI,
) -> None:
    # A CO CA issues a certificate whose subject says "PA": the signer is still CO.
    moment = now()
    ca_cert, ca_key = party_ca(pki, "CO")
    key = generate_private_key()
    cert = issue_certificate("PA", "signing", key, ca_cert, ca_key)
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "PA"
    token = Signer(key, (cert,)).forge(flag_payload(moment))
    with pytest.raises(PartyMismatchError, match="belongs to 'CO'"):
        verify_record(token, pki.bundle(), moment)
