"""The wire format pinned: golden JWS of every ``typ`` verify with the gateway's verifiers.

The vectors (tests/vectors/jws_*.json) were made once by
tests/vectors/make_jws_vectors.py with keys that no longer exist; each is
verified here at its fixed time with the same function the node uses, and its
protected header is checked byte for byte. A change that makes an old token
unreadable (header members, their order, base64url, canonical payloads, the
chain rules) fails here; when the change is intended, regenerate the vectors
(tests/vectors/README.md) and say so in the commit.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from gateway.exchange.receipts import verify_receipt
from gateway.ledger.checkpoints import verify_checkpoint
from gateway.records.signing import verify_record
from gateway.terms.document import check_signature, parse_terms, statement
from gateway.terms.schemas import Signature
from gateway.trust.bundle import TrustBundle
from gateway.trust.bundle_update import verify_trust_update
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import CertificateExpiredError, TrustError
from gateway.trust.jws import (
    CHECKPOINT_TYP,
    RECEIPT_TYP,
    RECORD_TYP,
    TERMS_SIGNATURE_TYP,
    TRUST_UPDATE_TYP,
    b64url_decode,
    b64url_encode,
    es256_is_high_s,
)
from gateway.trust.keys import thumbprint

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
FILES = sorted(p.name for p in VECTORS.glob("jws_*.json") if p.name != "jws_trust_bundle.json")
HEADER_MEMBERS = ["alg", "kid", "typ", "x5c"]  # and in this order: what sign_compact writes


def load(name: str) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads((VECTORS / name).read_text("utf-8"))
    return vector


def bundle_of(vector: dict[str, Any]) -> TrustBundle:
    return TrustBundle.from_json((VECTORS / vector["bundle"]).read_text("utf-8"), vector["bundle"])


def at(vector: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(vector["verify_at"])


def compact_of(vector: dict[str, Any]) -> str:
    """The token to verify: a detached terms signature gets its statement back as the payload."""
    jws: str = vector["jws"]
    if vector["verifier"] != "terms_signature":
        return jws
    raw_header, _, raw_signature = jws.partition("..")
    signed = statement(parse_terms(vector["context"]["terms"]), vector["context"]["party"])
    return f"{raw_header}.{b64url_encode(signed)}.{raw_signature}"


def verify(vector: dict[str, Any], token: str, moment: datetime) -> str:
    """Verify with the node's own function for the vector's typ; return the signer's party."""
    bundle, context = bundle_of(vector), vector["context"]
    match vector["verifier"]:
        case "record":
            return verify_record(token, bundle, moment).signer_party
        case "receipt":
            return verify_receipt(
                token, bundle, moment, receiver=context["receiver"], jws_sha256=context["jws_sha256"]
            ).signer_party
        case "checkpoint":
            return verify_checkpoint(token, bundle, moment, party=vector["signer_party"]).signer_party
        case "trust_update":
            return verify_trust_update(token, bundle, moment).party
        case "terms_signature":
            raw_header, _, raw_signature = token.split(".")
            check = check_signature(
                parse_terms(context["terms"]),
                Signature(party=context["party"], jws=f"{raw_header}..{raw_signature}"),
                bundle,
                moment,
            )
            if not check.valid:  # check_signature reports "<reason>: <detail>"; raise that step's error
                reason, _, detail = check.detail.partition(": ")
                raise next((e for e in _trust_errors() if e.reason == reason), TrustError)(detail)
            return check.party
    raise AssertionError(f"unknown verifier {vector['verifier']}")


def _trust_errors() -> list[type[TrustError]]:
    found: list[type[TrustError]] = []
    pending = [TrustError]
    while pending:
        error = pending.pop()
        found.append(error)
        pending.extend(error.__subclasses__())
    return found  # each reason code belongs to one class


def test_there_is_a_vector_for_every_typ() -> None:
    typs = {load(name)["typ"] for name in FILES}
    assert typs == {RECORD_TYP, RECEIPT_TYP, CHECKPOINT_TYP, TERMS_SIGNATURE_TYP, TRUST_UPDATE_TYP}
    record_types = {load(name)["payload"]["record_type"] for name in FILES if load(name)["typ"] == RECORD_TYP}
    assert {"criminal_network_flag", "onward_sharing_consent"} <= record_types  # consents are records
    assert {load(name)["header"]["alg"] for name in FILES} == {"ES256", "Ed25519"}


def test_vectors_hold_no_private_key() -> None:
    for path in VECTORS.glob("jws_*.json"):
        text = path.read_text("utf-8")
        assert "PRIVATE KEY" not in text, path.name
        assert '"d":' not in text, path.name  # no JWK private member either


@pytest.mark.parametrize("name", FILES)
def test_vector_verifies_at_its_fixed_time(name: str) -> None:
    vector = load(name)
    assert verify(vector, compact_of(vector), at(vector)) == vector["signer_party"]


@pytest.mark.parametrize("name", FILES)
def test_vector_header_is_exactly_what_the_gateway_writes(name: str) -> None:
    vector = load(name)
    raw_header = vector["jws"].split(".")[0]
    header_bytes = b64url_decode(raw_header)
    # Byte for byte: members in this order, ASCII JSON, no whitespace.
    assert header_bytes == json.dumps(vector["header"], separators=(",", ":"), ensure_ascii=True).encode("ascii")
    header = json.loads(header_bytes)
    assert list(header) == HEADER_MEMBERS
    assert header["typ"] == vector["typ"]
    assert len(header["x5c"]) == 1  # the leaf only; the CA comes from the bundle
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0], validate=True))
    assert header["kid"] == thumbprint(leaf.public_key())  # type: ignore[arg-type]
    assert header["alg"] == ("Ed25519" if leaf.public_key().__class__.__name__.startswith("Ed25519") else "ES256")


@pytest.mark.parametrize("name", FILES)
def test_vector_payload_is_the_canonical_json_of_its_document(name: str) -> None:
    vector = load(name)
    if vector["verifier"] == "terms_signature":  # detached: the payload is rebuilt from the terms
        assert vector["jws"].split(".")[1] == ""
        return
    raw_payload = vector["jws"].split(".")[1]
    assert b64url_decode(raw_payload) == canonicalize(vector["payload"])


@pytest.mark.parametrize("name", FILES)
def test_es256_vectors_are_low_s(name: str) -> None:
    vector = load(name)
    signature = b64url_decode(vector["jws"].split(".")[-1])
    assert len(signature) == 64
    assert not es256_is_high_s(signature) or vector["header"]["alg"] != "ES256"


@pytest.mark.parametrize("name", FILES)
def test_vector_fails_outside_its_certificates_or_once_altered(name: str) -> None:
    vector = load(name)
    token = compact_of(vector)
    # Before the certificates were issued: the fixed time is what makes the vector verify.
    with pytest.raises(CertificateExpiredError):
        verify(vector, token, at(vector) - timedelta(days=1))
    # One character of the signature changed (its canonical last character kept valid).
    raw_header, raw_payload, raw_signature = token.split(".")
    flipped = raw_signature[:10] + ("A" if raw_signature[10] != "A" else "B") + raw_signature[11:]
    with pytest.raises(TrustError):
        verify(vector, f"{raw_header}.{raw_payload}.{flipped}", at(vector))


def test_receipt_vector_names_the_record_vector() -> None:
    receipt, record = load("jws_receipt.json"), load("jws_record.json")
    digest = hashlib.sha256(record["jws"].encode("ascii")).hexdigest()
    assert receipt["context"]["jws_sha256"] == digest == receipt["payload"]["jws_sha256"]
    assert receipt["payload"]["record_id"] == record["payload"]["record_id"]
