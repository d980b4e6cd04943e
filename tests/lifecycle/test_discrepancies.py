"""Discrepancy reports: a recipient contests a record until the originator answers."""

from __future__ import annotations

import copy

from tests.lifecycle.agencies import Agency, assert_problem, co_flag, draft
from tests.support.nodes import wait_for

REPORT = {"category": "person_not_on_flight", "person_ref": "SNM-OP0312-P07", "details": "P07 did not board"}


def test_contested_until_the_originator_answers(pa: Agency, co: Agency, us: Agency) -> None:
    manifest_id = pa.submit(draft("removal_manifest"))
    pa.wait_delivered(manifest_id, ("CO", "US"))

    report_id = co.issue(f"/v1/records/{manifest_id}/discrepancies", REPORT)
    assert co.record(manifest_id)["lifecycle"]["contested_by"] == report_id
    report = pa.wait_holds(report_id)
    assert report["record_type"] == "discrepancy_report"
    assert report["body"]["category"] == "person_not_on_flight"
    assert report["body"]["person_ref"] == "SNM-OP0312-P07"
    wait_for(lambda: pa.record(manifest_id)["lifecycle"]["contested_by"] == report_id)
    assert pa.dissemination(manifest_id)["contested_by"] == report_id
    assert us.record(manifest_id)["lifecycle"]["contested_by"] is None  # only the reporter contests

    response_id = pa.issue(
        f"/v1/records/{report_id}/discrepancy-response",
        {"outcome": "confirmed_correct", "comment": "P07 boarded; see the boarding log"},
    )
    assert pa.record(manifest_id)["lifecycle"]["contested_by"] is None
    answer = co.wait_holds(response_id)
    assert answer["body"]["outcome"] == "confirmed_correct"
    assert answer["body"]["report_record_id"] == report_id
    wait_for(lambda: co.record(manifest_id)["lifecycle"]["contested_by"] is None)
    assert co.record(manifest_id)["body"] is not None


def test_answered_with_a_correction(pa: Agency, co: Agency) -> None:
    manifest = draft("removal_manifest", recipients=["CO"])
    manifest_id = pa.submit(manifest)
    pa.wait_delivered(manifest_id, ("CO",))
    report_id = co.issue(f"/v1/records/{manifest_id}/discrepancies", REPORT)
    pa.wait_holds(report_id)

    missing = pa.post(
        f"/v1/records/{report_id}/discrepancy-response", {"outcome": "corrected", "comment": "fixed the list"}
    )
    assert_problem(missing, 422, "schema-violation")
    assert_problem(
        pa.post(
            f"/v1/records/{report_id}/discrepancy-response",
            {"outcome": "corrected", "follow_up_record_id": report_id, "comment": "fixed the list"},
        ),
        400,
        "invalid-input",
    )

    body = copy.deepcopy(manifest["body"])
    body["people"] = [p for p in body["people"] if p["person_ref"] != "SNM-OP0312-P07"]
    correction_id = pa.issue(f"/v1/records/{manifest_id}/corrections", {"reason": "P07 stayed", "body": body})
    response_id = pa.issue(
        f"/v1/records/{report_id}/discrepancy-response",
        {"outcome": "corrected", "follow_up_record_id": correction_id, "comment": "P07 removed"},
    )
    co.wait_holds(response_id)
    wait_for(lambda: co.record(manifest_id)["lifecycle"]["contested_by"] is None)
    assert co.record(manifest_id)["lifecycle"]["superseded_by"] == correction_id


def test_only_a_recipient_reports_and_only_the_originator_answers(pa: Agency, co: Agency) -> None:
    manifest_id = pa.submit(draft("removal_manifest", recipients=["CO"]))
    pa.wait_delivered(manifest_id, ("CO",))
    assert_problem(pa.post(f"/v1/records/{manifest_id}/discrepancies", REPORT), 404, "record-not-held")
    report_id = co.issue(f"/v1/records/{manifest_id}/discrepancies", REPORT)
    answer = {"outcome": "confirmed_correct", "comment": "answering my own report"}
    assert_problem(co.post(f"/v1/records/{report_id}/discrepancy-response", answer), 404, "record-not-held")
    pa.wait_holds(report_id)
    assert_problem(pa.post(f"/v1/records/{manifest_id}/discrepancy-response", answer), 404, "record-not-held")
    flag_id = co.submit(co_flag())  # received by PA, but no discrepancy report
    co.wait_delivered(flag_id, ("PA",))
    assert_problem(pa.post(f"/v1/records/{flag_id}/discrepancy-response", answer), 409, "wrong-record-type")
