"""The hand-assembled compact JWS against joserfc's own serialization, and broken signatures.

``sign_compact`` and ``verify_signature`` call joserfc's algorithm objects
directly instead of ``serialize_compact``/``deserialize_compact``; these tests
pin that nothing changed for a JOSE library on the other side, and that every
kind of bad signature (or token joserfc's deserializer refused) still ends in
BadSignatureError and nothing else.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from joserfc import jws
from joserfc.errors import BadSignatureError as JoseBadSignatureError

from gateway.records.signing import build_record, sign_record, verify_record
from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import BadSignatureError, NonCanonicalSignatureError
from gateway.trust.jws import (
    MAX_JWS_BYTES,
    RECEIPT_TYP,
    RECORD_TYP,
    ParsedJWS,
    b64url_encode,
    es256_is_high_s,
    es256_low_s,
    parse_compact,
    sign_compact,
    verify_signature,
)
from gateway.trust.keys import Algorithm, KeyKind, PublicKey, SigningKey, generate_private_key, jose_key
from gateway.trust.pki import PartyFiles, init_party
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.trust import forge

KINDS: dict[Algorithm, KeyKind] = {"ES256": "ec-p256", "Ed25519": "ed25519"}


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, PartyFiles]]:
    """PA and CO PKIs with P-256 record keys, and another pair with Ed25519 ones."""
    root = tmp_path_factory.mktemp("joserfc")
    return {
        alg: {party: init_party(party, root / alg / party.lower(), key_kind=kind) for party in ("PA", "CO")}
        for alg, kind in KINDS.items()
    }


def signing_key(files: PartyFiles) -> SigningKey:
    return SigningKey.from_files(files.signing_key, files.signing_cert)


def bundle_of(files: dict[str, PartyFiles]) -> TrustBundle:
    return TrustBundle.merge(TrustBundle.load(f.bundle_entry) for f in files.values())


def joserfc_registry(alg: str) -> jws.JWSRegistry:
    # joserfc's default limits (512-byte header) are below what an x5c header needs.
    registry = jws.JWSRegistry(algorithms=[alg])
    registry.max_header_length = 16 * 1024
    registry.max_payload_length = MAX_JWS_BYTES
    return registry


def joserfc_sign(header: dict[str, Any], payload: bytes, key: SigningKey) -> str:
    return str(
        jws.serialize_compact(header, payload, jose_key(key.private_key), registry=joserfc_registry(key.algorithm))
    )


def our_header(key: SigningKey, typ: str) -> dict[str, Any]:
    """The header sign_compact has always written, built by hand (same members, same order)."""
    return {
        "alg": key.algorithm,
        "kid": key.kid,
        "typ": typ,
        "x5c": forge.x5c(list(key.chain)),
    }


def public_of(key: SigningKey) -> PublicKey:
    public = key.private_key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    return public


def now() -> datetime:
    return datetime.now(UTC)


# -- (a) joserfc verifies what we sign ---------------------------------------------


@pytest.mark.parametrize("alg", list(KINDS))
def test_joserfc_deserialize_compact_verifies_our_jws(
    parties: dict[str, dict[str, PartyFiles]], alg: Algorithm
) -> None:
    key = signing_key(parties[alg]["PA"])
    payload = b'{"hello":"\xc3\xa9t\xc3\xa9","n":1}'
    for typ in (RECORD_TYP, RECEIPT_TYP):
        token = sign_compact(payload, key, typ)
        obj = jws.deserialize_compact(token, jose_key(public_of(key)), registry=joserfc_registry(alg))
        assert obj.payload == payload
        assert obj.headers() == our_header(key, typ)
    # ...and refuses it under another key, so the check above is not vacuous.
    stranger = generate_private_key(KINDS[alg]).public_key()
    with pytest.raises(JoseBadSignatureError):
        jws.deserialize_compact(sign_compact(payload, key), jose_key(stranger), registry=joserfc_registry(alg))


@pytest.mark.parametrize("alg", list(KINDS))
def test_our_header_is_byte_identical_to_joserfc(parties: dict[str, dict[str, PartyFiles]], alg: Algorithm) -> None:
    key = signing_key(parties[alg]["CO"])
    payload = b'{"a":[1,2,3]}'
    ours = sign_compact(payload, key, RECEIPT_TYP)
    theirs = joserfc_sign(our_header(key, RECEIPT_TYP), payload, key)
    assert ours.split(".")[:2] == theirs.split(".")[:2]
    if alg == "Ed25519":  # deterministic signatures: the whole token is the same
        assert ours == theirs
    # The cached header is per typ: a second typ does not reuse the first one's.
    assert forge.split(sign_compact(payload, key, RECORD_TYP))[0]["typ"] == RECORD_TYP
    assert forge.split(sign_compact(payload, key, RECEIPT_TYP))[0]["typ"] == RECEIPT_TYP


# -- (b) we verify what joserfc signs ----------------------------------------------


@pytest.mark.parametrize("alg", list(KINDS))
def test_we_verify_a_jws_serialized_by_joserfc(parties: dict[str, dict[str, PartyFiles]], alg: Algorithm) -> None:
    moment = now()
    record = build_record(forge.example_draft("acknowledgement"), moment)
    key = signing_key(parties[alg][record.originator.party])
    payload = sign_record(record, key).payload
    token = joserfc_sign(our_header(key, RECORD_TYP), payload, key)
    if alg == "ES256" and es256_is_high_s(forge.split(token)[2]):
        # joserfc (like OpenSSL) leaves s high half the time; that twin is refused
        # (test_joserfc_high_s_twin_is_refused), its low-S form is the one accepted.
        token = with_signature(token, es256_low_s(forge.split(token)[2]))

    verified = verify_record(token, bundle_of(parties[alg]), moment)

    assert verified.payload == record
    assert verified.algorithm == alg
    assert verified.jws == token


def test_joserfc_high_s_twin_is_refused(parties: dict[str, dict[str, PartyFiles]]) -> None:
    moment = now()
    record = build_record(forge.example_draft("acknowledgement"), moment)
    key = signing_key(parties["ES256"][record.originator.party])
    token = joserfc_sign(our_header(key, RECORD_TYP), sign_record(record, key).payload, key)
    signature = forge.split(token)[2]
    low, high = es256_low_s(signature), forge.flip_s(es256_low_s(signature))
    assert es256_is_high_s(high)
    assert not es256_is_high_s(low)
    bundle = bundle_of(parties["ES256"])
    assert verify_record(with_signature(token, low), bundle, moment).payload == record
    with pytest.raises(NonCanonicalSignatureError, match="low-S"):
        verify_record(with_signature(token, high), bundle, moment)


# -- (c) bad signatures --------------------------------------------------------------


def parsed(token: str) -> ParsedJWS:
    return parse_compact(token, expected_typ=RECORD_TYP)


def with_signature(token: str, signature: bytes) -> str:
    raw_header, raw_payload, _ = token.split(".")
    return f"{raw_header}.{raw_payload}.{b64url_encode(signature)}"


def bad_signatures(token: str) -> dict[str, str]:
    """Tokens that differ from ``token`` only in the signature segment."""
    signature = forge.split(token)[2]
    flipped = bytearray(signature)
    flipped[len(flipped) // 2] ^= 0x01
    last = token[-1]
    # Same decoded bytes, another spelling: the unused low bits of the last character set.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = token[:-1] + alphabet[alphabet.index(last) + 1]
    return {
        "one-byte": with_signature(token, b"\x00"),
        "one-byte-short": with_signature(token, signature[:-1]),
        "one-byte-long": with_signature(token, signature + b"\x00"),
        "double-length": with_signature(token, signature + signature),
        "flipped-bit": with_signature(token, bytes(flipped)),
        "all-zero": with_signature(token, bytes(len(signature))),
        "all-ones": with_signature(token, b"\xff" * len(signature)),
        "garbage": with_signature(token, b"not a signature at all, just some bytes"),
        "too-long-segment": with_signature(token, bytes(800)),
        "non-canonical-base64url": respelled,
    }


@pytest.mark.parametrize("alg", list(KINDS))
def test_broken_signatures_are_bad_signature_errors(parties: dict[str, dict[str, PartyFiles]], alg: Algorithm) -> None:
    moment = now()
    record = build_record(forge.example_draft("acknowledgement"), moment)
    key = signing_key(parties[alg][record.originator.party])
    token = sign_record(record, key).jws
    bundle = bundle_of(parties[alg])
    public = public_of(key)
    verify_signature(parsed(token), public, alg)  # premise: the untouched token verifies

    for name, bad in bad_signatures(token).items():
        assert bad != token, name
        with pytest.raises(BadSignatureError):
            verify_signature(parsed(bad), public, alg)
        with pytest.raises(BadSignatureError):
            verify_record(bad, bundle, moment)


@pytest.mark.parametrize("alg", list(KINDS))
def test_signature_of_another_key_is_a_bad_signature(parties: dict[str, dict[str, PartyFiles]], alg: Algorithm) -> None:
    moment = now()
    record = build_record(forge.example_draft("acknowledgement"), moment)
    files = parties[alg][record.originator.party]
    key = signing_key(files)
    token = sign_record(record, key).jws
    # Same header (x5c and kid of the real key), signature from a stranger's key.
    stranger = generate_private_key(KINDS[alg])
    forged = forge.compact(forge.split(token)[0], forge.split(token)[1], forge.signer_for(stranger))
    with pytest.raises(BadSignatureError):
        verify_signature(parsed(forged), public_of(key), alg)
    with pytest.raises(BadSignatureError):
        verify_record(forged, bundle_of(parties[alg]), moment)
    # The stranger's own key does verify it: only the key differs.
    verify_signature(parsed(forged), stranger.public_key(), alg)


@pytest.mark.parametrize("alg", list(KINDS))
def test_wrong_key_type_or_alg_is_a_bad_signature(parties: dict[str, dict[str, PartyFiles]], alg: Algorithm) -> None:
    key = signing_key(parties[alg]["PA"])
    token = sign_compact(b'{"a":1}', key)
    other_alg: Algorithm = "Ed25519" if alg == "ES256" else "ES256"
    other_key = generate_private_key(KINDS[other_alg]).public_key()
    with pytest.raises(BadSignatureError):
        verify_signature(parsed(token), other_key, alg)  # key type does not fit the alg
    with pytest.raises(BadSignatureError):
        verify_signature(parsed(token), other_key, other_alg)  # the header names another alg
    with pytest.raises(BadSignatureError):
        verify_signature(parsed(token), public_of(key), other_alg)


def test_tokens_joserfc_refused_for_their_form_still_fail(pki: ThreePartyPKI) -> None:
    # deserialize_compact checked more than the signature: header member types,
    # canonical base64url and segment sizes. A correctly signed token that fails
    # one of those is still a BadSignatureError.
    key = pki.signing_key("PA")
    header = our_header(key, RECORD_TYP)
    signer = forge.signer_for(key.private_key)
    public = public_of(key)

    cty_not_a_string = forge.compact({**header, "cty": 7}, b'{"a":1}', signer)
    with pytest.raises(BadSignatureError):
        verify_signature(parsed(cty_not_a_string), public, "ES256")

    # Payload segment spelled with set unused bits ("e30" is "{}"; "e31" decodes the same).
    raw_header = forge.b64url(json.dumps(header).encode())
    respelled = f"{raw_header}.e31"
    token = f"{respelled}.{forge.b64url(signer(respelled.encode()))}"
    assert forge.b64url_decode("e31") == b"{}"
    with pytest.raises(BadSignatureError):
        verify_signature(parsed(token), public, "ES256")

    # Standard-alphabet characters in a signed segment (our lenient parse reads them).
    payload = base64.b64encode(b"\xfb\xff" * 3).decode()
    assert "+" in payload or "/" in payload
    signing_input = f"{raw_header}.{payload}"
    token = f"{signing_input}.{forge.b64url(signer(signing_input.encode()))}"
    with pytest.raises(BadSignatureError):
        verify_signature(parsed(token), public, "ES256")

    # A header segment beyond joserfc's 16 KiB limit (padding in the cty member).
    big = forge.compact({**header, "cty": "x" * 13_000}, b'{"a":1}', signer)
    with pytest.raises(BadSignatureError):
        verify_signature(parsed(big), public, "ES256")
    fits = forge.compact({**header, "cty": "x" * 10_000}, b'{"a":1}', signer)
    verify_signature(parsed(fits), public, "ES256")
