"""What verification remembers about a signer between records, and what it checks on every one.

``verify_compact`` keeps what an ``x5c`` header proved under one bundle (its
path, party and key) and a parsed header per header segment. A token whose
certificates are already known still has its kid, alg, signature, validity
and revocation checked, and nothing a caller does to one parse reaches the next.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.records.signing import build_record, sign_record, verify_record
from gateway.trust.errors import BadSignatureError, CertificateExpiredError, KeyUsageError, UnknownKeyError
from gateway.trust.jws import RECORD_TYP, parse_compact
from gateway.trust.verify import Verified
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.trust import forge


def comparable(verified: Verified[Any]) -> dict[str, Any]:
    return {f.name: getattr(verified, f.name) for f in dataclasses.fields(verified) if f.name != "verified_at"}


def signed_flag(pki: ThreePartyPKI, moment: datetime) -> str:
    return sign_record(build_record(forge.example_draft("criminal_network_flag"), moment), pki.signing_key("PA")).jws


def test_a_known_signer_gives_the_same_result_as_the_first_verification(pki: ThreePartyPKI) -> None:
    moment = datetime.now(UTC)
    bundle = pki.bundle()
    first, second = signed_flag(pki, moment), signed_flag(pki, moment)
    fresh = verify_record(first, bundle, moment)
    known = verify_record(second, bundle, moment)
    signer = ("header", "algorithm", "kid", "signer_party", "signer_certificate", "chain")
    assert {name: comparable(known)[name] for name in signer} == {name: comparable(fresh)[name] for name in signer}
    assert known.signer_party == "PA"


def test_a_known_signer_is_refused_once_its_certificate_expired(pki: ThreePartyPKI) -> None:
    moment = datetime.now(UTC)
    bundle = pki.bundle()
    token = signed_flag(pki, moment)
    verify_record(token, bundle, moment)
    with pytest.raises(CertificateExpiredError):
        verify_record(token, bundle, moment + timedelta(days=5000), allow_expired=True)


def test_a_known_signers_certificates_with_another_kid_are_refused(pki: ThreePartyPKI) -> None:
    moment = datetime.now(UTC)
    bundle = pki.bundle()
    token = signed_flag(pki, moment)
    verify_record(token, bundle, moment)
    header, _, _ = forge.split(token)
    other = forge.replace_header(token, {**header, "kid": pki.signing_key("CO").kid})
    with pytest.raises(UnknownKeyError, match="kid is not the RFC 7638 thumbprint"):
        verify_record(other, bundle, moment)


def test_a_known_signers_certificates_with_another_alg_are_refused(pki: ThreePartyPKI) -> None:
    moment = datetime.now(UTC)
    bundle = pki.bundle()
    token = signed_flag(pki, moment)
    verify_record(token, bundle, moment)
    header, _, _ = forge.split(token)
    with pytest.raises(KeyUsageError, match="alg Ed25519 does not match"):
        verify_record(forge.replace_header(token, {**header, "alg": "Ed25519"}), bundle, moment)


def test_a_known_signers_certificates_do_not_vouch_for_another_payload(pki: ThreePartyPKI) -> None:
    moment = datetime.now(UTC)
    bundle = pki.bundle()
    token = signed_flag(pki, moment)
    verify_record(token, bundle, moment)
    _, payload, _ = forge.split(token)
    assert b'"handling":"H2"' in payload
    tampered = forge.replace_payload(token, payload.replace(b'"handling":"H2"', b'"handling":"H1"'))
    with pytest.raises(BadSignatureError, match="signature does not verify"):
        verify_record(tampered, bundle, moment)


def test_a_change_to_one_parse_does_not_reach_the_next(pki: ThreePartyPKI) -> None:
    token = signed_flag(pki, datetime.now(UTC))
    first = parse_compact(token, RECORD_TYP)
    first.header["kid"] = "changed"
    first.header["x5c"].append("changed")
    again = parse_compact(token, RECORD_TYP)
    assert again.header == forge.split(token)[0]
    assert again.header is not first.header
