"""``verify_compact``: the numbered steps, their order, chains with intermediates, the result."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from gateway.records.schemas import Record, record_json
from gateway.records.signing import build_record, sign_record, verify_record
from gateway.trust import errors
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import (
    AlgorithmNotAllowedError,
    BadSignatureError,
    CertificateExpiredError,
    CertificateRevokedError,
    KeyUsageError,
    MalformedJWSError,
    PartyMismatchError,
    SchemaViolationError,
    TrustError,
    UntrustedChainError,
)
from gateway.trust.jws import RECEIPT_TYP, sign_compact
from gateway.trust.keys import (
    PrivateKey,
    SigningKey,
    generate_private_key,
    load_certificates,
    load_private_key,
)
from gateway.trust.path import check_validity
from gateway.trust.pki import issue_certificate, make_crl
from gateway.trust.verify import (
    build_chain,
    check_canonical,
    verify_compact,
)
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.trust import forge


def now() -> datetime:
    return datetime.now(UTC)


def flag(moment: datetime) -> Record:
    return build_record(forge.example_draft("criminal_network_flag"), moment)


def party_ca(pki: ThreePartyPKI, party: str) -> tuple[x509.Certificate, PrivateKey]:
    files = pki.parties[party]
    return load_certificates(files.ca_cert)[0], load_private_key(files.ca_key)


def intermediate_ca(root: x509.Certificate, root_key: PrivateKey, key: PrivateKey) -> x509.Certificate:
    """A PA issuing CA under the party root (path length 0)."""
    start = now() - timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "PA"),
                    x509.NameAttribute(x509.NameOID.COMMON_NAME, "PA MOU Gateway Issuing CA"),
                ]
            )
        )
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .sign(root_key, hashes.SHA256())
    )


@dataclasses.dataclass(frozen=True)
class TwoTier:
    root: x509.Certificate
    root_key: PrivateKey
    issuing: x509.Certificate
    issuing_key: PrivateKey
    leaf: x509.Certificate
    leaf_key: PrivateKey

    def signing_key(self, *, with_intermediate: bool = True) -> SigningKey:
        chain = (self.leaf, self.issuing) if with_intermediate else (self.leaf,)
        return SigningKey(self.leaf_key, chain)


@pytest.fixture
def two_tier(pki: ThreePartyPKI) -> TwoTier:
    root, root_key = party_ca(pki, "PA")
    issuing_key = generate_private_key()
    issuing = intermediate_ca(root, root_key, issuing_key)
    leaf_key = generate_private_key("ed25519")
    leaf = issue_certificate("PA", "signing", leaf_key, issuing, issuing_key)
    return TwoTier(root, root_key, issuing, issuing_key, leaf, leaf_key)


# -- the result ------------------------------------------------------------------


def test_verified_record_fields(pki: ThreePartyPKI) -> None:
    moment = now()
    record = flag(moment)
    key = pki.signing_key("PA")
    signed = sign_record(record, key)

    verified = verify_record(signed.jws + "\n", pki.bundle(), moment)

    assert verified.payload == record
    assert verified.payload_bytes == canonicalize(record_json(record))
    assert verified.algorithm == "ES256"
    assert verified.kid == key.kid
    assert verified.signer_party == "PA"
    assert verified.signer_certificate == key.certificate
    assert verified.chain == (key.certificate, load_certificates(pki.parties["PA"].ca_cert)[0])
    assert verified.jws == signed.jws  # surrounding whitespace stripped
    assert verified.jws_sha256 == hashlib.sha256(signed.jws.encode()).hexdigest()
    assert verified.jws_sha256 == signed.jws_sha256
    assert verified.verified_at == moment
    assert verified.signer_subject.startswith("CN=PA MOU Gateway record signing")
    assert verified.signer_fingerprint == key.certificate.fingerprint(hashes.SHA256()).hex()


def test_verified_record_is_frozen(pki: ThreePartyPKI) -> None:
    moment = now()
    verified = verify_record(sign_record(flag(moment), pki.signing_key("PA")).jws, pki.bundle(), moment)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field"):
        verified.signer_party = "CO"  # type: ignore[misc]


def test_verification_is_a_pure_function(pki: ThreePartyPKI) -> None:
    moment = now()
    token = sign_record(flag(moment), pki.signing_key("PA")).jws
    bundle = pki.bundle()
    first = verify_record(token, bundle, moment)
    second = verify_record(token.encode("ascii"), bundle, moment)
    assert first.payload == second.payload
    assert first.jws_sha256 == second.jws_sha256
    assert first.header == second.header


# -- chains ----------------------------------------------------------------------


def test_chain_through_an_intermediate(pki: ThreePartyPKI, two_tier: TwoTier) -> None:
    moment = now()
    token = sign_record(flag(moment), two_tier.signing_key()).jws
    verified = verify_record(token, pki.bundle(), moment)
    assert verified.chain == (two_tier.leaf, two_tier.issuing, two_tier.root)
    assert verified.algorithm == "Ed25519"
    assert verified.signer_party == "PA"


def test_missing_intermediate(pki: ThreePartyPKI, two_tier: TwoTier) -> None:
    moment = now()
    token = sign_record(flag(moment), two_tier.signing_key(with_intermediate=False)).jws
    with pytest.raises(UntrustedChainError, match="does not chain to any CA"):
        verify_record(token, pki.bundle(), moment)


def test_revoked_intermediate(pki: ThreePartyPKI, two_tier: TwoTier) -> None:
    moment = now()
    token = sign_record(flag(moment), two_tier.signing_key()).jws
    trust = pki.bundle().parties["PA"]
    crl = make_crl(two_tier.root, two_tier.root_key, [(two_tier.issuing.serial_number, moment)])
    bundle = TrustBundle({"PA": PartyTrust("PA", trust.cas, (crl,))})
    with pytest.raises(CertificateRevokedError, match=r"Issuing CA,C=PA \(serial [0-9a-f]+\) was revoked"):
        verify_record(token, bundle, moment)


def test_newest_crl_wins(pki: ThreePartyPKI) -> None:
    # A CRL that listed the certificate, superseded by a newer one that does not.
    moment = now()
    token = sign_record(flag(moment), pki.signing_key("PA")).jws
    ca, ca_key = party_ca(pki, "PA")
    serial = pki.signing_key("PA").certificate.serial_number
    older = make_crl(ca, ca_key, [(serial, moment)], now=moment - timedelta(hours=2))
    newer = make_crl(ca, ca_key, [], now=moment)
    trust = pki.bundle().parties["PA"]
    bundle = TrustBundle({"PA": PartyTrust("PA", trust.cas, (older, newer))})
    assert verify_record(token, bundle, moment).signer_party == "PA"
    reversed_bundle = TrustBundle({"PA": PartyTrust("PA", trust.cas, (newer, older))})
    assert verify_record(token, reversed_bundle, moment).signer_party == "PA"
    only_older = TrustBundle({"PA": PartyTrust("PA", trust.cas, (older,))})
    with pytest.raises(CertificateRevokedError, match="was revoked"):
        verify_record(token, only_older, moment)


def test_build_chain_stops_at_unrelated_certificates(pki: ThreePartyPKI) -> None:
    leaf = pki.signing_key("CO").certificate
    unrelated = load_certificates(pki.parties["US"].tls_cert)
    party, chain = build_chain(leaf, unrelated, pki.bundle())
    assert party == "CO"
    assert chain == [leaf, load_certificates(pki.parties["CO"].ca_cert)[0]]


# -- validity boundaries ---------------------------------------------------------


def test_validity_bounds_are_inclusive(pki: ThreePartyPKI) -> None:
    cert = pki.signing_key("PA").certificate
    check_validity([cert], cert.not_valid_before_utc)
    check_validity([cert], cert.not_valid_after_utc)
    with pytest.raises(CertificateExpiredError, match="is not valid before"):
        check_validity([cert], cert.not_valid_before_utc - timedelta(seconds=1))
    with pytest.raises(CertificateExpiredError, match="expired at"):
        check_validity([cert], cert.not_valid_after_utc + timedelta(seconds=1))


def test_check_canonical() -> None:
    assert check_canonical(b'{"a":[1,2.5,"\xc3\xa9"]}') == {"a": [1, 2.5, "é"]}
    with pytest.raises(SchemaViolationError, match="not in RFC 8785 canonical form"):
        check_canonical(b'{"a":"\\u00e9"}')
    with pytest.raises(SchemaViolationError, match="not in RFC 8785 canonical form"):
        check_canonical(b'{"b":1,"a":2}')
    with pytest.raises(SchemaViolationError, match="duplicate key"):
        check_canonical(b'{"a":1,"a":1}')


# -- step order ------------------------------------------------------------------


def test_first_failing_step_wins(pki: ThreePartyPKI) -> None:
    moment = now()
    good = sign_record(flag(moment), pki.signing_key("PA")).jws
    header, payload, _ = forge.split(good)
    unsigned = forge.replace_payload(good, payload + b" ")  # bad signature AND not canonical
    ca, ca_key = party_ca(pki, "PA")
    serial = pki.signing_key("PA").certificate.serial_number
    trust = pki.bundle().parties["PA"]
    revoking = TrustBundle({"PA": PartyTrust("PA", trust.cas, (make_crl(ca, ca_key, [(serial, moment)]),))})
    expired_at = moment + timedelta(days=5000)
    cases: list[tuple[str, TrustBundle, datetime, type[TrustError]]] = [
        # 1 before 2: a malformed header is reported as such, whatever its alg.
        (forge.replace_header(good, {**header, "alg": "none", "typ": "JWT"}), pki.bundle(), moment,
         MalformedJWSError),
        # 2 before 3: the alg is refused before any certificate is decoded.
        (forge.replace_header(good, {**header, "alg": "none", "x5c": ["AAAA"]}), pki.bundle(),
         moment, AlgorithmNotAllowedError),
        # 4 before 5 before 7 before 8.
        (unsigned, revoking, expired_at, CertificateExpiredError),
        (unsigned, revoking, moment, CertificateRevokedError),
        (unsigned, pki.bundle(), moment, BadSignatureError),
    ]  # fmt: skip
    for token, bundle, at, error in cases:
        with pytest.raises(TrustError) as caught:
            verify_record(token, bundle, at)
        assert type(caught.value) is error


def test_steps_are_numbered_in_order_and_reasons_unique() -> None:
    steps = [
        MalformedJWSError.step,
        AlgorithmNotAllowedError.step,
        UntrustedChainError.step,
        CertificateExpiredError.step,
        CertificateRevokedError.step,
        KeyUsageError.step,
        BadSignatureError.step,
        SchemaViolationError.step,
        PartyMismatchError.step,
    ]
    assert [int(step.split("-")[0]) for step in steps] == list(range(1, 10))
    classes = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, TrustError)]
    assert len({cls.reason for cls in classes}) == len(classes)


# -- other document types --------------------------------------------------------


def parse_receipt(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict) or "receiver" not in document:
        raise ValueError("receipt needs a receiver")
    return document


def test_verify_compact_with_another_typ_and_parser(pki: ThreePartyPKI) -> None:
    moment = now()
    document = {"receiver": "CO", "verdict": "accepted"}
    token = sign_compact(canonicalize(document), pki.signing_key("CO"), RECEIPT_TYP)

    verified = verify_compact(
        token, bundle=pki.bundle(), at=moment, typ=RECEIPT_TYP,
        parse=parse_receipt, claimed_party=lambda d: str(d["receiver"]),
    )  # fmt: skip
    assert verified.payload == document
    assert verified.signer_party == "CO"

    claims_pa = canonicalize({**document, "receiver": "PA"})
    with pytest.raises(PartyMismatchError, match="claims party 'PA'"):
        verify_compact(
            sign_compact(claims_pa, pki.signing_key("CO"), RECEIPT_TYP),
            bundle=pki.bundle(), at=moment, typ=RECEIPT_TYP,
            parse=parse_receipt, claimed_party=lambda d: str(d["receiver"]),
        )  # fmt: skip
    # A parser's ValueError becomes a SchemaViolationError (step 8).
    with pytest.raises(SchemaViolationError, match="receipt needs a receiver"):
        verify_compact(
            sign_compact(canonicalize({"verdict": "accepted"}), pki.signing_key("CO"), RECEIPT_TYP),
            bundle=pki.bundle(), at=moment, typ=RECEIPT_TYP,
            parse=parse_receipt, claimed_party=lambda d: str(d["receiver"]),
        )  # fmt: skip
