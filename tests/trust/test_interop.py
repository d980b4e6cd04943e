"""Interop: the gateway's record JWS against a JWS implementation written here.

The independent side uses ``cryptography``, ``json`` and base64 only (see forge.py):
it verifies what the gateway signs over ``base64url(header).base64url(payload)`` with
the key of ``x5c[0]``, and it signs records (header and RFC 7638 kid built by hand)
that the gateway's ``verify_record`` must accept. It is itself checked against the
RFC 7515 and RFC 8037 examples first, so a bug on both sides cannot cancel out.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from uuid6 import uuid7

from gateway.records.schemas import RecordType, record_json
from gateway.records.signing import build_record, rfc3339, sign_record, verify_record
from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import NonCanonicalSignatureError
from gateway.trust.jws import ParsedJWS, verify_signature
from gateway.trust.keys import SigningKey
from gateway.trust.pki import PartyFiles, init_party
from tests.trust import forge

TYPES = [t.value for t in RecordType]
KINDS = ["ec-p256", "ed25519"]

# RFC 7515 appendix A.3: ES256 example key and JWS.
RFC7515_A3_X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
RFC7515_A3_Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
RFC7515_A3_JWS = (
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)
# RFC 8037 appendix A.1 and A.4: Ed25519 key and its (deterministic) JWS.
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_A4_JWS = (
    "eyJhbGciOiJFZERTQSJ9"
    ".RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


# -- the independent verifier ----------------------------------------------------


def independent_verify(jws: str, public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> dict[str, Any]:
    """Verify a compact JWS with ``public_key``; return its header. Raises InvalidSignature."""
    raw_header, raw_payload, raw_signature = jws.split(".")
    header: dict[str, Any] = json.loads(forge.b64url_decode(raw_header))
    signing_input = f"{raw_header}.{raw_payload}".encode("ascii")
    signature = forge.b64url_decode(raw_signature)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, signing_input)
    else:
        if len(signature) != 64:
            raise InvalidSignature("ES256 signatures are 64 bytes r||s")
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        public_key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
    return header


def leaf_of(header: dict[str, Any]) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0], validate=True))


def test_independent_verifier_accepts_rfc7515_a3() -> None:
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(forge.b64url_decode(RFC7515_A3_X), "big"),
        int.from_bytes(forge.b64url_decode(RFC7515_A3_Y), "big"),
        ec.SECP256R1(),
    )
    public = numbers.public_key()
    assert independent_verify(RFC7515_A3_JWS, public) == {"alg": "ES256"}
    # ...and the gateway's signature check accepts the same RFC vector in its
    # low-S form; the RFC's own signature has s > n/2, the malleable twin it refuses.
    raw_header, raw_payload, raw_signature = RFC7515_A3_JWS.split(".")
    low_s = forge.flip_s(forge.b64url_decode(raw_signature))
    for signature, compact in (
        (low_s, f"{raw_header}.{raw_payload}.{forge.b64url(low_s)}"),
        (forge.b64url_decode(raw_signature), RFC7515_A3_JWS),
    ):
        parsed = ParsedJWS(
            header={"alg": "ES256"},
            payload=forge.b64url_decode(raw_payload),
            signing_input=f"{raw_header}.{raw_payload}".encode(),
            signature=signature,
            compact=compact,
        )
        if signature == low_s:
            verify_signature(parsed, public, "ES256")
        else:
            with pytest.raises(NonCanonicalSignatureError, match="low-S"):
                verify_signature(parsed, public, "ES256")
    tampered = RFC7515_A3_JWS[:-2] + ("AA" if not RFC7515_A3_JWS.endswith("AA") else "BB")
    with pytest.raises(InvalidSignature):
        independent_verify(tampered, public)


def test_independent_signer_reproduces_rfc8037_a4() -> None:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(forge.b64url_decode(RFC8037_D))
    payload = b"Example of Ed25519 signing"
    assert forge.compact({"alg": "EdDSA"}, payload, forge.ed25519_signer(key)) == RFC8037_A4_JWS
    assert independent_verify(RFC8037_A4_JWS, key.public_key()) == {"alg": "EdDSA"}


# -- PKIs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, PartyFiles]]:
    """PA and CO PKIs whose record keys are P-256, and another pair with Ed25519 keys."""
    root = tmp_path_factory.mktemp("interop")
    return {
        kind: {
            party: init_party(party, root / kind / party.lower(), key_kind=kind)  # type: ignore[arg-type]
            for party in ("PA", "CO")
        }
        for kind in KINDS
    }


def bundle_of(files: dict[str, PartyFiles]) -> TrustBundle:
    return TrustBundle.merge(TrustBundle.load(f.bundle_entry) for f in files.values())


def now() -> datetime:
    return datetime.now(UTC)


# -- gateway signs, independent code verifies ------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("record_type", TYPES)
def test_gateway_jws_verifies_independently(
    parties: dict[str, dict[str, PartyFiles]], kind: str, record_type: str
) -> None:
    record = build_record(forge.example_draft(record_type), now())
    files = parties[kind][record.originator.party]
    signed = sign_record(record, SigningKey.from_files(files.signing_key, files.signing_cert))

    header = independent_verify(signed.jws, leaf_of(forge.split(signed.jws)[0]).public_key())  # type: ignore[arg-type]

    leaf = leaf_of(header)
    assert leaf == x509.load_pem_x509_certificate(files.signing_cert.read_bytes())
    assert header["alg"] == ("Ed25519" if kind == "ed25519" else "ES256")
    assert header["typ"] == "mou-record+jws"
    assert set(header) == {"alg", "kid", "typ", "x5c"}
    assert header["kid"] == forge.jwk_thumbprint(leaf.public_key())  # type: ignore[arg-type]
    # The payload is the record's RFC 8785 form, whatever the implementation.
    payload = forge.split(signed.jws)[1]
    assert payload == forge.canonical_json(record_json(record))
    assert payload == canonicalize(json.loads(payload))
    # And x5c[0] was issued by the party CA (checked without the gateway).
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    leaf.verify_directly_issued_by(ca)


@pytest.mark.parametrize("kind", KINDS)
def test_independent_verifier_rejects_a_tampered_gateway_jws(
    parties: dict[str, dict[str, PartyFiles]], kind: str
) -> None:
    record = build_record(forge.example_draft("acknowledgement"), now())
    files = parties[kind]["CO"]
    signed = sign_record(record, SigningKey.from_files(files.signing_key, files.signing_cert))
    document = json.loads(signed.payload)
    document["body"]["decision"] = "reject"
    tampered = forge.replace_payload(signed.jws, forge.canonical_json(document))
    public = leaf_of(forge.split(signed.jws)[0]).public_key()
    with pytest.raises(InvalidSignature):
        independent_verify(tampered, public)  # type: ignore[arg-type]


# -- independent code signs, gateway verifies ------------------------------------


def independent_sign(files: PartyFiles, document: dict[str, Any]) -> str:
    """Sign ``document`` as a record JWS without any gateway code."""
    key = serialization.load_pem_private_key(files.signing_key.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(files.signing_cert.read_bytes())
    assert isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    header = {
        "alg": "Ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256",
        "kid": forge.jwk_thumbprint(key.public_key()),
        "typ": "mou-record+jws",
        "x5c": forge.x5c([cert]),
    }
    return forge.compact(header, forge.canonical_json(document), forge.signer_for(key))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("record_type", TYPES)
def test_independent_jws_verifies_with_the_gateway(
    parties: dict[str, dict[str, PartyFiles]], kind: str, record_type: str
) -> None:
    moment = now()
    document = {
        **forge.example_draft(record_type),
        "record_id": str(uuid7()),
        "created_at": rfc3339(moment.replace(microsecond=0)),
    }
    files = parties[kind][document["originator"]["party"]]
    token = independent_sign(files, document)

    verified = verify_record(token, bundle_of(parties[kind]), moment)

    cert = x509.load_pem_x509_certificate(files.signing_cert.read_bytes())
    assert verified.kid == forge.jwk_thumbprint(cert.public_key())  # type: ignore[arg-type]
    assert verified.algorithm == ("Ed25519" if kind == "ed25519" else "ES256")
    assert verified.signer_party == document["originator"]["party"]
    assert str(verified.payload.record_id) == document["record_id"]
    assert verified.payload_bytes == forge.canonical_json(document)
    # The hand-rolled JCS agrees with the gateway's RFC 8785 implementation here.
    assert verified.payload_bytes == canonicalize(document)


@pytest.mark.parametrize("kind", KINDS)
def test_gateway_kid_is_the_hand_computed_thumbprint(parties: dict[str, dict[str, PartyFiles]], kind: str) -> None:
    files = parties[kind]["PA"]
    key = SigningKey.from_files(files.signing_key, files.signing_cert)
    public = x509.load_pem_x509_certificate(files.signing_cert.read_bytes()).public_key()
    members: dict[str, str]
    if isinstance(public, ed25519.Ed25519PublicKey):
        members = {"crv": "Ed25519", "kty": "OKP", "x": forge.b64url(public.public_bytes_raw())}
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        numbers = public.public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": forge.b64url(numbers.x.to_bytes(32, "big")),
            "y": forge.b64url(numbers.y.to_bytes(32, "big")),
        }
    # RFC 7638 3.3: required members only, lexicographic order, no whitespace.
    text = "{" + ",".join(f'"{name}":"{value}"' for name, value in sorted(members.items())) + "}"
    expected = forge.b64url(hashlib.sha256(text.encode()).digest())
    assert key.kid == expected
    record = build_record(forge.example_draft("removal_manifest"), now())
    header, _, _ = forge.split(sign_record(record, key).jws)
    assert header["kid"] == expected
