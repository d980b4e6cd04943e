"""Compact JWS (RFC 7515) signing and the low-level pieces of verification.

The gateway's JWS are ordinary compact serializations: any JOSE library can
verify one with the public key of its ``x5c[0]`` certificate. The payload is
always the RFC 8785 canonical JSON of the document.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jws
from joserfc.errors import JoseError

from gateway.trust.canonical import parse_strict
from gateway.trust.errors import (
    AlgorithmNotAllowedError,
    BadSignatureError,
    CanonicalizationError,
    MalformedJWSError,
)
from gateway.trust.keys import ALLOWED_ALGORITHMS, Algorithm, PublicKey, SigningKey, jose_key

RECORD_TYP: Final = "mou-record+jws"
RECEIPT_TYP: Final = "mou-receipt+jws"
TERMS_SIGNATURE_TYP: Final = "mou-terms-signature+jws"
CHECKPOINT_TYP: Final = "mou-checkpoint+jws"
TRUST_UPDATE_TYP: Final = "mou-trust-update+jws"

# Header parameters the gateway understands. Anything else (notably `jwk`,
# `jku`, `x5u`, `crit`) would let a signer choose its own trust anchor or
# semantics we do not implement, so it is refused outright.
_ALLOWED_HEADER_PARAMS: Final = frozenset({"alg", "kid", "x5c", "typ", "cty"})
MAX_JWS_BYTES: Final = 1024 * 1024


def b64url_encode(data: bytes) -> str:
    """Return unpadded base64url of ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; raises MalformedJWSError on bad input."""
    if "=" in text:
        raise MalformedJWSError("base64url segments must be unpadded")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedJWSError("segment is not base64url") from exc


def sign_compact(payload: bytes, key: SigningKey, typ: str = RECORD_TYP) -> str:
    """Return a compact JWS over ``payload`` with header alg, kid, x5c and typ."""
    header: dict[str, Any] = {
        "alg": key.algorithm,
        "kid": key.kid,
        "typ": typ,
        "x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in key.chain],
    }
    return str(jws.serialize_compact(header, payload, jose_key(key.private_key), registry=_registry(key.algorithm)))


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


def parse_compact(value: str | bytes, expected_typ: str) -> ParsedJWS:
    """Split and decode a compact JWS and check its header shape.

    Raises MalformedJWSError for anything that is not a well-formed compact JWS
    with a JSON header of the expected ``typ``.
    """
    if isinstance(value, bytes):
        if len(value) > MAX_JWS_BYTES:
            raise MalformedJWSError("JWS larger than 1 MiB")
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedJWSError("a compact JWS is ASCII only") from exc
    value = value.strip()
    parts = value.split(".")
    if len(parts) != 3 or not all(parts):
        raise MalformedJWSError("a compact JWS has three non-empty dot-separated parts")
    raw_header, raw_payload, raw_signature = parts
    try:
        header = parse_strict(b64url_decode(raw_header))
    except CanonicalizationError as exc:
        raise MalformedJWSError(f"protected header is not JSON: {exc.detail}") from exc
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
    if len(x5c) > 5:
        raise MalformedJWSError("x5c chain longer than 5 certificates")
    chain: list[x509.Certificate] = []
    for entry in x5c:
        try:
            chain.append(x509.load_der_x509_certificate(base64.b64decode(entry, validate=True)))
        except (binascii.Error, ValueError) as exc:
            raise MalformedJWSError("x5c entry is not a base64 DER certificate") from exc
    return chain


def _registry(alg: Algorithm) -> jws.JWSRegistry:
    # joserfc's default limits (512-byte header, 128 kB payload) are below what
    # an x5c header and a 400-person manifest need; our own limits apply earlier.
    registry = jws.JWSRegistry(algorithms=[alg])
    registry.max_header_length = 16 * 1024
    registry.max_payload_length = MAX_JWS_BYTES
    registry.max_signature_length = 1024
    return registry


def verify_signature(parsed: ParsedJWS, public_key: PublicKey, alg: Algorithm) -> None:
    """Check the JWS signature with ``public_key``; raises BadSignatureError."""
    try:
        jws.deserialize_compact(parsed.compact, jose_key(public_key), registry=_registry(alg))
    except JoseError as exc:
        raise BadSignatureError(f"signature does not verify with the x5c key ({exc.error})") from exc
    except ValueError as exc:
        raise BadSignatureError(f"signature does not verify: {exc}") from exc
