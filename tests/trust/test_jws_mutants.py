"""Exact refusal details of verify_compact's JWS steps, pinned where mutants showed only a substring was.

A receipt's reason code says which step refused; the detail says why, and a
partner's operator reads it. Each test asserts the class and the whole detail.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.trust.errors import (
    AlgorithmNotAllowedError,
    BadSignatureError,
    KeyUsageError,
    MalformedJWSError,
    NonCanonicalSignatureError,
    SchemaViolationError,
    UnknownKeyError,
)
from gateway.trust.jws import RECORD_TYP, parse_compact, sign_compact, verify_signature
from gateway.trust.verify import verify_compact
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.trust import forge
from tests.trust.minting import flag_payload

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def moment() -> datetime:
    # Read at each use: a module-level constant is older than certificates minted later in a long run.
    return datetime.now(UTC)


def as_document(document: Any) -> dict[str, Any]:
    assert isinstance(document, dict)
    return document


def refusal(token: str, pki: ThreePartyPKI, error: type[Exception]) -> str:
    with pytest.raises(error) as raised:
        verify_compact(
            token, bundle=pki.bundle(), at=moment(), typ=RECORD_TYP, parse=as_document, claimed_party=lambda d: "PA"
        )
    assert type(raised.value) is error
    detail: str = raised.value.detail  # type: ignore[attr-defined]
    return detail


def token(pki: ThreePartyPKI) -> str:
    return sign_compact(flag_payload(moment()), pki.signing_key("PA"))


def with_header(pki: ThreePartyPKI, **changes: Any) -> str:
    original = token(pki)
    header, _, _ = forge.split(original)
    header.update(changes)
    return forge.replace_header(original, {k: v for k, v in header.items() if v is not None})


def test_kid_of_another_key(pki: ThreePartyPKI) -> None:
    detail = refusal(with_header(pki, kid=pki.signing_key("CO").kid), pki, UnknownKeyError)
    assert detail == "kid is not the RFC 7638 thumbprint of the x5c[0] key"


def test_algorithm_outside_the_allow_list(pki: ThreePartyPKI) -> None:
    detail = refusal(with_header(pki, alg="HS256"), pki, AlgorithmNotAllowedError)
    assert detail == "alg 'HS256' is not accepted; allowed: ES256, Ed25519"


def test_x5c_missing(pki: ThreePartyPKI) -> None:
    detail = refusal(with_header(pki, x5c=None), pki, MalformedJWSError)
    assert detail == "x5c header with the signing certificate chain is required"


def test_x5c_entry_outside_the_base64_alphabet(pki: ThreePartyPKI) -> None:
    """A character outside the alphabet is refused as such, not dropped and then found non-canonical."""
    entries = forge.x5c(list(pki.signing_key("PA").chain))
    detail = refusal(with_header(pki, x5c=[entries[0][:8] + "!" + entries[0][8:]]), pki, MalformedJWSError)
    assert detail == "x5c entry is not a base64 DER certificate (not base64)"


def test_x5c_entry_with_a_non_canonical_last_character(pki: ThreePartyPKI) -> None:
    """Padded base64 whose unused bits are not zero: the same DER, another spelling."""
    der = base64.b64decode(forge.x5c(list(pki.signing_key("PA").chain))[0])
    if len(der) % 3 == 0:  # no padding, no spare bits: add a byte (the spelling is refused before DER parsing)
        der += b"\x00"
    entry = base64.b64encode(der).decode("ascii")
    assert entry.endswith("=")
    data = entry.rstrip("=")
    last = data[-1]
    alphabet = ALPHABET[:62] + "+/"
    respelled = data[:-1] + alphabet[alphabet.index(last) ^ 1] + entry[len(data) :]
    assert base64.b64decode(respelled, validate=True) == der  # the same bytes
    detail = refusal(with_header(pki, x5c=[respelled]), pki, MalformedJWSError)
    assert detail == "x5c entry is not a base64 DER certificate (not canonical base64)"


def test_signature_with_a_non_canonical_last_character(pki: ThreePartyPKI) -> None:
    original = token(pki)
    signature = original.rpartition(".")[2]
    assert len(signature) == 86  # 64 bytes: two spare bits in the last character
    respelled = signature[:-1] + ALPHABET[ALPHABET.index(signature[-1]) ^ 1]
    assert forge.b64url_decode(respelled) == forge.b64url_decode(signature)
    detail = refusal(original.rpartition(".")[0] + "." + respelled, pki, BadSignatureError)
    assert detail == "a JWS segment is not canonical base64url or is too long"


def test_payload_changed_after_signing(pki: ThreePartyPKI) -> None:
    tampered = forge.replace_payload(token(pki), flag_payload(moment()))  # another valid record, not the one signed
    assert refusal(tampered, pki, BadSignatureError) == "signature does not verify with the x5c key (bad_signature)"


def test_high_s_twin_of_a_genuine_signature(pki: ThreePartyPKI) -> None:
    original = token(pki)
    signing_input, _, signature = original.rpartition(".")
    twin = signing_input + "." + forge.b64url(forge.flip_s(forge.b64url_decode(signature)))
    detail = refusal(twin, pki, NonCanonicalSignatureError)
    assert detail == "ES256 signature has s > n/2; only the low-S form is accepted"


def test_payload_not_in_canonical_form(pki: ThreePartyPKI) -> None:
    signed = sign_compact(b'{"b":1,"a":2}', pki.signing_key("PA"))
    assert refusal(signed, pki, SchemaViolationError) == "payload is not in RFC 8785 canonical form"


def test_alg_of_another_key_type(pki: ThreePartyPKI) -> None:
    detail = refusal(with_header(pki, alg="Ed25519"), pki, KeyUsageError)
    assert detail == "alg Ed25519 does not match the ECPublicKey key"


def test_signature_checked_for_another_alg_than_the_header_names(pki: ThreePartyPKI) -> None:
    parsed = parse_compact(token(pki), RECORD_TYP)
    with pytest.raises(BadSignatureError) as raised:
        verify_signature(parsed, pki.signing_key("PA").chain[0].public_key(), "Ed25519")  # type: ignore[arg-type]
    assert raised.value.detail == "the header's alg is not 'Ed25519'"


def test_header_member_of_the_wrong_type_at_the_signature_step(pki: ThreePartyPKI) -> None:
    """joserfc's header check (a kid that is no string) is reported with its error code."""
    parsed = parse_compact(with_header(pki, kid=5), RECORD_TYP)
    with pytest.raises(BadSignatureError) as raised:
        verify_signature(parsed, pki.signing_key("PA").chain[0].public_key(), "ES256")  # type: ignore[arg-type]
    assert raised.value.detail == "signature does not verify with the x5c key (invalid_header_value)"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("a.b", "a compact JWS has three non-empty dot-separated parts"),
        (forge.b64url(b"[]") + ".e30.AAAA", "protected header is not a JSON object"),
        (forge.b64url(b'{"zz":1,"aa":2}') + ".e30.AAAA", "header parameters not accepted: aa, zz"),
        ("e30." * 2 + "A" * (1024 * 1024), "JWS larger than 1 MiB"),
        ("e30=.e30.AAAA", "base64url segments must be unpadded"),
        ("e30Ae.e30.AAAA", "segment length is not a base64url length"),
        ("e3!0.e30.AAAA", "segment is not base64url"),
    ],
)
def test_malformed_compact_serialisation(text: str, detail: str) -> None:
    with pytest.raises(MalformedJWSError) as raised:
        parse_compact(text, RECORD_TYP)
    assert raised.value.detail == detail
