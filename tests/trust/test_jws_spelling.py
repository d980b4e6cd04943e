"""One spelling per token: a signed content has exactly one accepted compact JWS text.

Base64url of n bytes ends, when n is not a multiple of 3, with a character whose
low bits are unused (4 bits for a segment of length 2 mod 4, 2 bits for 3 mod 4).
A decoder that ignores them reads 16 (resp. 4) spellings of the same bytes; the
gateway accepts only the one with those bits zero (RFC 4648 3.5), in the header,
the payload and the signature alike. Every last character is tried, all 64.

The tokens are signed by hand (tests/trust/forge.py) over the very spelling under
test, so a refusal can only come from the spelling check, not from the signature.
"""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import BadSignatureError, MalformedJWSError, TrustError
from gateway.trust.jws import RECORD_TYP, b64url_decode, b64url_encode, parse_compact
from gateway.trust.keys import KeyKind, SigningKey
from gateway.trust.pki import PartyFiles, init_party
from gateway.trust.verify import Verified, verify_compact
from tests.trust import forge

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
UNUSED_BITS = {2: 0b1111, 3: 0b11}  # low bits of the last character that carry no data
SEGMENTS = ("header", "payload", "signature")


def is_canonical_last(char: str, tail: int) -> bool:
    """The definition, written independently of the gateway's table."""
    return ALPHABET.index(char) & UNUSED_BITS[tail] == 0


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PartyFiles]:
    root = tmp_path_factory.mktemp("spelling")
    kinds: dict[str, KeyKind] = {"ES256": "ec-p256", "Ed25519": "ed25519"}
    return {alg: init_party("PA", root / alg, key_kind=kind) for alg, kind in kinds.items()}


def signing_key(files: PartyFiles) -> SigningKey:
    return SigningKey.from_files(files.signing_key, files.signing_cert)


def verify(token: str, files: PartyFiles) -> Verified[Any]:
    return verify_compact(
        token,
        bundle=TrustBundle.load(files.bundle_entry),
        at=datetime.now(UTC),
        typ=RECORD_TYP,
        parse=lambda document: document,
        claimed_party=lambda document: str(document["party"]),
    )


def sized(tail: int, build: Any) -> bytes:
    """Return ``build(k)`` for the first k whose base64url length is ``tail`` mod 4."""
    for pad in range(8):
        data: bytes = build(pad)
        if len(b64url_encode(data)) % 4 == tail:
            return data
    raise AssertionError("no padding gives that length")


def header_of(key: SigningKey, tail: int = 0) -> bytes:
    def build(pad: int) -> bytes:
        header = {"alg": key.algorithm, "kid": key.kid, "typ": RECORD_TYP, "x5c": forge.x5c(list(key.chain))}
        return json.dumps({**header, "cty": "x" * pad}, separators=(",", ":")).encode()

    return sized(tail, build)


def payload_of(tail: int = 0) -> bytes:
    return sized(tail, lambda pad: canonicalize({"party": "PA", "pad": "x" * pad}))


def signed(key: SigningKey, raw_header: str, raw_payload: str) -> str:
    """Return the token over exactly these segment texts, signed by ``key`` (hand-built signer)."""
    signing_input = f"{raw_header}.{raw_payload}"
    signature = forge.signer_for(key.private_key)(signing_input.encode("ascii"))
    return f"{signing_input}.{forge.b64url(signature)}"


def respelled(token: str, segment: str, char: str, key: SigningKey) -> str:
    """Return ``token`` with the last character of ``segment`` set to ``char``, re-signed when signed over."""
    parts = token.split(".")
    index = SEGMENTS.index(segment)
    parts[index] = parts[index][:-1] + char
    if segment == "signature":
        return ".".join(parts)
    return signed(key, parts[0], parts[1])


CASES = [("header", 2), ("header", 3), ("payload", 2), ("payload", 3), ("signature", 2)]


@pytest.mark.parametrize("alg", ["ES256", "Ed25519"])
@pytest.mark.parametrize(("segment", "tail"), CASES, ids=[f"{s}-{t}mod4" for s, t in CASES])
def test_every_last_character_but_the_canonical_one_is_refused(
    parties: dict[str, PartyFiles], alg: str, segment: str, tail: int
) -> None:
    files = parties[alg]
    key = signing_key(files)
    header = header_of(key, tail if segment == "header" else 0)
    payload = payload_of(tail if segment == "payload" else 0)
    token = signed(key, forge.b64url(header), forge.b64url(payload))
    original = token.split(".")[SEGMENTS.index(segment)]
    assert len(original) % 4 == tail  # premise: the segment has the length under test
    if segment == "signature":
        assert len(original) == 86  # 64-byte ES256 r||s and Ed25519 signatures alike
    assert verify(token, files).payload_bytes == payload

    same_bytes = 0
    for char in ALPHABET:
        candidate = respelled(token, segment, char, key)
        if char == original[-1]:
            assert is_canonical_last(char, tail)
            assert verify(candidate, files).payload_bytes == payload
            continue
        decoded_same = forge.b64url_decode(candidate.split(".")[SEGMENTS.index(segment)]) == forge.b64url_decode(
            original
        )
        if decoded_same:
            # Another spelling of the same bytes: a lenient verifier would accept it.
            same_bytes += 1
            with pytest.raises(BadSignatureError, match="not canonical base64url"):
                verify(candidate, files)
        else:
            with pytest.raises(TrustError):
                verify(candidate, files)
    assert same_bytes == UNUSED_BITS[tail]  # 15 (resp. 3) other spellings of the same bytes were tried


@pytest.mark.parametrize("segment", SEGMENTS)
def test_a_segment_of_length_1_mod_4_is_malformed(parties: dict[str, PartyFiles], segment: str) -> None:
    files = parties["ES256"]
    key = signing_key(files)
    token = signed(key, forge.b64url(header_of(key, 0)), forge.b64url(payload_of(0)))
    parts = token.split(".")
    index = SEGMENTS.index(segment)
    assert len(parts[index]) % 4 in (0, 2)
    parts[index] += "A" if len(parts[index]) % 4 == 0 else "AAA"  # now 1 mod 4
    assert len(parts[index]) % 4 == 1
    bad = ".".join(parts) if segment == "signature" else signed(key, parts[0], parts[1])
    with pytest.raises(MalformedJWSError, match="not a base64url length"):
        verify(bad, files)
    with pytest.raises(MalformedJWSError, match="not a base64url length"):
        b64url_decode(parts[index])


def x5c_cases(der: bytes) -> dict[str, str]:
    good = base64.b64encode(der).decode("ascii")
    assert "=" not in good or good.endswith("=")
    # Another entry whose base64 needs padding, for the pad-bit and padding cases.
    cut = next(k for k in (1, 2, 3) if (len(der) - k) % 3)
    short = base64.b64encode(der[:-cut]).decode("ascii")
    assert short.endswith("=")
    last = ALPHABET.replace("-", "+").replace("_", "/")
    pad_at = short.index("=")
    bits_set = short[: pad_at - 1] + last[last.index(short[pad_at - 1]) + 1] + short[pad_at:]
    cases = {
        "url-safe-alphabet": good.replace("+", "-").replace("/", "_"),
        "line-break": good[:64] + "\n" + good[64:],
        "space": good[:10] + " " + good[10:],
        "unpadded": short.rstrip("="),
        "pad-bits-set": bits_set,
        "pad-in-the-middle": good[:8] + "=" + good[8:],
        "non-ascii": good[:20] + "é" + good[20:],
        "percent": good[:4] + "%" + good[4:],
    }
    if "+" not in good and "/" not in good:  # make the url-safe case real for this DER
        cases["url-safe-alphabet"] = good[:-4] + "-_" + good[-2:]
    return cases


def test_x5c_entries_outside_the_base64_alphabet_are_malformed(parties: dict[str, PartyFiles]) -> None:
    files = parties["ES256"]
    key = signing_key(files)
    der = base64.b64decode(forge.x5c(list(key.chain))[0])
    for name, entry in x5c_cases(der).items():
        header = {"alg": "ES256", "kid": key.kid, "typ": RECORD_TYP, "x5c": [entry]}
        raw_header = forge.b64url(json.dumps(header, separators=(",", ":")).encode())
        token = signed(key, raw_header, forge.b64url(payload_of()))
        with pytest.raises(MalformedJWSError, match="x5c entry is not a base64 DER certificate") as caught:
            verify(token, files)
        assert caught.value.reason == "malformed_jws", name
    # The same entry, spelled canonically, is the signer's certificate.
    header = {"alg": "ES256", "kid": key.kid, "typ": RECORD_TYP, "x5c": [base64.b64encode(der).decode()]}
    token = signed(key, forge.b64url(json.dumps(header).encode()), forge.b64url(payload_of()))
    assert verify(token, files).signer_certificate == key.certificate


# -- the helpers ---------------------------------------------------------------------


@given(st.binary(max_size=300))
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert b64url_decode(text) == data
    assert "=" not in text
    assert set(text) <= set(ALPHABET)
    assert len(text) % 4 != 1
    assert text == base64.urlsafe_b64encode(data).decode().rstrip("=")
    if len(text) % 4:
        assert is_canonical_last(text[-1], len(text) % 4)


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=200))
def test_b64url_decode_reads_alphabet_text_of_every_valid_length(text: str) -> None:
    if len(text) % 4 == 1:
        with pytest.raises(MalformedJWSError):
            b64url_decode(text)
        return
    data = b64url_decode(text)
    assert len(data) == len(text) * 3 // 4
    canonical = len(text) % 4 == 0 or is_canonical_last(text[-1], len(text) % 4)
    # Exactly the canonical spellings survive a round trip.
    assert (b64url_encode(data) == text) is canonical


@given(st.text(min_size=1, max_size=40).filter(lambda t: not set(t) <= set(ALPHABET)))
def test_b64url_decode_refuses_or_reads_text_outside_the_alphabet_without_crashing(text: str) -> None:
    # Lenient for readers of stored tokens, but never an exception other than MalformedJWSError.
    with contextlib.suppress(MalformedJWSError):
        b64url_decode(text)


def test_parse_compact_reads_a_non_canonical_spelling_but_only_for_display(parties: dict[str, PartyFiles]) -> None:
    # parse_compact serves readers (the console names a rejected record); it is lenient.
    # The spelling is enforced where it matters: in verification (above).
    key = signing_key(parties["ES256"])
    token = signed(key, forge.b64url(header_of(key, 2)), forge.b64url(payload_of(0)))
    raw_header, rest = token.split(".", 1)
    bits_set = raw_header[:-1] + ALPHABET[ALPHABET.index(raw_header[-1]) + 1]
    assert parse_compact(f"{bits_set}.{rest}", RECORD_TYP).header == parse_compact(token, RECORD_TYP).header
