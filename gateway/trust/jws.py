"""Compact JWS (RFC 7515) signing and the low-level pieces of verification.

The gateway's JWS are ordinary compact serializations: any JOSE library can
verify one with the public key of its ``x5c[0]`` certificate. The payload is
always the RFC 8785 canonical JSON of the document.

The compact serialization is assembled and split here, and signatures are
made and checked with ``cryptography`` directly: joserfc's
``serialize_compact``/``deserialize_compact`` re-import the key, rebuild the
header and a registry, and re-parse the token on every call, and even its
algorithm objects convert and check the key on each call, which cost more than
the signature itself on the hot path of receiving records. joserfc still checks
each signing key once (``_signer``) and signs with keys held in a token.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc.jwa import JWSAlgModel
from joserfc.jws import JWSRegistry

from gateway.trust.canonical import parse_strict
from gateway.trust.errors import (
    AlgorithmNotAllowedError,
    BadSignatureError,
    CanonicalizationError,
    MalformedJWSError,
    NonCanonicalSignatureError,
)
from gateway.trust.keys import ALLOWED_ALGORITHMS, Algorithm, JoseKey, PublicKey, SigningKey, jose_key
from gateway.trust.token_keys import TokenECPrivateKey

RECORD_TYP: Final = "mou-record+jws"
RECEIPT_TYP: Final = "mou-receipt+jws"
TERMS_SIGNATURE_TYP: Final = "mou-terms-signature+jws"
CHECKPOINT_TYP: Final = "mou-checkpoint+jws"
TRUST_UPDATE_TYP: Final = "mou-trust-update+jws"
TRUST_ADMISSION_TYP: Final = "mou-trust-admission+jws"

# Header parameters the gateway understands. Anything else (notably `jwk`,
# `jku`, `x5u`, `crit`) would let a signer choose its own trust anchor or
# semantics we do not implement, so it is refused outright.
_ALLOWED_HEADER_PARAMS: Final = frozenset({"alg", "kid", "x5c", "typ", "cty"})
MAX_JWS_BYTES: Final = 1024 * 1024
# Segment limits (base64url characters) that joserfc's deserialize_compact
# enforced with the registry we gave it; kept so that nothing it refused passes.
_MAX_HEADER_SEGMENT: Final = 16 * 1024
_MAX_PAYLOAD_SEGMENT: Final = MAX_JWS_BYTES
_MAX_SIGNATURE_SEGMENT: Final = 1024
MAX_X5C_CERTIFICATES: Final = 5
# Order of the P-256 group (SEC 2 2.4.2). An ECDSA signature (r, s) has a twin
# (r, n - s) that verifies as well; only the low-S one (s <= n/2) is accepted
# and produced, so that one signed content has exactly one JWS.
_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P256_HALF_ORDER: Final = _P256_ORDER // 2
_ES256_SIZE: Final = 32
# Whitespace compact_text strips around a token: exactly what bytes.strip()
# removes, so the text verified and the bytes hashed for receipts agree.
_STRIPPED: Final = " \t\n\r\x0b\x0c"
_B64URL_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The last character of a canonical base64url segment of length 2 or 3 mod 4
# leaves its unused low bits zero (RFC 4648 3.5); any other would give a second
# spelling of the same bytes, i.e. a malleable token.
_CANONICAL_LAST_CHAR: Final = {2: b"AQgw", 3: b"AEIMQUYcgkosw048"}

# Used to check a signing key (type and curve) and the header it signs once,
# and to sign with keys held in a token.
_JOSE_REGISTRY: Final = JWSRegistry(algorithms=list(ALLOWED_ALGORITHMS))
_JWA: Final[dict[str, JWSAlgModel]] = {alg: _JOSE_REGISTRY.get_alg(alg) for alg in ALLOWED_ALGORITHMS}
_ECDSA_SHA256: Final = ec.ECDSA(hashes.SHA256())
# The types joserfc's header registry requires of the members the gateway
# accepts (RFC 7515 4.1): strings, and x5c a list of strings; alg is required.
_STRING_HEADER_PARAMS: Final = ("alg", "kid", "typ", "cty")


def b64url_encode(data: bytes) -> str:
    """Return unpadded base64url of ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; raises MalformedJWSError on bad input.

    Lenient about the spelling (it serves readers of stored tokens too);
    verification additionally requires the one canonical spelling (_check_segments).
    """
    if "=" in text:
        raise MalformedJWSError("base64url segments must be unpadded")
    if len(text) % 4 == 1:  # no byte string encodes to this length
        raise MalformedJWSError("segment length is not a base64url length")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedJWSError("segment is not base64url") from exc


def es256_low_s(signature: bytes) -> bytes:
    """Return an ES256 r||s signature with s replaced by n - s when s > n/2 (same validity)."""
    if len(signature) != 2 * _ES256_SIZE:
        return signature
    s = int.from_bytes(signature[_ES256_SIZE:], "big")
    if s <= _P256_HALF_ORDER:
        return signature
    return signature[:_ES256_SIZE] + (_P256_ORDER - s).to_bytes(_ES256_SIZE, "big")


def es256_is_high_s(signature: bytes) -> bool:
    """Return True when ``signature`` is a 64-byte r||s whose s is above n/2 (the malleable twin)."""
    return len(signature) == 2 * _ES256_SIZE and int.from_bytes(signature[_ES256_SIZE:], "big") > _P256_HALF_ORDER


# -- signing ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Signer:
    """What a key needs to sign one ``typ`` of document, prepared once."""

    header_segment: str
    algorithm: JWSAlgModel
    key: JoseKey
    private: object  # the cryptography key signed with directly, or None (a token's: joserfc signs)


# Keyed by the SigningKey (frozen and hashed by its private key object and
# chain, which never change) and typ. The header only varies with typ, and its
# x5c (base64 of each DER certificate) plus the joserfc key import were most of
# the cost of a signature. Small, as it keeps keys alive: a node signs with one
# key (two while rotating) and five typs.
@lru_cache(maxsize=16)
def _signer(key: SigningKey, typ: str) -> _Signer:
    header: dict[str, Any] = {
        "alg": key.algorithm,
        "kid": key.kid,
        "typ": typ,
        "x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in key.chain],
    }
    _JOSE_REGISTRY.check_header(header)
    algorithm = _JWA[key.algorithm]
    private = jose_key(key.private_key)
    algorithm.check_key(private)
    # The same JSON as joserfc's serialize_compact wrote (member order above,
    # ASCII only, no whitespace), so tokens keep their exact header bytes.
    header_json = json.dumps(header, ensure_ascii=True, separators=(",", ":"))
    direct = key.private_key if not isinstance(key.private_key, TokenECPrivateKey) else None
    return _Signer(b64url_encode(header_json.encode("ascii")), algorithm, private, direct)


def _sign(signer: _Signer, data: bytes) -> bytes:
    private = signer.private
    if isinstance(private, ec.EllipticCurvePrivateKey):  # ES256 (P-256, checked in _signer)
        r, s = decode_dss_signature(private.sign(data, _ECDSA_SHA256))
        return r.to_bytes(_ES256_SIZE, "big") + s.to_bytes(_ES256_SIZE, "big")
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign(data)
    signature: bytes = signer.algorithm.sign(data, signer.key)
    return signature


def sign_compact(payload: bytes, key: SigningKey, typ: str = RECORD_TYP) -> str:
    """Return a compact JWS over ``payload`` with header alg, kid, typ and x5c (in that order)."""
    signer = _signer(key, typ)
    signing_input = f"{signer.header_segment}.{b64url_encode(payload)}"
    signature = _sign(signer, signing_input.encode("ascii"))
    if key.algorithm == "ES256":
        # OpenSSL's ECDSA leaves s as it comes (high half the time); verifiers refuse high S.
        signature = es256_low_s(signature)
    return f"{signing_input}.{b64url_encode(signature)}"


# -- parsing ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedJWS:
    """A compact JWS split into its parts; nothing in it is verified yet."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes
    compact: str

    @property
    def algorithm(self) -> str:
        return str(self.header.get("alg"))


def compact_text(value: str | bytes) -> str:
    """Return ``value`` as the stripped text parse_compact splits; raises MalformedJWSError.

    Text and bytes get the same checks: at most MAX_JWS_BYTES, ASCII only.
    """
    if len(value) > MAX_JWS_BYTES:
        raise MalformedJWSError("JWS larger than 1 MiB")
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedJWSError("a compact JWS is ASCII only") from exc
    elif not value.isascii():
        raise MalformedJWSError("a compact JWS is ASCII only")
    return value.strip(_STRIPPED)


def parse_compact(value: str | bytes, expected_typ: str) -> ParsedJWS:
    """Split and decode a compact JWS and check its header shape.

    Raises MalformedJWSError for anything that is not a well-formed compact JWS
    with a JSON header of the expected ``typ``.
    """
    value = compact_text(value)
    parts = value.split(".")
    if len(parts) != 3 or not all(parts):
        raise MalformedJWSError("a compact JWS has three non-empty dot-separated parts")
    raw_header, raw_payload, raw_signature = parts
    header = _header_copy(raw_header)
    if not isinstance(header, dict):
        raise MalformedJWSError("protected header is not a JSON object")
    unknown = set(header) - _ALLOWED_HEADER_PARAMS
    if unknown:
        raise MalformedJWSError(f"header parameters not accepted: {', '.join(sorted(unknown))}")
    if header.get("typ") != expected_typ:
        raise MalformedJWSError(f"typ must be {expected_typ!r}, got {header.get('typ')!r}")
    return ParsedJWS(
        header=header,
        payload=b64url_decode(raw_payload),
        signing_input=f"{raw_header}.{raw_payload}".encode("ascii"),
        signature=b64url_decode(raw_signature),
        compact=value,
    )


def _decode_header(raw_header: str) -> Any:
    try:
        return parse_strict(b64url_decode(raw_header))
    except CanonicalizationError as exc:
        raise MalformedJWSError(f"protected header is not JSON: {exc.detail}") from exc


def _header_copy(raw_header: str) -> Any:
    # The cached header when its members are strings and lists of strings (a
    # real header's are), copied so that nothing changes it through a token;
    # anything else is decoded afresh, as it is, and never copied deeply.
    if len(raw_header) <= _MAX_HEADER_SEGMENT:
        cached, plain = _header_of(raw_header)
        if plain:
            return {name: member if isinstance(member, str) else list(member) for name, member in cached.items()}
    return _decode_header(raw_header)


def _plain_member(member: Any) -> bool:
    return isinstance(member, str) or (isinstance(member, list) and all(isinstance(e, str) for e in member))


# Keyed by the header segment: a signer's header (alg, kid, typ, x5c) is the
# same on every record it signs, and decoding its certificates' base64 and JSON
# cost as much as the rest of the token. Failures raise and are not cached;
# parse_compact copies what it returns. Returns (header, whether it is a JSON
# object of strings and lists of strings).
@lru_cache(maxsize=256)
def _header_of(raw_header: str) -> tuple[Any, bool]:
    header = _decode_header(raw_header)
    return header, isinstance(header, dict) and all(_plain_member(member) for member in header.values())


def check_algorithm(parsed: ParsedJWS) -> Algorithm:
    """Return the header's alg when it is in the allow-list; raises AlgorithmNotAllowedError."""
    alg = parsed.header.get("alg")
    for allowed in ALLOWED_ALGORITHMS:
        if alg == allowed:
            return allowed
    raise AlgorithmNotAllowedError(f"alg {alg!r} is not accepted; allowed: {', '.join(ALLOWED_ALGORITHMS)}")


def x5c_chain(parsed: ParsedJWS) -> list[x509.Certificate]:
    """Decode the ``x5c`` header (leaf first); raises MalformedJWSError when absent or bad."""
    x5c = parsed.header.get("x5c")
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        raise MalformedJWSError("x5c header with the signing certificate chain is required")
    if len(x5c) > MAX_X5C_CERTIFICATES:
        raise MalformedJWSError(f"x5c chain longer than {MAX_X5C_CERTIFICATES} certificates")
    return [_cached_certificate(e) if len(e) <= _MAX_CACHED_X5C else _x5c_certificate(e) for e in x5c]


# Keyed by the x5c entry: a partner sends the same certificates with every
# record. Failures raise and are not cached; an entry larger than any real
# certificate is decoded each time, so the cache stays small (256 x 8 KiB).
_MAX_CACHED_X5C: Final = 8 * 1024


@lru_cache(maxsize=256)
def _cached_certificate(entry: str) -> x509.Certificate:
    return _x5c_certificate(entry)


def _x5c_certificate(entry: str) -> x509.Certificate:
    # RFC 7515 4.1.6: standard (not URL-safe) base64 of the DER, padded. Only the
    # one canonical spelling is read, as for the token's own segments.
    try:
        der = base64.b64decode(entry, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedJWSError("x5c entry is not a base64 DER certificate (not base64)") from exc
    if base64.b64encode(der).decode("ascii") != entry:
        raise MalformedJWSError("x5c entry is not a base64 DER certificate (not canonical base64)")
    try:
        cert = x509.load_der_x509_certificate(der)
        # cryptography parses some parts on first use; parse them here, so that a
        # malformed certificate is refused as such, not deep in a later step.
        _ = (cert.subject, cert.issuer, cert.extensions, cert.signature_hash_algorithm)
        _ = (cert.not_valid_before_utc, cert.not_valid_after_utc, cert.serial_number)
        cert.public_key()
    # DuplicateExtension is cryptography's own exception, not a ValueError.
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension) as exc:
        raise MalformedJWSError(f"x5c entry is not a base64 DER certificate ({exc})") from exc
    return cert


# -- signature -------------------------------------------------------------------


def _is_canonical_b64url(segment: bytes, limit: int) -> bool:
    if len(segment) > limit or len(segment) % 4 == 1:
        return False
    if segment.translate(None, _B64URL_ALPHABET):  # any character left is outside the alphabet
        return False
    tail = len(segment) % 4
    return tail == 0 or segment[-1:] in _CANONICAL_LAST_CHAR[tail]


def _check_segments(parsed: ParsedJWS) -> None:
    # parse_compact decodes leniently (it also serves callers that only read a
    # token, to name a rejected record say); what is verified must be spelled
    # exactly one way, as joserfc's deserialize_compact required.
    raw_header, _, raw_payload = parsed.signing_input.partition(b".")
    raw_signature = parsed.compact.rpartition(".")[2].encode("ascii", "replace")
    if not (
        _is_canonical_b64url(raw_header, _MAX_HEADER_SEGMENT)
        and _is_canonical_b64url(raw_payload, _MAX_PAYLOAD_SEGMENT)
        and _is_canonical_b64url(raw_signature, _MAX_SIGNATURE_SEGMENT)
    ):
        raise BadSignatureError("a JWS segment is not canonical base64url or is too long")


def _check_header_types(header: dict[str, Any]) -> None:
    # What joserfc's header registry checked (its check_header) for the members
    # parse_compact lets through, refused as before: a bad signature with
    # joserfc's error code.
    if "alg" not in header:
        raise BadSignatureError("signature does not verify with the x5c key (missing_header)")
    x5c = header.get("x5c", [])
    if any(name in header and not isinstance(header[name], str) for name in _STRING_HEADER_PARAMS) or not (
        isinstance(x5c, list) and all(isinstance(entry, str) for entry in x5c)
    ):
        raise BadSignatureError("signature does not verify with the x5c key (invalid_header_value)")


def verify_signature(parsed: ParsedJWS, public_key: PublicKey, alg: Algorithm) -> None:
    """Check the JWS signature with ``public_key``; raises BadSignatureError (only).

    Verifies ``parsed.signing_input`` and ``parsed.signature`` with
    ``cryptography`` rather than ``deserialize_compact``, which would split and
    decode the whole token again; the other checks deserialize_compact made
    (segment encoding and size, header member types, alg, key type and curve)
    are kept.
    """
    if alg not in _JWA or parsed.header.get("alg") != alg:
        raise BadSignatureError(f"the header's alg is not {alg!r}")
    _check_segments(parsed)
    _check_header_types(parsed.header)
    signature = parsed.signature
    try:
        if alg == "ES256":
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise BadSignatureError("signature does not verify with the x5c key (invalid_key_type)")
            if not isinstance(public_key.curve, ec.SECP256R1):
                raise BadSignatureError("signature does not verify with the x5c key (invalid_key_curve)")
            if len(signature) != 2 * _ES256_SIZE:
                raise BadSignatureError("signature does not verify with the x5c key (bad_signature)")
            r = int.from_bytes(signature[:_ES256_SIZE], "big")
            s = int.from_bytes(signature[_ES256_SIZE:], "big")
            public_key.verify(encode_dss_signature(r, s), parsed.signing_input, _ECDSA_SHA256)
        else:
            if not isinstance(public_key, ed25519.Ed25519PublicKey):
                raise BadSignatureError("signature does not verify with the x5c key (invalid_key_type)")
            public_key.verify(signature, parsed.signing_input)
    except InvalidSignature as exc:
        raise BadSignatureError("signature does not verify with the x5c key (bad_signature)") from exc
    except (ValueError, TypeError) as exc:
        raise BadSignatureError(f"signature does not verify: {exc}") from exc
    # Checked after the signature verifies: what is refused here is a genuine
    # signature in its second spelling, not a forgery.
    if alg == "ES256" and es256_is_high_s(signature):
        raise NonCanonicalSignatureError("ES256 signature has s > n/2; only the low-S form is accepted")
