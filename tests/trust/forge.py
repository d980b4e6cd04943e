"""Hand-built JWS for the trust tests, using only ``cryptography``, ``json`` and base64.

Nothing here imports the gateway's JOSE code: the hostile tokens of the negative
tests and the "other implementation" of the interop tests must not share a bug
with what they test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"

Signer = Callable[[bytes], bytes]


def example_draft(record_type: str) -> dict[str, Any]:
    """Return the committed example draft of ``record_type`` (a fresh dict each call)."""
    draft: dict[str, Any] = json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8"))
    return draft


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def x5c(certs: list[x509.Certificate]) -> list[str]:
    """Return the ``x5c`` header value (standard base64 DER, leaf first)."""
    return [base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii") for cert in certs]


def jwk_thumbprint(public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint: SHA-256 of the required JWK members, sorted, no whitespace."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):  # RFC 8037 section 2
        raw = public_key.public_bytes_raw()
        members = {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}
    else:
        numbers = public_key.public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
    text = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(text.encode("ascii")).digest())


# Order of the P-256 group (SEC 2 2.4.2).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def es256_signer(key: ec.EllipticCurvePrivateKey, *, high_s: bool = False) -> Signer:
    """ES256 (RFC 7518 3.4): ECDSA P-256 SHA-256, signature as raw r||s (64 bytes).

    s is in its low form (s <= n/2), which the gateway requires; ``high_s=True``
    gives the other, equally valid twin (r, n - s) instead.
    """

    def sign(signing_input: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        low = min(s, P256_ORDER - s)
        return r.to_bytes(32, "big") + (P256_ORDER - low if high_s else low).to_bytes(32, "big")

    return sign


def flip_s(signature: bytes) -> bytes:
    """Return the other valid twin of an ES256 r||s signature: (r, n - s)."""
    s = int.from_bytes(signature[32:], "big")
    return signature[:32] + (P256_ORDER - s).to_bytes(32, "big")


def ed25519_signer(key: ed25519.Ed25519PrivateKey) -> Signer:
    return key.sign


def hs256_signer(secret: bytes) -> Signer:
    return lambda signing_input: hmac.new(secret, signing_input, hashlib.sha256).digest()


def signer_for(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> Signer:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return ed25519_signer(key)
    return es256_signer(key)


def compact(header: dict[str, Any], payload: bytes, sign: Signer | None) -> str:
    """Return ``b64(header).b64(payload).b64(signature)``; ``sign=None`` leaves it empty."""
    signing_input = f"{b64url(_header_json(header))}.{b64url(payload)}"
    signature = sign(signing_input.encode("ascii")) if sign is not None else b""
    return f"{signing_input}.{b64url(signature)}"


def split(jws: str) -> tuple[dict[str, Any], bytes, bytes]:
    """Return (header, payload, signature) of a compact JWS, unverified."""
    raw_header, raw_payload, raw_signature = jws.split(".")
    header: dict[str, Any] = json.loads(b64url_decode(raw_header))
    return header, b64url_decode(raw_payload), b64url_decode(raw_signature)


def replace_payload(jws: str, payload: bytes) -> str:
    """Return ``jws`` with another payload and the original signature (a tampered token)."""
    raw_header, _, raw_signature = jws.split(".")
    return f"{raw_header}.{b64url(payload)}.{raw_signature}"


def replace_header(jws: str, header: dict[str, Any]) -> str:
    """Return ``jws`` with another protected header and the original signature."""
    _, raw_payload, raw_signature = jws.split(".")
    return f"{b64url(_header_json(header))}.{raw_payload}.{raw_signature}"


def canonical_json(document: Any) -> bytes:
    """JCS for documents whose keys are ASCII and whose numbers are integers (records).

    For such documents RFC 8785 is ``json.dumps`` with sorted keys, no whitespace and
    UTF-8 output; floats and non-ASCII keys would need the full algorithm.
    """
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def _header_json(header: dict[str, Any]) -> bytes:
    return json.dumps(header, separators=(",", ":")).encode("utf-8")
