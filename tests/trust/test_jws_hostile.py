"""Hostile but well-formed input: verification ends in a TrustError, never in another exception.

A partner's token reaches ``verify_compact`` byte for byte. Whatever it holds
(flipped bytes, a cut, swapped segments, odd header members, certificates with
an RSA or P-384 key, no basicConstraints, an unknown critical extension, garbage
DER, non-ASCII), the answer must be one of the TrustError subclasses: each
becomes a signed ``rejected`` receipt with a reason code. Any other exception
(ValueError, KeyError, TypeError, UnicodeError, PKIError...) would surface as an
unsigned 500 or 400 instead.

Mutated tokens are re-signed with the party's real key where that gets them
further (header and payload changes), so the later steps are fuzzed too.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gateway.exchange.receipts import verify_receipt
from gateway.records.signing import build_record, sign_record, verify_record
from gateway.trust import jws as jws_module
from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import (
    KeyUsageError,
    MalformedJWSError,
    TrustError,
    UnknownCriticalExtensionError,
)
from gateway.trust.keys import PrivateKey, load_certificates, load_private_key
from tests.support.pki import TestPKI
from tests.trust import forge

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
SETTINGS = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class World:
    """A valid PA record token, the key that signed it, and certificates to swap in."""

    bundle: TrustBundle
    moment: datetime
    token: str
    key: ec.EllipticCurvePrivateKey
    header: dict[str, Any]
    payload: bytes
    hostile: dict[str, x509.Certificate]
    hostile_key: ec.EllipticCurvePrivateKey  # the key of the P-256 hostile leaves

    def der(self, name: str) -> str:
        return base64.b64encode(self.hostile[name].public_bytes(Encoding.DER)).decode("ascii")


def _leaf(
    subject_key: PrivateKey | rsa.RSAPrivateKey | ed448.Ed448PrivateKey,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    *,
    basic_constraints: bool = True,
    ca: bool = False,
    extra: x509.ExtensionType | None = None,
    critical_extra: bool = False,
    eku: list[ObjectIdentifier] | None = None,
) -> x509.Certificate:
    """An end-entity (or CA) certificate from PA's real CA, built with cryptography alone."""
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [x509.NameAttribute(NameOID.COUNTRY_NAME, "PA"), x509.NameAttribute(NameOID.COMMON_NAME, "hostile")]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, ca, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(eku or [DOCUMENT_SIGNING]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if extra is not None:
        builder = builder.add_extension(extra, critical=critical_extra)
    return builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def world(pki: TestPKI) -> World:
    files = pki.parties["PA"]
    ca_cert, ca_key = load_certificates(files.ca_cert)[0], load_private_key(files.ca_key)
    signing = pki.signing_key("PA")
    assert isinstance(signing.private_key, ec.EllipticCurvePrivateKey)
    moment = datetime.now(UTC)
    signed = sign_record(build_record(forge.example_draft("criminal_network_flag"), moment), signing)
    p256 = ec.generate_private_key(ec.SECP256R1())
    hostile = {
        "rsa-key": _leaf(rsa.generate_private_key(public_exponent=65537, key_size=2048), ca_cert, ca_key),
        "p384-key": _leaf(ec.generate_private_key(ec.SECP384R1()), ca_cert, ca_key),
        "ed448-key": _leaf(ed448.Ed448PrivateKey.generate(), ca_cert, ca_key),
        "no-basic-constraints": _leaf(p256, ca_cert, ca_key, basic_constraints=False),
        "unknown-critical-extension": _leaf(
            p256,
            ca_cert,
            ca_key,
            extra=x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"),
            critical_extra=True,
        ),
        "a-ca": _leaf(p256, ca_cert, ca_key, ca=True),
        "tls-purpose": _leaf(p256, ca_cert, ca_key, eku=[ExtendedKeyUsageOID.CLIENT_AUTH]),
        "real-tls": load_certificates(files.tls_cert)[0],
        "real-ca": ca_cert,
        "real-signing": signing.certificate,
    }
    header, payload, _ = forge.split(signed.jws)
    return World(pki.bundle(), moment, signed.jws, signing.private_key, header, payload, hostile, p256)


def kid_of(cert: x509.Certificate) -> str:
    """The RFC 7638 kid of a certificate's key, for the key types the gateway knows."""
    public = cert.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey) or (
        isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1)
    ):
        return forge.jwk_thumbprint(public)
    return forge.b64url(cert.fingerprint(hashes.SHA256()))  # no RFC 7638 form here: a kid of the right shape


def resign(world: World, header: dict[str, Any], payload: bytes, key: ec.EllipticCurvePrivateKey | None = None) -> str:
    return forge.compact(header, payload, forge.es256_signer(key or world.key))


def run_verifiers(world: World, token: str | bytes) -> None:
    """Verify ``token`` as a record and as a receipt; anything but a TrustError fails the test."""
    for verify in (
        lambda: verify_record(token, world.bundle, world.moment),
        lambda: verify_receipt(
            token if isinstance(token, str) else token.decode("latin-1"),
            world.bundle,
            world.moment,
            receiver="PA",
            jws_sha256="0" * 64,
        ),
    ):
        try:
            verify()
        except TrustError as exc:
            event(exc.reason)  # --hypothesis-show-statistics: which steps the fuzzing reached
        except Exception as exc:  # the point of the test: name what escaped
            pytest.fail(f"{type(exc).__name__} escaped verification: {exc!r}")


# -- strategies ------------------------------------------------------------------------

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
MEMBERS = st.sampled_from(["alg", "kid", "typ", "x5c", "cty", "jwk", "crit", "x5u", "jku", "b64", "zip", ""])
ALGS = st.sampled_from(["ES256", "Ed25519", "EdDSA", "none", "HS256", "RS256", "ES384", "es256", "ES256 ", ""])
RANDOM_B64 = st.binary(max_size=400).map(lambda b: base64.b64encode(b).decode("ascii"))


@st.composite
def x5c_lists(draw: st.DrawFn, world: World) -> list[Any]:
    entry = st.one_of(
        st.sampled_from(sorted(world.hostile)).map(world.der),
        RANDOM_B64,
        st.text(max_size=30),
        st.sampled_from(sorted(world.hostile)).flatmap(lambda name: _flipped_ders(world.hostile[name])),
        JSON_SCALARS,
    )
    return draw(st.lists(entry, min_size=0, max_size=7))


def _flipped_ders(cert: x509.Certificate) -> st.SearchStrategy[str]:
    size = len(cert.public_bytes(Encoding.DER))
    return st.integers(0, size - 1).map(lambda index: _flipped_der(cert, index))


def _flipped_der(cert: x509.Certificate, index: int) -> str:
    der = bytearray(cert.public_bytes(Encoding.DER))
    der[index] ^= 0xFF
    return base64.b64encode(bytes(der)).decode("ascii")


@st.composite
def mutated(draw: st.DrawFn, world: World) -> str | bytes:
    token: str = world.token
    header, payload = dict(world.header), world.payload
    kind = draw(
        st.sampled_from(
            ["flip", "truncate", "segments", "member", "alg", "x5c", "hostile-leaf", "payload", "non-ascii", "bytes"]
        )
    )
    if kind == "flip":
        index = draw(st.integers(0, len(token) - 1))
        return token[:index] + chr(draw(st.integers(0x20, 0x7E))) + token[index + 1 :]
    if kind == "truncate":
        cut = draw(st.integers(0, len(token)))
        return token[:cut] if draw(st.booleans()) else token[cut:]
    if kind == "segments":
        parts = token.split(".")
        order = draw(st.lists(st.integers(0, 2), min_size=0, max_size=5))
        return ".".join(parts[i] for i in order)
    if kind == "member":
        name = draw(MEMBERS)
        if draw(st.booleans()):
            header.pop(name, None)
        else:
            header[name] = draw(JSON)
        return resign(world, header, payload) if draw(st.booleans()) else forge.replace_header(token, header)
    if kind == "alg":
        header["alg"] = draw(ALGS)
        return resign(world, header, payload)
    if kind == "x5c":
        header["x5c"] = draw(x5c_lists(world))
        return resign(world, header, payload)
    if kind == "hostile-leaf":
        name = draw(st.sampled_from(sorted(world.hostile)))
        header["x5c"] = [world.der(name), *header["x5c"][1:]]
        if draw(st.booleans()):
            header["kid"] = kid_of(world.hostile[name])
        return resign(world, header, payload)
    if kind == "payload":
        document = draw(JSON)
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=draw(st.booleans()), allow_nan=True)
        return resign(world, header, text.encode("utf-8", "surrogatepass"))
    if kind == "non-ascii":
        index = draw(st.integers(0, len(token)))
        return token[:index] + draw(st.characters(min_codepoint=0x80)) + token[index:]
    raw = bytearray(token.encode("ascii"))
    index = draw(st.integers(0, len(raw) - 1))
    raw[index] = draw(st.integers(0, 255))
    return bytes(raw)


# -- tests ------------------------------------------------------------------------------


def test_the_untouched_token_verifies(world: World) -> None:
    # Premise of the fuzzing below: it starts from a token that is accepted.
    assert verify_record(world.token, world.bundle, world.moment).signer_party == "PA"


@SETTINGS
@given(data=st.data())
def test_mutated_tokens_end_in_a_trust_error_only(world: World, data: st.DataObject) -> None:
    token = data.draw(mutated(world))
    run_verifiers(world, token)


@SETTINGS
@given(data=st.data())
def test_twice_mutated_tokens_end_in_a_trust_error_only(world: World, data: st.DataObject) -> None:
    token = data.draw(mutated(world))
    if isinstance(token, str) and token.isascii() and token.count(".") == 2:
        # A second mutation on top of the first (the fixture's token is only the first start).
        again = World(
            world.bundle, world.moment, token, world.key, world.header, world.payload, world.hostile, world.hostile_key
        )
        token = data.draw(mutated(again))
    run_verifiers(world, token)


@settings(SETTINGS, max_examples=300)
@given(text=st.text(max_size=300), raw=st.binary(max_size=300))
def test_arbitrary_text_and_bytes_end_in_a_trust_error_only(world: World, text: str, raw: bytes) -> None:
    run_verifiers(world, text)
    run_verifiers(world, raw)
    run_verifiers(world, f"{text}.{text}.{text}")


# Each hostile certificate, as x5c[0] of a token otherwise signed by the real key,
# with its own kid: the reason named is the one the receipt will carry.
HOSTILE_LEAVES: dict[str, type[TrustError]] = {
    "rsa-key": KeyUsageError,
    "p384-key": KeyUsageError,
    "ed448-key": KeyUsageError,
    "unknown-critical-extension": UnknownCriticalExtensionError,
    "a-ca": TrustError,
    "tls-purpose": KeyUsageError,
    "real-tls": KeyUsageError,
    "real-ca": TrustError,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_LEAVES))
def test_each_hostile_leaf_is_a_named_trust_error(world: World, name: str) -> None:
    header = {
        **world.header,
        "x5c": [world.der(name)],
        "kid": kid_of(world.hostile[name]),
    }
    leaf_key = world.hostile[name].public_key()
    own = leaf_key == world.hostile_key.public_key()
    token = resign(world, header, world.payload, world.hostile_key if own else None)
    with pytest.raises(HOSTILE_LEAVES[name]) as caught:
        verify_record(token, world.bundle, world.moment)
    assert caught.value.reason != "bad_signature"  # refused for the certificate, before the signature


def test_a_leaf_without_basic_constraints_is_an_end_entity(world: World) -> None:
    # RFC 5280 4.2.1.9: basicConstraints MAY be absent from an end-entity certificate,
    # and then it is not a CA. Issued by the party's CA for document signing, it signs.
    cert = world.hostile["no-basic-constraints"]
    header = {**world.header, "x5c": [world.der("no-basic-constraints")], "kid": kid_of(cert)}
    token = resign(world, header, world.payload, world.hostile_key)
    assert verify_record(token, world.bundle, world.moment).signer_certificate == cert


def test_garbage_der_in_x5c_is_malformed(world: World) -> None:
    for index in (0, 1, 4, 10):
        header = {**world.header, "x5c": [_flipped_der(world.hostile["real-signing"], index)]}
        with pytest.raises(MalformedJWSError, match="x5c entry is not a base64 DER certificate"):
            verify_record(resign(world, header, world.payload), world.bundle, world.moment)


@pytest.mark.parametrize("where", ["start", "header", "payload", "signature", "end"])
def test_non_ascii_anywhere_is_malformed_for_text_and_bytes(world: World, where: str) -> None:
    positions = {
        "start": 0,
        "header": 5,
        "payload": world.token.index(".") + 3,
        "signature": world.token.rindex(".") + 3,
        "end": len(world.token),
    }
    index = positions[where]
    for char in ("é", "\u00a0", "\u2028", "\U0001f600", "\udc80"):
        text = world.token[:index] + char + world.token[index:]
        with pytest.raises(MalformedJWSError, match="ASCII only"):
            verify_record(text, world.bundle, world.moment)
        raw = text.encode("utf-8", "surrogatepass")
        with pytest.raises(MalformedJWSError, match="ASCII only"):
            verify_record(raw, world.bundle, world.moment)


def test_a_large_certificate_is_read_every_time_and_not_kept(world: World, pki: TestPKI) -> None:
    # x5c entries over 8 KiB are not cached (a partner could otherwise pin 256 large
    # certificates in memory); such a certificate still verifies, each time.
    files = pki.parties["PA"]
    big = _leaf(
        world.hostile_key,
        load_certificates(files.ca_cert)[0],
        load_private_key(files.ca_key),
        extra=x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.2"), b"\x04\x82\x1b\x58" + b"x" * 7000),
    )
    entry = base64.b64encode(big.public_bytes(Encoding.DER)).decode("ascii")
    assert 8 * 1024 < len(entry) < 16 * 1024
    header = {**world.header, "x5c": [entry], "kid": kid_of(big)}
    token = resign(world, header, world.payload, world.hostile_key)
    cached_before = jws_module._cached_certificate.cache_info().currsize
    for _ in range(2):
        assert verify_record(token, world.bundle, world.moment).signer_certificate == big
    assert jws_module._cached_certificate.cache_info().currsize == cached_before
