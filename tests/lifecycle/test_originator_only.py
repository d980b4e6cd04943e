"""Only a record's originator may correct or retract it: refused when sending, rejected when received."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.records.schemas import Verdict
from tests.lifecycle.agencies import Agency, PartnerLine, assert_problem, draft
from tests.support.exchange import signed_record
from tests.support.nodes import Cluster
from tests.support.pki import TestPKI


@pytest.fixture
def pa_flag(pa: Agency, co: Agency, us: Agency) -> str:
    """A PA flag that CO and US both hold."""
    flag_id = pa.submit(draft("criminal_network_flag"))
    pa.wait_delivered(flag_id, ("CO", "US"))
    return flag_id


# -- sending side ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("corrections", {"reason": "CO thinks so", "body": {"subject_status": "convicted"}}),
        ("retractions", {"reason": "wrong_person"}),
    ],
)
def test_a_recipient_may_not_correct_or_retract(
    operation: str, body: dict[str, Any], pa_flag: str, co: Agency, us: Agency
) -> None:
    before = co.record(pa_flag)
    response = co.post(f"/v1/records/{pa_flag}/{operation}", body)
    problem = assert_problem(response, 403, "not-originator")
    assert "originates from PA" in problem["detail"]
    after = co.record(pa_flag)
    assert after["lifecycle"] == before["lifecycle"]
    assert after["body"] == before["body"]


def test_lifecycle_records_are_not_free_drafts(pa: Agency, pa_flag: str) -> None:
    own = pa.record(pa_flag)
    correction = {
        **{k: v for k, v in own["envelope"].items() if k not in ("record_id", "created_at", "terms")},
        "record_type": "correction",
        "supersedes": pa_flag,
        "body": {
            "corrected_jws_sha256": own["jws_sha256"],
            "reason": "bypassing the operation",
            "replacement": {"record_type": "criminal_network_flag", "body": own["body"]},
        },
    }
    response = pa.post("/v1/records", correction)
    assert_problem(response, 422, "lifecycle-operation-required")
    assert pa.record(pa_flag)["lifecycle"]["superseded_by"] is None


def test_unknown_record_is_404(pa: Agency) -> None:
    response = pa.post("/v1/records/0190f2a0-0000-7000-8000-000000000000/retractions", {"reason": "wrong_person"})
    assert_problem(response, 404, "record-not-held")


# -- receiving side ----------------------------------------------------------------------


def co_instruction(pa: Agency, record_id: str, record_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """A CO-signed correction or retraction about PA's record ``record_id``, for the US."""
    envelope = pa.record(record_id)["envelope"]
    document: dict[str, Any] = {
        "record_type": record_type,
        "originator": {"party": "CO", "agency": "Migración Colombia", "officer_ref": "MC-OF-0031"},
        "recipients": ["US"],
        "purpose": envelope["purpose"],
        "legal_basis": envelope["legal_basis"],
        "handling": envelope["handling"],
        "terms": envelope["terms"],
        "expires_at": envelope["expires_at"],
        "review_due": envelope["review_due"],
        "body": body,
    }
    if record_type == "correction":
        document["supersedes"] = record_id
    return document


def test_a_partner_cannot_correct_or_retract_anothers_record(
    pki: TestPKI, cluster: Cluster, pa: Agency, us: Agency, pa_flag: str, tmp_path: Path
) -> None:
    held = us.record(pa_flag)
    replacement = {**held["body"], "subject_status": "convicted"}
    forged = {
        "correction": co_instruction(
            pa,
            pa_flag,
            "correction",
            {
                "corrected_jws_sha256": held["jws_sha256"],
                "reason": "CO says so",
                "replacement": {"record_type": "criminal_network_flag", "body": replacement},
            },
        ),
        "retraction": co_instruction(
            pa,
            pa_flag,
            "retraction",
            {"retracted_record_id": pa_flag, "retracted_jws_sha256": held["jws_sha256"], "reason": "wrong_person"},
        ),
    }
    line = PartnerLine(pki, "CO", cluster["US"], tmp_path)
    for kind, document in forged.items():
        signed = signed_record(pki, "CO", document)
        receipt = line.post_record(signed.jws)
        assert (receipt.verdict, receipt.reason_code) == (Verdict.REJECTED, "not_originator"), kind
        assert receipt.sender == "CO"
        assert str(receipt.record_id) == str(signed.record.record_id)
        assert not us.holds(str(signed.record.record_id))

    after = us.record(pa_flag)
    assert after["lifecycle"] == held["lifecycle"]
    assert after["lifecycle"]["superseded_by"] is None
    assert after["lifecycle"]["retracted_by"] is None
    assert after["body"] == held["body"]
    assert after["jws_sha256"] == held["jws_sha256"]


def test_an_instruction_must_name_the_bytes_held(
    pki: TestPKI, cluster: Cluster, pa: Agency, co: Agency, pa_flag: str, tmp_path: Path
) -> None:
    held = co.record(pa_flag)
    envelope = {k: v for k, v in held["envelope"].items() if k not in ("record_id", "created_at", "schema_version")}
    retraction = {
        **envelope,
        "record_type": "retraction",
        "supersedes": None,
        "body": {"retracted_record_id": pa_flag, "retracted_jws_sha256": "0" * 64, "reason": "wrong_person"},
    }
    signed = signed_record(pki, "PA", retraction)
    receipt = PartnerLine(pki, "PA", cluster["CO"], tmp_path).post_record(signed.jws)
    assert (receipt.verdict, receipt.reason_code) == (Verdict.REJECTED, "digest_mismatch")
    after = co.record(pa_flag)
    assert (after["body"], after["lifecycle"]) == (held["body"], held["lifecycle"])


def test_a_record_sent_back_to_its_originator_is_rejected_not_taken_for_a_replay(
    pki: TestPKI, cluster: Cluster, pa: Agency, co: Agency, pa_flag: str, tmp_path: Path
) -> None:
    # PA holds these exact bytes as an *outgoing* record: the receive lookup
    # finds that row by digest and must not answer it as a replay of a delivery.
    jws = pa.record(pa_flag)["jws"]
    receipt = PartnerLine(pki, "CO", cluster["PA"], tmp_path).post_record(jws)
    assert (receipt.verdict, receipt.reason_code) == (Verdict.REJECTED, "peer_mismatch")
    assert receipt.sender == "CO"
    own = pa.record(pa_flag)
    assert own["direction"] == "out"
    assert own["lifecycle"]["superseded_by"] is None
