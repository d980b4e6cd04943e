"""What verification reuses between calls, and what it must evaluate every time.

A caller may hand ``verify_compact`` the ``ParsedJWS`` it already has; signing
keys keep their prepared header; a bundle remembers which CA issued a
certificate. None of that may let a token through that a fresh verification
refuses: a parse of other bytes or for another ``typ`` is ignored, time and
revocation are checked per call, and a reloaded bundle starts afresh.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.records.signing import build_record, sign_record, verify_record
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import (
    BadSignatureError,
    CertificateExpiredError,
    CertificateRevokedError,
    MalformedJWSError,
    UntrustedChainError,
)
from gateway.trust.jws import RECEIPT_TYP, RECORD_TYP, parse_compact, sign_compact, x5c_chain
from gateway.trust.keys import SigningKey, load_certificates, load_private_key
from gateway.trust.pki import make_crl
from gateway.trust.verify import Verified, build_chain, verify_compact
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.trust import forge


def now() -> datetime:
    return datetime.now(UTC)


def parse_receipt(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ValueError("a receipt is an object")
    return document


def verify_receipt(token: str | bytes, bundle: TrustBundle, **kwargs: Any) -> Verified[dict[str, Any]]:
    return verify_compact(
        token,
        bundle=bundle,
        at=now(),
        typ=RECEIPT_TYP,
        parse=parse_receipt,
        claimed_party=lambda d: str(d["receiver"]),
        **kwargs,
    )


def comparable(verified: Verified[Any]) -> dict[str, Any]:
    return {f.name: getattr(verified, f.name) for f in dataclasses.fields(verified) if f.name != "verified_at"}


# -- a parse the caller already made -----------------------------------------------


def test_a_parse_of_the_same_token_gives_the_same_result(pki: ThreePartyPKI) -> None:
    token = sign_compact(canonicalize({"receiver": "CO", "verdict": "accepted"}), pki.signing_key("CO"), RECEIPT_TYP)
    bundle = pki.bundle()
    fresh = verify_receipt(token, bundle)
    for value in (token, token.encode("ascii"), f"  {token}\n".encode("ascii")):
        reused = verify_receipt(value, bundle, parsed=parse_compact(value, expected_typ=RECEIPT_TYP))
        assert comparable(reused) == comparable(fresh)


def test_a_parse_of_other_bytes_is_ignored(pki: ThreePartyPKI) -> None:
    bundle = pki.bundle()
    accepted = sign_compact(canonicalize({"receiver": "CO", "verdict": "accepted"}), pki.signing_key("CO"), RECEIPT_TYP)
    rejected = sign_compact(canonicalize({"receiver": "CO", "verdict": "rejected"}), pki.signing_key("CO"), RECEIPT_TYP)
    verified = verify_receipt(rejected, bundle, parsed=parse_compact(accepted, expected_typ=RECEIPT_TYP))
    assert verified.payload["verdict"] == "rejected"
    # A valid parse cannot vouch for a tampered token either.
    tampered = forge.replace_payload(accepted, canonicalize({"receiver": "CO", "verdict": "rejected"}))
    with pytest.raises(BadSignatureError, match="signature does not verify"):
        verify_receipt(tampered, bundle, parsed=parse_compact(accepted, expected_typ=RECEIPT_TYP))


def test_a_parse_for_another_typ_is_ignored(pki: ThreePartyPKI) -> None:
    # The typ check is part of the parse: a record's parse must not pass as a receipt's.
    moment = now()
    record = sign_record(build_record(forge.example_draft("criminal_network_flag"), moment), pki.signing_key("PA"))
    parsed = parse_compact(record.jws, expected_typ=RECORD_TYP)
    with pytest.raises(MalformedJWSError, match="typ must be 'mou-receipt\\+jws'"):
        verify_receipt(record.jws, pki.bundle(), parsed=parsed)


# -- signing keys ------------------------------------------------------------------


def test_a_key_loaded_twice_signs_the_same_header(pki: ThreePartyPKI) -> None:
    # The prepared header is cached per SigningKey object; another object for
    # the same key and chain must prepare exactly the same one.
    files = pki.parties["PA"]
    first = SigningKey.from_files(files.signing_key, files.signing_cert)
    again = SigningKey.from_files(files.signing_key, files.signing_cert)
    one = sign_compact(b'{"a":1}', first)
    two = sign_compact(b'{"a":1}', again)
    assert one.split(".")[:2] == two.split(".")[:2]
    assert forge.split(one)[0]["kid"] == first.kid


# -- certificates and bundles --------------------------------------------------------


def test_validity_is_checked_at_every_call(pki: ThreePartyPKI) -> None:
    moment = now()
    token = sign_record(build_record(forge.example_draft("criminal_network_flag"), moment), pki.signing_key("PA")).jws
    bundle = pki.bundle()
    assert verify_record(token, bundle, moment).signer_party == "PA"
    with pytest.raises(CertificateExpiredError):
        verify_record(token, bundle, moment + timedelta(days=5000))
    with pytest.raises(CertificateExpiredError):
        verify_record(token, bundle, moment - timedelta(days=5000))
    assert verify_record(token, bundle, moment).signer_party == "PA"


def test_revocation_follows_the_bundle_of_each_call(pki: ThreePartyPKI) -> None:
    moment = now()
    key = pki.signing_key("PA")
    token = sign_record(build_record(forge.example_draft("criminal_network_flag"), moment), key).jws
    trust = pki.bundle().parties["PA"]
    ca = load_certificates(pki.parties["PA"].ca_cert)[0]
    crl = make_crl(ca, load_private_key(pki.parties["PA"].ca_key), [(key.certificate.serial_number, moment)])
    clean = TrustBundle({"PA": PartyTrust("PA", trust.cas)})
    revoking = TrustBundle({"PA": PartyTrust("PA", trust.cas, (crl,))})
    assert verify_record(token, clean, moment).signer_party == "PA"
    with pytest.raises(CertificateRevokedError):
        verify_record(token, revoking, moment)
    assert verify_record(token, clean, moment).signer_party == "PA"


def test_issuing_party_is_per_bundle(pki: ThreePartyPKI) -> None:
    leaf = pki.signing_key("CO").certificate
    full = pki.bundle()
    assert full.issuing_party(leaf) is not None
    assert (full.issuing_party(leaf) or ("", None))[0] == "CO"  # asked twice: same answer
    without_co = TrustBundle({code: t for code, t in full.parties.items() if code != "CO"})
    assert without_co.issuing_party(leaf) is None
    assert without_co.issuing_party(leaf) is None
    # A bundle that gives CO's CA to another party decides for itself.
    renamed = TrustBundle({"PA": PartyTrust("PA", full.parties["CO"].cas)})
    assert (renamed.issuing_party(leaf) or ("", None))[0] == "PA"
    assert (full.issuing_party(leaf) or ("", None))[0] == "CO"


def test_build_chain_answers_from_the_bundle_it_is_given(pki: ThreePartyPKI) -> None:
    token = sign_compact(canonicalize({"receiver": "US"}), pki.signing_key("US"), RECEIPT_TYP)
    leaf, *rest = x5c_chain(parse_compact(token, expected_typ=RECEIPT_TYP))
    party, chain = build_chain(leaf, rest, pki.bundle())
    assert party == "US"
    chain.append(leaf)  # the caller owns the list it gets
    assert len(build_chain(leaf, rest, pki.bundle())[1]) == 2
    without_us = TrustBundle({code: t for code, t in pki.bundle().parties.items() if code != "US"})
    with pytest.raises(UntrustedChainError, match="does not chain to any CA"):
        build_chain(leaf, rest, without_us)
