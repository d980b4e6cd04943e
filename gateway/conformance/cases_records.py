"""Cases of the record format and of every receipt reason code a sender can provoke (REC-*, RCP-*)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from cryptography import x509
from uuid6 import uuid7

from gateway.conformance.checks import expect_problem, expect_receipt
from gateway.conformance.registry import CaseSkipped, case, expect
from gateway.conformance.target import Target
from gateway.records.schemas import record_json
from gateway.records.signing import build_record
from gateway.terms.policy import party_country
from gateway.trust.jws import b64url_decode, b64url_encode, sign_compact
from gateway.trust.keys import SigningKey, generate_private_key, load_private_key
from gateway.trust.pki import issue_certificate, make_root_ca

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def record_document(target: Target, record_type: str) -> dict[str, Any]:
    """A complete, valid record document of ``record_type`` (fresh id, created now)."""
    return record_json(build_record(target.draft(record_type), target.now()))


def send_valid(target: Target, record_type: str) -> tuple[str, dict[str, Any]]:
    document = record_document(target, record_type)
    jws = target.sign(document)
    receipt = expect_receipt(target, target.post_jws(jws), jws)
    expect(str(receipt.record_id) == document["record_id"], f"receipt names record {receipt.record_id}")
    target.state.setdefault("accepted", []).append((jws, document, receipt))
    return jws, document


def expect_rejected(target: Target, jws: str, reason_code: str) -> None:
    expect_receipt(target, target.post_jws(jws), jws, verdict="rejected", reason_code=reason_code)


def _with_header(jws: str, **changes: Any) -> str:
    header_segment, payload, signature = jws.split(".")
    header = json.loads(b64url_decode(header_segment))
    header.update(changes)
    encoded = b64url_encode(json.dumps(header, separators=(",", ":")).encode("ascii"))
    return ".".join([encoded, payload, signature])


@case("REC-01", "a valid criminal_network_flag is accepted with a signed receipt (201)")
def valid_flag(target: Target) -> None:
    jws, document = send_valid(target, "criminal_network_flag")
    target.state["flag"] = (jws, document)


@case("REC-02", "a valid removal_manifest is accepted with a signed receipt (201)")
def valid_manifest(target: Target) -> None:
    send_valid(target, "removal_manifest")


@case("REC-03", "a valid removal_confirmation is accepted with a signed receipt (201)")
def valid_confirmation(target: Target) -> None:
    send_valid(target, "removal_confirmation")


@case("RCP-02", "a receipt carries the ledger index of its event (non-negative integer)")
def receipt_ledger_index(target: Target) -> None:
    accepted = target.state.get("accepted") or []
    if not accepted:
        raise CaseSkipped("no record was accepted by an earlier case")
    indexes = [receipt.ledger_index for _, _, receipt in accepted]
    expect(all(isinstance(i, int) and i >= 0 for i in indexes), f"ledger indexes {indexes}")
    expect(len(set(indexes)) == len(indexes), f"two receipts name one ledger index: {indexes}")


@case("RCP-10", "a payload altered after signing is rejected: bad_signature")
def bad_signature(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    header, _, signature = target.sign(document).split(".")
    document["legal_basis"] = document["legal_basis"] + " (altered)"
    altered = b64url_encode(json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode())
    expect_rejected(target, f"{header}.{altered}.{signature}", "bad_signature")


@case("RCP-11", "an algorithm outside the allow-list (HS256) is rejected: alg_not_allowed")
def alg_not_allowed(target: Target) -> None:
    jws = _with_header(target.sign(record_document(target, "criminal_network_flag")), alg="HS256")
    expect_rejected(target, jws, "alg_not_allowed")


@case("RCP-12", "a kid that is not the RFC 7638 thumbprint of the x5c key is rejected: unknown_key")
def unknown_key(target: Target) -> None:
    jws = _with_header(target.sign(record_document(target, "criminal_network_flag")), kid="A" * 43)
    expect_rejected(target, jws, "unknown_key")


@case("RCP-13", "a record signed under a CA outside the trust bundle is rejected: untrusted_chain")
def untrusted_chain(target: Target) -> None:
    ca_key = generate_private_key("ec-p256")
    ca = make_root_ca(target.party, ca_key)
    leaf_key = generate_private_key("ec-p256")
    rogue = SigningKey(leaf_key, (issue_certificate(target.party, "signing", leaf_key, ca, ca_key),))
    expect_rejected(target, target.sign(record_document(target, "criminal_network_flag"), rogue), "untrusted_chain")


@case("RCP-14", "a record signed with a TLS certificate (no document-signing purpose) is rejected: key_purpose")
def key_purpose(target: Target) -> None:
    certificate = target.identity.cert.read_bytes()
    tls_key = SigningKey(load_private_key(target.identity.key), tuple(x509.load_pem_x509_certificates(certificate)))
    expect_rejected(target, target.sign(record_document(target, "criminal_network_flag"), tls_key), "key_purpose")


@case("RCP-15", "a high-S ES256 signature (the malleable twin) is rejected: signature_malleable")
def signature_malleable(target: Target) -> None:
    if target.signing_key.algorithm != "ES256":
        raise CaseSkipped(f"the kit's signing key is {target.signing_key.algorithm}, not ES256")
    header, payload, signature = target.sign(record_document(target, "criminal_network_flag")).split(".")
    raw = b64url_decode(signature)
    high = (_P256_ORDER - int.from_bytes(raw[32:], "big")).to_bytes(32, "big")
    expect_rejected(target, f"{header}.{payload}.{b64url_encode(raw[:32] + high)}", "signature_malleable")


@case("RCP-16", "a payload that is not RFC 8785 canonical JSON is rejected: schema_violation")
def not_canonical(target: Target) -> None:
    spaced = json.dumps(record_document(target, "criminal_network_flag"), indent=1).encode()
    expect_rejected(target, sign_compact(spaced, target.signing_key), "schema_violation")


@case("RCP-17", "a record with a field outside its closed schema is rejected: schema_violation")
def schema_violation(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    document["body"]["favourite_colour"] = "blue"
    expect_rejected(target, target.sign(document), "schema_violation")


@case("RCP-18", "a record of an unknown schema_version is rejected: schema_violation")
def unknown_schema_version(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    document["schema_version"] = 99
    expect_rejected(target, target.sign(document), "schema_violation")


@case("RCP-19", "a record whose expires_at has passed is rejected: record_expired")
def record_expired(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    now = target.now().replace(microsecond=0)
    document["created_at"] = (now - timedelta(days=3)).isoformat().replace("+00:00", "Z")
    document["review_due"] = (now - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    document["expires_at"] = (now - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    expect_rejected(target, target.sign(document), "record_expired")


@case("RCP-20", "a record whose originator party is not the signer's party is rejected: party_mismatch")
def party_mismatch(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    others = [p for p in target.bundle.parties if p not in (target.party, target.target_party)]
    if not others:
        raise CaseSkipped("the bundle names no third party to claim")
    document["originator"]["party"] = others[0]
    expect_rejected(target, target.sign(document), "party_mismatch")


@case("RCP-21", "a record not addressed to the target is rejected: not_addressed")
def not_addressed(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    others = [p for p in target.bundle.parties if p not in (target.party, target.target_party)]
    if not others:
        raise CaseSkipped("the bundle names no third party to address")
    document["recipients"] = [others[0]]
    expect_rejected(target, target.sign(document), "not_addressed")


@case("RCP-22", "a record under terms the target has not signed is rejected: terms_unknown")
def terms_unknown(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    document["terms"] = {**document["terms"], "sha256": "0" * 64}
    expect_rejected(target, target.sign(document), "terms_unknown")


@case("RCP-23", "a purpose the flow does not allow is rejected: purpose_not_allowed")
def purpose_not_allowed(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    document["purpose"] = "conformance_test_purpose"
    expect_rejected(target, target.sign(document), "purpose_not_allowed")


@case("RCP-24", "handling below the flow's minimum is rejected: handling_too_permissive")
def handling_too_permissive(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    document["handling"] = "H0"
    expect_rejected(target, target.sign(document), "handling_too_permissive")


@case("RCP-25", "a flag about a person under 18 is rejected: schema_violation")
def subject_minor(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    document["body"]["subject"]["date_of_birth"] = (target.now() - timedelta(days=365 * 10)).date().isoformat()
    expect_rejected(target, target.sign(document), "schema_violation")


@case("RCP-26", "a record about a national of the receiver with a pending protection claim: protection_claim")
def protection_claim(target: Target) -> None:
    country = party_country(target.target_party)
    if country is None:
        raise CaseSkipped(f"no country known for party {target.target_party}")
    document = record_document(target, "criminal_network_flag")
    document["body"]["subject"]["nationality"] = country
    document["body"]["subject"]["protection_claim_pending"] = True
    expect_rejected(target, target.sign(document), "protection_claim")


@case("RCP-27", "a record kept longer than the terms' retention is rejected: retention_exceeded")
def retention_exceeded(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    document["expires_at"] = (target.now() + timedelta(days=365 * 60)).replace(microsecond=0).isoformat()
    document["expires_at"] = document["expires_at"].replace("+00:00", "Z")
    expect_rejected(target, target.sign(document), "retention_exceeded")


@case("RCP-28", "a discrepancy report about a record the target never originated is rejected: unknown_record")
def unknown_record(target: Target) -> None:
    document = record_document(target, "discrepancy_report")
    document["body"]["reported_record_id"] = str(uuid7())
    expect_rejected(target, target.sign(document), "unknown_record")


@case("HTTP-03", "a body that is no compact JWS is answered 422 malformed-jws (no receipt)")
def malformed_jws(target: Target) -> None:
    expect_problem(target.post_jws(b"this is not a JWS"), 422, "malformed-jws")


@case("HTTP-05", "a JWS whose typ is not mou-record+jws is answered 422 malformed-jws")
def wrong_typ(target: Target) -> None:
    jws = target.sign(record_document(target, "criminal_network_flag"), typ="mou-receipt+jws")
    expect_problem(target.post_jws(jws), 422, "malformed-jws")
