"""Onward sharing: a recipient passes a record on only with the originator's signed consent, never H3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.records.schemas import Verdict
from gateway.records.signing import SignedRecord, rfc3339
from tests.lifecycle.agencies import Agency, PartnerLine, assert_problem, co_flag, instruction, terms_ref
from tests.support.exchange import signed_record
from tests.support.nodes import Cluster, wait_for
from tests.support.pki import TestPKI

ASK = {"third_party": "US", "purpose": "criminal_network_disruption", "justification": "subject entered the US"}


def received_by_pa(pa: Agency, co: Agency, **changes: Any) -> str:
    """A CO flag that reached PA (and only PA); returns its id."""
    flag_id = co.submit(co_flag(**changes))
    co.wait_delivered(flag_id, ("PA",))
    return flag_id


def ask(pa: Agency, co: Agency, flag_id: str) -> str:
    """PA asks CO to share ``flag_id`` with the US; returns the request id once CO holds it."""
    request_id = pa.issue(f"/v1/records/{flag_id}/onward-requests", ASK)
    co.wait_holds(request_id)
    return request_id


def answer(co: Agency, pa: Agency, request_id: str, decision: dict[str, str]) -> str:
    """CO answers PA's request; returns the consent id once PA holds it."""
    consent_id = co.issue(f"/v1/records/{request_id}/consent", decision)
    pa.wait_holds(consent_id)
    return consent_id


def test_forwarded_with_consent_only(pa: Agency, co: Agency, us: Agency) -> None:
    flag_id = received_by_pa(pa, co)
    request_id = ask(pa, co, flag_id)
    request = co.record(request_id)
    assert request["record_type"] == "onward_sharing_request"
    assert (request["originator_party"], request["lifecycle"]["refers_to"]) == ("PA", flag_id)
    assert request["body"]["third_party"] == "US"

    early = pa.post(f"/v1/records/{flag_id}/onward", {"third_party": "US"})
    assert_problem(early, 403, "onward-consent-missing")
    assert not us.holds(flag_id)

    consent_id = answer(co, pa, request_id, {"decision": "granted"})
    consent = pa.record(consent_id)["body"]
    assert consent["decision"] == "granted"
    assert (consent["requester"], consent["third_party"], consent["consented_record_id"]) == ("PA", "US", flag_id)
    assert consent["consented_jws_sha256"] == pa.record(flag_id)["jws_sha256"]
    assert co.record(request_id)["status"] == "answered"
    # Only records about people go onward, not the notices about them.
    assert_problem(pa.post(f"/v1/records/{consent_id}/onward-requests", ASK), 409, "wrong-record-type")

    forwarded = pa.post(f"/v1/records/{flag_id}/onward", {"third_party": "US"})
    assert forwarded.status_code == 202, forwarded.text
    assert forwarded.json()["delivery"]["recipient"] == "US"
    pa.wait_delivered(flag_id, ("US",))
    delivery = next(d for d in pa.record(flag_id)["deliveries"] if d["recipient"] == "US")
    assert (delivery["receipt"]["verdict"], delivery["receipt"]["reason_code"]) == ("accepted", None)

    at_us = us.record(flag_id)
    assert at_us["verification"]["result"] == "valid"
    assert (at_us["originator_party"], at_us["peer_party"]) == ("CO", "PA")
    assert at_us["lifecycle"]["received_via"] == "onward"
    assert at_us["jws_sha256"] == co.record(flag_id)["jws_sha256"]  # the originator's own bytes
    again = pa.post(f"/v1/records/{flag_id}/onward", {"third_party": "US"})
    assert again.status_code == 202, again.text
    assert again.json()["delivery"]["delivery_id"] == forwarded.json()["delivery"]["delivery_id"]

    view = co.dissemination(flag_id)
    routes = {row["party"]: row["route"] for row in view["holders"]}
    assert routes == {"PA": {"route": "direct"}, "US": {"route": "onward", "via": "PA", "consent": consent_id}}

    # The originator's later correction reaches the third party too.
    body = co.record(flag_id)["body"]
    correction_id = co.issue(
        f"/v1/records/{flag_id}/corrections", {"reason": "convicted", "body": {**body, "subject_status": "convicted"}}
    )
    assert co.record(correction_id)["recipients"] == ["PA", "US"]
    co.wait_delivered(correction_id, ("PA", "US"))
    for holder in (pa, us):
        assert holder.record(flag_id)["lifecycle"]["superseded_by"] == correction_id
        assert holder.record(correction_id)["body"]["replacement"]["body"]["subject_status"] == "convicted"
    wait_for(lambda: {row["state"] for row in co.dissemination(flag_id)["holders"]} == {"current"})
    us_row = co.holder(flag_id, "US")
    assert us_row["holds"] == correction_id
    assert us_row["route"]["route"] == "onward"


def application_of(originator: Agency, record_id: str, party: str, instruction_id: str) -> dict[str, Any] | None:
    versions = {v["record_id"]: v for v in originator.holder(record_id, party)["versions"]}
    application: dict[str, Any] | None = versions[instruction_id]["application"]
    return application


def test_consented_party_that_got_only_the_correction_deletes_it_on_retraction(
    pa: Agency, co: Agency, us: Agency
) -> None:
    flag_id = received_by_pa(pa, co)
    answer(co, pa, ask(pa, co, flag_id), {"decision": "granted"})
    # PA never forwards; the originator's correction still goes to every party it let have the record.
    body = co.record(flag_id)["body"]
    correction_id = co.issue(
        f"/v1/records/{flag_id}/corrections", {"reason": "alias", "body": {**body, "aliases": ["El Baquiano", "Robin"]}}
    )
    co.wait_delivered(correction_id, ("PA", "US"))
    assert not us.holds(flag_id)
    assert us.record(correction_id)["body"]["replacement"]["body"]["aliases"] == ["El Baquiano", "Robin"]
    wait_for(lambda: application_of(co, flag_id, "US", correction_id) is not None)
    assert (application_of(co, flag_id, "US", correction_id) or {}).get("outcome") == "not_held"

    retraction_id = co.issue(f"/v1/records/{flag_id}/retractions", {"reason": "wrong_person"})
    co.wait_delivered(retraction_id, ("PA", "US"))
    withdrawn = us.record(correction_id)
    assert (withdrawn["body"], withdrawn["lifecycle"]["retracted_by"]) == (None, retraction_id)
    assert withdrawn["lifecycle"]["body_deleted_reason"] == "retraction"
    wait_for(lambda: co.holder(flag_id, "US")["state"] == "retracted")
    application = application_of(co, flag_id, "US", retraction_id)
    assert application is not None
    assert application["outcome"] == "applied"
    assert co.record(application["acknowledgement_id"])["body"]["body_deleted"] is True


def test_refused_consent_keeps_the_record_from_the_third_party(pa: Agency, co: Agency, us: Agency) -> None:
    flag_id = received_by_pa(pa, co)
    request_id = ask(pa, co, flag_id)
    consent_id = answer(co, pa, request_id, {"decision": "refused", "comment": "ongoing operation"})
    assert pa.record(consent_id)["body"]["decision"] == "refused"

    response = pa.post(f"/v1/records/{flag_id}/onward", {"third_party": "US"})
    assert_problem(response, 403, "onward-consent-missing")
    assert [d["recipient"] for d in pa.record(flag_id)["deliveries"]] == []
    assert not us.holds(flag_id)
    assert [row["party"] for row in co.dissemination(flag_id)["holders"]] == ["PA"]


def test_refusal_needs_a_reason(pa: Agency, co: Agency) -> None:
    request_id = ask(pa, co, received_by_pa(pa, co))
    assert_problem(co.post(f"/v1/records/{request_id}/consent", {"decision": "refused"}), 422, "schema-violation")


def test_h3_is_never_shared_onward(pa: Agency, co: Agency) -> None:
    flag_id = received_by_pa(pa, co, handling="H3")
    response = pa.post(f"/v1/records/{flag_id}/onward-requests", ASK)
    assert_problem(response, 403, "onward-sharing-forbidden")
    assert_problem(pa.post(f"/v1/records/{flag_id}/onward", {"third_party": "US"}), 403, "onward-sharing-forbidden")


def test_only_the_originator_answers_and_only_recipients_ask(pa: Agency, co: Agency) -> None:
    flag_id = received_by_pa(pa, co)
    # CO is the originator: it has nothing to ask; PA did not receive the request it sent.
    assert_problem(co.post(f"/v1/records/{flag_id}/onward-requests", ASK), 404, "record-not-held")
    request_id = pa.issue(f"/v1/records/{flag_id}/onward-requests", ASK)
    assert_problem(pa.post(f"/v1/records/{request_id}/consent", {"decision": "granted"}), 404, "record-not-held")
    # A request to share with a party that already holds the record makes no sense.
    already = pa.post(f"/v1/records/{flag_id}/onward-requests", {**ASK, "third_party": "CO"})
    assert_problem(already, 400, "invalid-input")


# -- a forwarder posting to the third party directly ------------------------------------------


def consent_document(flag: SignedRecord, **body: Any) -> dict[str, Any]:
    """An onward_sharing_consent from CO letting PA pass ``flag`` (a SignedRecord) to the US."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "request_record_id": "0190f2a0-0000-7000-8000-000000000001",
        "consented_record_id": str(flag.record.record_id),
        "consented_jws_sha256": flag.jws_sha256,
        "requester": "PA",
        "third_party": "US",
        "decision": "granted",
    }
    values.update(body)
    return {
        "record_type": "onward_sharing_consent",
        "originator": {"party": "CO", "agency": "Migración Colombia", "officer_ref": "MC-OF-0031"},
        "recipients": ["PA"],
        "purpose": "criminal_network_disruption",
        "legal_basis": "MOU PA-CO-US art. 6",
        "handling": flag.record.handling.value,
        "terms": flag.record.terms.model_dump(mode="json"),
        "expires_at": rfc3339(now + timedelta(days=30)),
        "review_due": rfc3339(now + timedelta(days=30)),
        "body": values,
    }


def co_signed_flag(pki: TestPKI, cluster: Cluster, **changes: Any) -> SignedRecord:
    """A flag signed with CO's key (to PA unless ``changes`` say otherwise), never sent by CO."""
    return signed_record(pki, "CO", {**co_flag(**changes), "terms": terms_ref(cluster)})


@pytest.mark.parametrize(
    ("case", "signer", "changes", "flag_changes", "reason_code"),
    [
        ("consent matches", "CO", {}, {}, None),
        ("signed by the forwarder", "PA", {}, {}, "onward_not_consented"),
        ("for another third party", "CO", {"third_party": "CO"}, {}, "onward_not_consented"),
        ("given to another requester", "CO", {"requester": "US", "third_party": "PA"}, {}, "onward_not_consented"),
        ("for other bytes", "CO", {"consented_jws_sha256": "0" * 64}, {}, "onward_not_consented"),
        ("refused", "CO", {"decision": "refused", "comment": "no"}, {}, "onward_not_consented"),
        ("handling H3", "CO", {}, {"handling": "H3"}, "onward_sharing_forbidden"),
    ],
)
def test_forwarded_record_needs_the_originators_consent(
    case: str,
    signer: str,
    changes: dict[str, Any],
    flag_changes: dict[str, Any],
    reason_code: str | None,
    pki: TestPKI,
    cluster: Cluster,
    pa: Agency,
    us: Agency,
    tmp_path: Path,
) -> None:
    flag = co_signed_flag(pki, cluster, **flag_changes)
    consent = consent_document(flag, **changes)
    if signer == "PA":
        consent["originator"] = {"party": "PA", "agency": "Servicio Nacional de Migración", "officer_ref": "SNM-1"}
        consent["recipients"] = ["CO"]
    consent_jws = signed_record(pki, signer, consent).jws

    receipt = PartnerLine(pki, "PA", cluster["US"], tmp_path).post_onward(flag.jws, consent_jws)
    assert (receipt.sender, receipt.receiver) == ("PA", "US")
    if reason_code is None:
        assert (receipt.verdict, receipt.reason_code) == (Verdict.ACCEPTED, None)
        assert us.record(str(flag.record.record_id))["lifecycle"]["received_via"] == "onward"
    else:
        assert (receipt.verdict, receipt.reason_code) == (Verdict.REJECTED, reason_code), case
        assert not us.holds(str(flag.record.record_id))


def test_the_originator_does_not_forward_its_own_record(pki: TestPKI, cluster: Cluster, tmp_path: Path) -> None:
    flag = co_signed_flag(pki, cluster, recipients=["US"])
    consent_jws = signed_record(pki, "CO", consent_document(flag, requester="CO")).jws
    receipt = PartnerLine(pki, "CO", cluster["US"], tmp_path).post_onward(flag.jws, consent_jws)
    assert (receipt.verdict, receipt.reason_code) == (Verdict.REJECTED, "not_onward")


def test_notices_are_not_forwarded(pki: TestPKI, cluster: Cluster, tmp_path: Path) -> None:
    flag = co_signed_flag(pki, cluster)
    retraction = signed_record(
        pki,
        "CO",
        instruction(
            flag,
            "retraction",
            {
                "retracted_record_id": str(flag.record.record_id),
                "retracted_jws_sha256": flag.jws_sha256,
                "reason": "wrong_person",
            },
        ),
    )
    consent = consent_document(flag, consented_record_id=str(retraction.record.record_id))
    consent["body"]["consented_jws_sha256"] = retraction.jws_sha256
    receipt = PartnerLine(pki, "PA", cluster["US"], tmp_path).post_onward(
        retraction.jws, signed_record(pki, "CO", consent).jws
    )
    assert (receipt.verdict, receipt.reason_code) == (Verdict.REJECTED, "onward_sharing_forbidden")
