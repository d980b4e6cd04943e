"""Cases of idempotency, conflicts, batches and lifecycle instructions (IDM-*, BAT-*, LIF-*)."""

from __future__ import annotations

import copy
import json
from typing import Any

from gateway.conformance.cases_records import record_document, send_valid
from gateway.conformance.checks import check_receipt_text, digest, expect_problem, expect_receipt
from gateway.conformance.registry import case, expect
from gateway.conformance.target import BATCH_PATH, Target
from gateway.records.schemas import record_json
from gateway.records.signing import build_record


def _flag(target: Target) -> tuple[str, dict[str, Any]]:
    """The flag an earlier case delivered (REC-01), or a new one."""
    flag = target.state.get("flag")
    if flag is None:
        flag = send_valid(target, "criminal_network_flag")
        target.state["flag"] = flag
    jws, document = flag
    return str(jws), dict(document)


@case("IDM-01", "the same bytes again are answered 200 with the byte-identical receipt")
def replay(target: Target) -> None:
    document = record_document(target, "removal_manifest")
    jws = target.sign(document)
    first = target.post_jws(jws)
    expect_receipt(target, first, jws)
    again = target.post_jws(jws)
    expect_receipt(target, again, jws, status=200)
    expect(again.content == first.content, "the replay's receipt differs from the first receipt")


@case("IDM-02", "a rejected record sent again is answered 200 with the same rejected receipt")
def replay_rejected(target: Target) -> None:
    document = record_document(target, "criminal_network_flag")
    document["handling"] = "H0"
    jws = target.sign(document)
    first = target.post_jws(jws)
    expect_receipt(target, first, jws, verdict="rejected", reason_code="handling_too_permissive")
    again = target.post_jws(jws)
    expect_receipt(target, again, jws, status=200, verdict="rejected", reason_code="handling_too_permissive")
    expect(again.content == first.content, "the replay's receipt differs from the first receipt")


@case("IDM-03", "an accepted record_id sent again with other bytes is answered 409 record-id-conflict")
def conflict(target: Target) -> None:
    jws, document = _flag(target)
    other = copy.deepcopy(document)
    other["body"]["summary_of_facts"] = other["body"]["summary_of_facts"] + " Conformance conflict."
    expect_problem(target.post_jws(target.sign(other)), 409, "record-id-conflict")
    again = target.post_jws(jws)
    expect(again.status_code == 200, f"the original bytes after the conflict answered {again.status_code}, not 200")


@case("BAT-01", "a batch with mixed items answers each: accepted, rejected, malformed, repeated")
def mixed_batch(target: Target) -> None:
    good = target.sign(record_document(target, "removal_manifest"))
    bad_document = record_document(target, "criminal_network_flag")
    bad_document["handling"] = "H0"
    bad = target.sign(bad_document)
    response = target.post_batch([good, bad, "not a JWS", good])
    expect(response.status_code == 200, f"the batch was answered {response.status_code}, not 200")
    results = response.json().get("results")
    expect(isinstance(results, list) and len(results) == 4, f"expected 4 results, got {results!r:.200}")
    expect([r.get("index") for r in results] == [0, 1, 2, 3], "results are not indexed 0..3 in order")
    statuses = [r.get("status") for r in results]
    expect(statuses == [201, 201, 422, 200], f"item statuses {statuses}, expected [201, 201, 422, 200]")
    first = check_receipt_text(target, results[0]["receipt"], good)
    expect(first.verdict.value == "accepted", f"item 0 verdict {first.verdict.value}")
    second = check_receipt_text(target, results[1]["receipt"], bad)
    expect(
        second.verdict.value == "rejected" and second.reason_code == "handling_too_permissive",
        f"item 1 verdict {second.verdict.value} ({second.reason_code})",
    )
    problem = results[2].get("problem") or {}
    expect(str(problem.get("type", "")).endswith("/malformed-jws"), f"item 2 problem {problem!r:.120}")
    expect(results[3].get("receipt") == results[0]["receipt"], "the repeated item has another receipt")


@case("BAT-02", "a batch of more than 500 records is answered 413 batch-too-large")
def batch_too_large(target: Target) -> None:
    with target.client() as client:
        body = json.dumps({"records": ["x"] * 501})
        response = client.post(BATCH_PATH, content=body, headers={"Content-Type": "application/json"})
    expect_problem(response, 413, "batch-too-large")


@case("BAT-03", 'a batch body that is not {"records": [strings]} is answered 400 malformed-batch')
def malformed_batch(target: Target) -> None:
    with target.client() as client:
        response = client.post(BATCH_PATH, content=b'{"records": "x"}', headers={"Content-Type": "application/json"})
    expect_problem(response, 400, "malformed-batch")


def _correction(target: Target, flag: dict[str, Any], flag_jws: str, replacement: dict[str, Any]) -> dict[str, Any]:
    draft = target.draft("correction")
    draft["supersedes"] = flag["record_id"]
    draft["body"]["corrected_jws_sha256"] = digest(flag_jws)
    draft["body"]["replacement"] = replacement
    for field in ("purpose", "handling", "legal_basis", "expires_at", "review_due"):
        draft[field] = flag[field]
    return record_json(build_record(draft, target.now()))


@case("LIF-01", "a correction naming the digest of the originator's earlier record is accepted")
def correction_accepted(target: Target) -> None:
    jws, flag = _flag(target)
    body = copy.deepcopy(flag["body"])
    body["summary_of_facts"] = body["summary_of_facts"] + " Corrected."
    document = _correction(target, flag, jws, {"record_type": "criminal_network_flag", "body": body})
    correction = target.sign(document)
    expect_receipt(target, target.post_jws(correction), correction)
    target.state["correction"] = (correction, document)


@case("LIF-02", "a correction naming other bytes than the target received is rejected: digest_mismatch")
def correction_digest_mismatch(target: Target) -> None:
    jws, flag = send_valid(target, "criminal_network_flag")
    document = _correction(target, flag, jws, {"record_type": "criminal_network_flag", "body": flag["body"]})
    document["body"]["corrected_jws_sha256"] = "0" * 64
    expect_rejected_instruction(target, target.sign(document), "digest_mismatch")


@case("LIF-03", "a correction whose replacement is of another record type is rejected: correction_type_mismatch")
def correction_type_mismatch(target: Target) -> None:
    jws, flag = send_valid(target, "criminal_network_flag")
    manifest = record_document(target, "removal_manifest")
    document = _correction(target, flag, jws, {"record_type": "removal_manifest", "body": manifest["body"]})
    for field in ("purpose", "handling", "expires_at", "review_due"):
        document[field] = manifest[field]
    expect_rejected_instruction(target, target.sign(document), "correction_type_mismatch")


@case("LIF-04", "a retraction by the originator naming the record's digest is accepted")
def retraction_accepted(target: Target) -> None:
    jws, flag = send_valid(target, "criminal_network_flag")
    draft = target.draft("retraction")
    draft["body"]["retracted_record_id"] = flag["record_id"]
    draft["body"]["retracted_jws_sha256"] = digest(jws)
    document = record_json(build_record(draft, target.now()))
    retraction = target.sign(document)
    expect_receipt(target, target.post_jws(retraction), retraction)


def expect_rejected_instruction(target: Target, jws: str, reason_code: str) -> None:
    expect_receipt(target, target.post_jws(jws), jws, verdict="rejected", reason_code=reason_code)
