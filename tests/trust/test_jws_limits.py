"""The JWS limits at their exact boundaries (the limit passes, one more fails), and frozen results.

Limits: a token of at most 1 MiB (MAX_JWS_BYTES, text or bytes, before stripping
whitespace), a protected header segment of at most 16 KiB of base64url, at most
five x5c certificates. Each boundary is a correctly signed token, so what
refuses the bigger one can only be the limit.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import BadSignatureError, MalformedJWSError
from gateway.trust.jws import (
    MAX_JWS_BYTES,
    MAX_X5C_CERTIFICATES,
    RECORD_TYP,
    ParsedJWS,
    b64url_encode,
    compact_text,
    parse_compact,
    x5c_chain,
)
from gateway.trust.keys import SigningKey
from gateway.trust.verify import Verified, verify_compact
from tests.support.pki import TestPKI
from tests.trust import forge

HEADER_SEGMENT_LIMIT = 16 * 1024  # base64url characters of the protected header


def verify(token: str | bytes, bundle: TrustBundle) -> Verified[Any]:
    return verify_compact(
        token,
        bundle=bundle,
        at=datetime.now(UTC),
        typ=RECORD_TYP,
        parse=lambda document: document,
        claimed_party=lambda document: str(document["party"]),
    )


def header(key: SigningKey, **extra: Any) -> dict[str, Any]:
    return {"alg": "ES256", "kid": key.kid, "typ": RECORD_TYP, "x5c": forge.x5c(list(key.chain)), **extra}


def signed(key: SigningKey, head: dict[str, Any], payload: bytes) -> str:
    raw_header = b64url_encode(json.dumps(head, separators=(",", ":")).encode("ascii"))
    signing_input = f"{raw_header}.{b64url_encode(payload)}"
    return f"{signing_input}.{forge.b64url(forge.signer_for(key.private_key)(signing_input.encode('ascii')))}"


def payload_for(segment_length: int) -> bytes:
    """A canonical JSON payload whose base64url is exactly ``segment_length`` characters."""
    assert segment_length % 4 != 1
    size = segment_length * 3 // 4
    skeleton = canonicalize({"pad": "", "party": "PA"})
    data = canonicalize({"pad": "x" * (size - len(skeleton)), "party": "PA"})
    assert len(b64url_encode(data)) == segment_length
    return data


def token_of_length(key: SigningKey, length: int) -> str:
    """A correctly signed token of exactly ``length`` characters (a cty member tunes the header)."""
    for pad in range(3):
        head = header(key, cty="x" * (pad + 1))
        raw_header = b64url_encode(json.dumps(head, separators=(",", ":")).encode("ascii"))
        payload_length = length - len(raw_header) - 2 - 86
        if payload_length % 4 != 1:
            token = signed(key, head, payload_for(payload_length))
            assert len(token) == length
            return token
    raise AssertionError("unreachable: three header lengths cover every residue")


# -- token size -------------------------------------------------------------------------


def test_a_token_of_exactly_the_size_limit_verifies_and_one_more_byte_is_refused(pki: TestPKI) -> None:
    key, bundle = pki.signing_key("PA"), pki.bundle()
    at_limit = token_of_length(key, MAX_JWS_BYTES)
    assert verify(at_limit, bundle).signer_party == "PA"
    assert verify(at_limit.encode("ascii"), bundle).signer_party == "PA"

    for over in (at_limit + "\n", at_limit.encode("ascii") + b"\n", token_of_length(key, MAX_JWS_BYTES + 2)):
        # The limit counts what was sent, whitespace included, for text and bytes alike.
        assert len(over) > MAX_JWS_BYTES
        with pytest.raises(MalformedJWSError, match="larger than 1 MiB"):
            verify(over, bundle)
        with pytest.raises(MalformedJWSError, match="larger than 1 MiB"):
            compact_text(over)


def test_compact_text_limit_is_exact() -> None:
    assert compact_text("a" * MAX_JWS_BYTES) == "a" * MAX_JWS_BYTES
    assert compact_text(b"a" * MAX_JWS_BYTES) == "a" * MAX_JWS_BYTES
    for over in ("a" * (MAX_JWS_BYTES + 1), b"a" * (MAX_JWS_BYTES + 1)):
        with pytest.raises(MalformedJWSError, match="larger than 1 MiB"):
            compact_text(over)


def test_whitespace_around_a_token_is_stripped_as_bytes_strip_does(pki: TestPKI) -> None:
    token = signed(pki.signing_key("PA"), header(pki.signing_key("PA")), canonicalize({"party": "PA"}))
    for space in (" ", "\t", "\n", "\r", "\x0b", "\x0c"):
        assert compact_text(space + token + space) == token
        assert compact_text((space + token + space).encode()) == token
    # \x1c..\x1f are whitespace to str.strip but not to bytes.strip: kept, so refused.
    for separator in ("\x1c", "\x1f"):
        assert compact_text(separator + token) == separator + token
        with pytest.raises((MalformedJWSError, BadSignatureError)):
            verify(separator + token, pki.bundle())


# -- header size ----------------------------------------------------------------------------


def header_of_segment_length(key: SigningKey, segment_length: int) -> dict[str, Any]:
    base = len(json.dumps(header(key, cty=""), separators=(",", ":")))
    head = header(key, cty="x" * (segment_length * 3 // 4 - base))
    raw = b64url_encode(json.dumps(head, separators=(",", ":")).encode("ascii"))
    assert len(raw) == segment_length
    return head


def test_a_header_segment_of_exactly_16_kib_verifies_and_a_longer_one_is_refused(pki: TestPKI) -> None:
    key, bundle = pki.signing_key("PA"), pki.bundle()
    payload = canonicalize({"party": "PA"})
    at_limit = signed(key, header_of_segment_length(key, HEADER_SEGMENT_LIMIT), payload)
    assert verify(at_limit, bundle).header["cty"].startswith("xxx")
    # The next longer header: one more JSON byte makes 16386 base64url characters
    # (16385 is no base64url length).
    over = signed(key, header_of_segment_length(key, HEADER_SEGMENT_LIMIT + 2), payload)
    with pytest.raises(BadSignatureError, match="too long"):
        verify(over, bundle)


# -- x5c count ----------------------------------------------------------------------------------


def test_x5c_of_five_certificates_is_read_and_six_are_refused(pki: TestPKI) -> None:
    key, bundle = pki.signing_key("PA"), pki.bundle()
    ca = forge.x5c(list(bundle.parties["PA"].cas[:1]))[0]
    leaf = forge.x5c([key.certificate])[0]
    payload = canonicalize({"party": "PA"})
    five = signed(key, header(key, x5c=[leaf] + [ca] * (MAX_X5C_CERTIFICATES - 1)), payload)
    assert MAX_X5C_CERTIFICATES == 5
    assert len(x5c_chain(parse_compact(five, RECORD_TYP))) == 5
    six = signed(key, header(key, x5c=[leaf] + [ca] * MAX_X5C_CERTIFICATES), payload)
    with pytest.raises(MalformedJWSError, match="longer than 5 certificates"):
        x5c_chain(parse_compact(six, RECORD_TYP))
    with pytest.raises(MalformedJWSError, match="longer than 5 certificates"):
        verify(six, bundle)


# -- frozen results ----------------------------------------------------------------------------


def test_parsed_jws_and_verified_are_frozen(pki: TestPKI) -> None:
    token = signed(pki.signing_key("PA"), header(pki.signing_key("PA")), canonicalize({"party": "PA"}))
    parsed = parse_compact(token, RECORD_TYP)
    verified = verify(token, pki.bundle())
    for value in (parsed, verified):
        assert dataclasses.is_dataclass(value)
        for field in dataclasses.fields(value):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(value, field.name, None)
        with pytest.raises((dataclasses.FrozenInstanceError, AttributeError, TypeError)):
            value.extra = 1  # type: ignore[union-attr]
    assert isinstance(parsed, ParsedJWS)
    assert verified.jws == token
    # The verified header is a copy: changing it cannot change what another holder of the parse sees.
    verified.header["typ"] = "changed"
    assert parse_compact(token, RECORD_TYP).header["typ"] == RECORD_TYP
    assert parsed.header["typ"] == RECORD_TYP
