"""Exact refusal details of verify_compact's JWS steps, pinned where mutants showed only a substring was.

A receipt's reason code says which step refused; the detail says why, and a
partner's operator reads it. Each test asserts the class and the whole detail.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.trust.errors import AlgorithmNotAllowedError, BadSignatureError, MalformedJWSError, UnknownKeyError
from gateway.trust.jws import RECORD_TYP, sign_compact
from gateway.trust.verify import verify_compact
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.trust import forge
from tests.trust.minting import flag_payload

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MOMENT = datetime.now(UTC)


def as_document(document: Any) -> dict[str, Any]:
    assert isinstance(document, dict)
    return document


def refusal(token: str, pki: ThreePartyPKI, error: type[Exception]) -> str:
    with pytest.raises(error) as raised:
        verify_compact(
            token, bundle=pki.bundle(), at=MOMENT, typ=RECORD_TYP, parse=as_document, claimed_party=lambda d: "PA"
        )
    assert type(raised.value) is error
    detail: str = raised.value.detail  # type: ignore[attr-defined]
    return detail


def token(pki: ThreePartyPKI) -> str:
    return sign_compact(flag_payload(MOMENT), pki.signing_key("PA"))


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
