"""Retractions: every holder deletes the body, keeps the envelope and digest, and acknowledges."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from gateway.records.schemas import Verdict
from tests.lifecycle.agencies import Agency, PartnerLine, assert_problem, draft, instruction, terms_ref
from tests.support.exchange import signed_record
from tests.support.nodes import Cluster, wait_for
from tests.support.pki import TestPKI


def assert_withdrawn(detail: dict[str, object], *, record_id: str, jws_sha256: str, retraction_id: str) -> None:
    """``detail`` is a record whose body a retraction deleted: envelope and digest kept."""
    assert detail["body"] is None
    assert detail["jws"] == ""
    assert detail["jws_sha256"] == jws_sha256
    envelope = detail["envelope"]
    assert isinstance(envelope, dict)
    assert envelope["record_id"] == record_id
    assert "body" not in envelope
    lifecycle = detail["lifecycle"]
    assert isinstance(lifecycle, dict)
    assert lifecycle["retracted_by"] == retraction_id
    assert lifecycle["retention"] == "deleted"
    assert lifecycle["body_deleted_reason"] == "retraction"
    assert lifecycle["body_deleted_at"] is not None


def test_retraction_deletes_the_body_everywhere_and_is_acknowledged(pa: Agency, co: Agency, us: Agency) -> None:
    manifest_id = pa.submit(draft("removal_manifest"))
    pa.wait_delivered(manifest_id, ("CO", "US"))
    digests = {holder.party: holder.record(manifest_id)["jws_sha256"] for holder in (pa, co, us)}
    assert len(set(digests.values())) == 1

    retraction_id = pa.issue(
        f"/v1/records/{manifest_id}/retractions", {"reason": "data_inaccurate", "comment": "wrong flight"}
    )
    own = pa.record(retraction_id)
    assert own["record_type"] == "retraction"
    assert own["recipients"] == ["CO", "US"]
    assert own["body"] == {
        "retracted_record_id": manifest_id,
        "retracted_jws_sha256": digests["PA"],
        "reason": "data_inaccurate",
        "comment": "wrong flight",
    }
    # The originator's own copy loses its body at once.
    assert_withdrawn(
        pa.record(manifest_id), record_id=manifest_id, jws_sha256=digests["PA"], retraction_id=retraction_id
    )
    pa.wait_delivered(retraction_id, ("CO", "US"))

    for holder in (co, us):
        assert_withdrawn(
            holder.record(manifest_id), record_id=manifest_id, jws_sha256=digests["PA"], retraction_id=retraction_id
        )
        assert holder.record(retraction_id)["body"]["reason"] == "data_inaccurate"

    wait_for(lambda: {row["state"] for row in pa.dissemination(manifest_id)["holders"]} == {"retracted"})
    view = pa.dissemination(manifest_id)
    assert view["retracted_by"] == retraction_id
    assert sorted(row["party"] for row in view["holders"]) == ["CO", "US"]
    for row in view["holders"]:
        versions = {v["record_id"]: v for v in row["versions"]}
        assert versions[retraction_id]["delivery"] == "delivered"
        application = versions[retraction_id]["application"]
        assert application["outcome"] == "applied"
        acknowledgement = pa.record(application["acknowledgement_id"])
        assert acknowledgement["originator_party"] == row["party"]
        assert acknowledgement["body"]["instruction_record_id"] == retraction_id
        assert acknowledgement["body"]["instruction_type"] == "retraction"
        assert acknowledgement["body"]["outcome"] == "applied"
        assert acknowledgement["body"]["body_deleted"] is True

    again = pa.post(f"/v1/records/{manifest_id}/retractions", {"reason": "data_inaccurate"})
    assert_problem(again, 409, "record-withdrawn")
    corrected = copy.deepcopy(draft("removal_manifest")["body"])
    late = pa.post(f"/v1/records/{manifest_id}/corrections", {"reason": "too late", "body": corrected})
    assert_problem(late, 409, "record-withdrawn")


def test_retraction_covers_every_version(pa: Agency, co: Agency) -> None:
    flag = draft("criminal_network_flag", recipients=["CO"])
    flag_id = pa.submit(flag)
    pa.wait_delivered(flag_id, ("CO",))
    flag["body"]["subject_status"] = "convicted"
    correction_id = pa.issue(f"/v1/records/{flag_id}/corrections", {"reason": "convicted", "body": flag["body"]})
    pa.wait_delivered(correction_id, ("CO",))

    retraction_id = pa.issue(f"/v1/records/{flag_id}/retractions", {"reason": "acquitted"})
    pa.wait_delivered(retraction_id, ("CO",))
    for record_id in (flag_id, correction_id):
        for holder in (pa, co):
            detail = holder.record(record_id)
            assert (detail["body"], detail["lifecycle"]["retracted_by"]) == (None, retraction_id)
    wait_for(lambda: pa.holder(flag_id, "CO")["state"] == "retracted")


@pytest.mark.parametrize("retracted", ["original", "correction"])
def test_instructions_arriving_before_the_record_apply_on_arrival(
    retracted: str, pki: TestPKI, cluster: Cluster, co: Agency, tmp_path: Path
) -> None:
    """Deliveries may overtake each other: what was retracted is withdrawn whenever it arrives."""
    flag = draft("criminal_network_flag", recipients=["CO"])
    original = signed_record(pki, "PA", {**flag, "terms": terms_ref(cluster)})
    correction = signed_record(
        pki,
        "PA",
        instruction(
            original,
            "correction",
            {
                "corrected_jws_sha256": original.jws_sha256,
                "reason": "convicted",
                "replacement": {
                    "record_type": "criminal_network_flag",
                    "body": {**flag["body"], "subject_status": "convicted"},
                },
            },
        ),
    )
    named = original if retracted == "original" else correction  # a retraction may name any version
    retraction = signed_record(
        pki,
        "PA",
        instruction(
            original,
            "retraction",
            {
                "retracted_record_id": str(named.record.record_id),
                "retracted_jws_sha256": named.jws_sha256,
                "reason": "wrong_person",
            },
        ),
    )
    line = PartnerLine(pki, "PA", cluster["CO"], tmp_path)
    retraction_id = str(retraction.record.record_id)
    for signed in (retraction, correction, original):  # the reverse of the order they were issued in
        receipt = line.post_record(signed.jws)
        assert (receipt.verdict, receipt.reason_code) == (Verdict.ACCEPTED, None)
        detail = co.record(str(signed.record.record_id))
        if signed is not retraction:
            assert (detail["body"], detail["lifecycle"]["retracted_by"]) == (None, retraction_id)
            assert detail["lifecycle"]["body_deleted_reason"] == "retraction"
    assert co.record(str(original.record.record_id))["lifecycle"]["superseded_by"] == str(correction.record.record_id)
