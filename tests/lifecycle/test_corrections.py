"""Corrections: the originator's signed replacement reaches every holder, is applied and acknowledged."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from tests.lifecycle.agencies import Agency, assert_problem, draft
from tests.support.nodes import wait_for


def applied_by(pa: Agency, record_id: str, party: str, instruction_id: str) -> bool:
    """True once ``party`` acknowledged applying ``instruction_id`` to PA's record ``record_id``."""
    row = pa.holder(record_id, party)
    versions = {v["record_id"]: v for v in row["versions"]}
    application = versions[instruction_id]["application"]
    return application is not None and application["outcome"] == "applied"


def test_correction_reaches_every_recipient_is_applied_and_acknowledged(pa: Agency, co: Agency, us: Agency) -> None:
    manifest = draft("removal_manifest")
    old_id = pa.submit(manifest)
    pa.wait_delivered(old_id, ("CO", "US"))

    corrected = copy.deepcopy(manifest["body"])
    corrected["escorts_count"] = 20
    corrected["people"] = corrected["people"][:33]  # P34 was not on the flight
    correction_id = pa.issue(
        f"/v1/records/{old_id}/corrections", {"reason": "P34 stayed behind; two more escorts", "body": corrected}
    )

    own = pa.record(correction_id)
    assert own["record_type"] == "correction"
    assert own["envelope"]["supersedes"] == old_id
    assert own["recipients"] == ["CO", "US"]
    assert own["lifecycle"]["refers_to"] == old_id
    assert own["body"]["corrected_jws_sha256"] == pa.record(old_id)["jws_sha256"]
    assert own["body"]["replacement"]["record_type"] == "removal_manifest"
    assert pa.record(old_id)["lifecycle"]["superseded_by"] == correction_id
    pa.wait_delivered(correction_id, ("CO", "US"))

    for holder in (co, us):
        old = holder.record(old_id)
        assert old["lifecycle"]["superseded_by"] == correction_id
        assert old["body"] is not None  # superseded, not withdrawn
        stored = holder.record(correction_id)
        assert stored["direction"] == "in"
        assert stored["verification"]["result"] == "valid"
        assert stored["flight_number"] == "IST4501"
        assert stored["body"]["replacement"]["body"]["escorts_count"] == 20
        assert len(stored["body"]["replacement"]["body"]["people"]) == 33

    wait_for(lambda: all(applied_by(pa, old_id, party, correction_id) for party in ("CO", "US")))
    view = pa.dissemination(old_id)
    assert view["current_version"] == correction_id
    assert view["retracted_by"] is None
    for row in view["holders"]:
        assert row["party"] in {"CO", "US"}
        assert (row["route"], row["holds"], row["state"], row["lagging"]) == (
            {"route": "direct"},
            correction_id,
            "current",
            False,
        )
        versions = {v["record_id"]: v for v in row["versions"]}
        assert versions[old_id]["delivery"] == "delivered"
        assert versions[correction_id]["delivery"] == "delivered"
        acknowledgement = pa.record(versions[correction_id]["application"]["acknowledgement_id"])
        assert acknowledgement["record_type"] == "application_acknowledgement"
        assert acknowledgement["originator_party"] == row["party"]
        assert acknowledgement["verification"]["result"] == "valid"
        assert acknowledgement["body"]["instruction_record_id"] == correction_id
        assert acknowledgement["body"]["instruction_jws_sha256"] == own["jws_sha256"]
        assert (acknowledgement["body"]["outcome"], acknowledgement["body"]["body_deleted"]) == ("applied", False)

    # The old version is corrected once; the next correction corrects the latest version.
    again = pa.post(f"/v1/records/{old_id}/corrections", {"reason": "again", "body": corrected})
    assert_problem(again, 409, "already-superseded")
    corrected["escorts_count"] = 21
    second_id = pa.issue(f"/v1/records/{correction_id}/corrections", {"reason": "one more escort", "body": corrected})
    pa.wait_delivered(second_id, ("CO", "US"))
    for holder in (co, us):
        assert holder.record(correction_id)["lifecycle"]["superseded_by"] == second_id
    wait_for(lambda: all(applied_by(pa, old_id, party, second_id) for party in ("CO", "US")))
    assert pa.dissemination(old_id)["current_version"] == second_id
    assert {row["state"] for row in pa.dissemination(old_id)["holders"]} == {"current"}


def flag_body(**subject: Any) -> dict[str, Any]:
    body: dict[str, Any] = draft("criminal_network_flag")["body"]
    body["subject"].update(subject)
    return body


def test_correction_of_a_flag_to_the_us_is_stripped_like_the_original(pa: Agency, co: Agency, us: Agency) -> None:
    flag_id = pa.submit(draft("criminal_network_flag"))
    pa.wait_delivered(flag_id, ("CO", "US"))
    assert us.record(flag_id)["body"]["subject"]["travel_document"] is None  # stripped before signing

    corrected = flag_body(given_names="Róbinson Alberto")
    assert corrected["subject"]["travel_document"]["number"] == "CPTY-ETD-2030-0010"
    correction_id = pa.issue(f"/v1/records/{flag_id}/corrections", {"reason": "full given names", "body": corrected})
    pa.wait_delivered(correction_id, ("CO", "US"))

    replacement = us.record(correction_id)["body"]["replacement"]
    assert replacement["record_type"] == "criminal_network_flag"
    assert replacement["body"]["subject"]["given_names"] == "Róbinson Alberto"
    assert replacement["body"]["subject"]["travel_document"] is None
    assert us.record(flag_id)["lifecycle"]["superseded_by"] == correction_id
    # One signed record for both recipients: what the US may not see, nobody gets.
    assert pa.record(correction_id)["body"]["replacement"]["body"]["subject"]["travel_document"] is None


def test_correction_about_a_minor_is_refused(pa: Agency) -> None:
    flag_id = pa.submit(draft("criminal_network_flag"))
    minor = flag_body(date_of_birth="2010-01-01")
    response = pa.post(f"/v1/records/{flag_id}/corrections", {"reason": "date of birth", "body": minor})
    problem = assert_problem(response, 422, "schema-violation")
    assert "under 18" in problem["detail"]
    own = pa.record(flag_id)
    assert own["lifecycle"]["superseded_by"] is None


def test_correction_to_a_shorter_retention_shortens_the_expiry(pa: Agency, co: Agency) -> None:
    flag = draft("criminal_network_flag", recipients=["CO"])  # charged: kept up to 1095 days
    flag_id = pa.submit(flag)
    original = pa.record(flag_id)
    suspect = {**flag["body"], "subject_status": "suspect"}  # a suspect's flag: 365 days at most
    correction_id = pa.issue(f"/v1/records/{flag_id}/corrections", {"reason": "charges dropped", "body": suspect})

    envelope = pa.record(correction_id)["envelope"]
    shared_on = datetime.fromisoformat(original["created_at"])
    assert datetime.fromisoformat(envelope["expires_at"]) == shared_on + timedelta(days=365)
    assert datetime.fromisoformat(envelope["review_due"]) <= datetime.fromisoformat(envelope["expires_at"])
    pa.wait_delivered(correction_id, ("CO",))
    assert co.record(flag_id)["lifecycle"]["superseded_by"] == correction_id


def test_correction_must_replace_with_the_same_type(pa: Agency) -> None:
    flag_id = pa.submit(draft("criminal_network_flag"))
    manifest_body = draft("removal_manifest")["body"]
    response = pa.post(f"/v1/records/{flag_id}/corrections", {"reason": "wrong body", "body": manifest_body})
    assert_problem(response, 422, "schema-violation")
    assert pa.record(flag_id)["lifecycle"]["superseded_by"] is None
