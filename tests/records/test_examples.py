"""The committed examples (schemas/examples/) are valid drafts of the removal-flight scenario.

They validate with the pydantic models, with the exported JSON Schemas (an
independent validator, as a partner without this gateway would use), and sign
and verify with a throw-away three-party PKI.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as JsonSchemaValidationError

from gateway.records.schemas import (
    RECORD_CLASSES,
    CorrectionRecord,
    DeletionNoticeRecord,
    OnwardSharingConsentRecord,
    OnwardSharingRequestRecord,
    RecordType,
    RemovalConfirmationRecord,
    RemovalManifestRecord,
    record_json,
)
from gateway.records.signing import build_record, complete_draft, sign_record, verify_record
from gateway.terms.export import schema_documents
from gateway.trust.errors import PartyMismatchError
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.support.pki import make_test_pki

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
TYPES = [t.value for t in RecordType]


def load_example(record_type: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8"))
    return document


def now() -> datetime:
    # Fixed: the examples are drafts of a December 2026 flight; "now" would age them.
    return datetime(2026, 12, 1, tzinfo=UTC)


def signing_time() -> datetime:
    # The throw-away certificates are issued when the tests run: verify at that time, not at now().
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def records_pki(tmp_path_factory: pytest.TempPathFactory) -> ThreePartyPKI:
    # Own PKI: other tests revoke certificates in the shared session one.
    return make_test_pki(tmp_path_factory.mktemp("records-pki"))


def test_one_example_per_record_type() -> None:
    assert sorted(path.stem for path in EXAMPLES.glob("*.json")) == sorted(TYPES)


@pytest.mark.parametrize("record_type", TYPES)
def test_example_is_a_draft(record_type: str) -> None:
    draft = load_example(record_type)
    assert "record_id" not in draft
    assert "created_at" not in draft
    assert draft["record_type"] == record_type


@pytest.mark.parametrize("record_type", TYPES)
def test_example_validates_after_completion(record_type: str) -> None:
    record = build_record(load_example(record_type), now())
    assert type(record) is RECORD_CLASSES[RecordType(record_type)]
    assert record.record_id.version == 7


@pytest.mark.parametrize("record_type", TYPES)
def test_example_round_trips_through_json(record_type: str) -> None:
    record = build_record(load_example(record_type), now())
    assert build_record(record_json(record), now()) == record


@pytest.mark.parametrize("record_type", TYPES)
def test_example_validates_against_exported_json_schemas(record_type: str) -> None:
    documents = schema_documents()
    document = json.loads(json.dumps(complete_draft(load_example(record_type), now())))
    Draft202012Validator(documents[f"{record_type}.schema.json"]).validate(document)
    Draft202012Validator(documents["record.schema.json"]).validate(document)
    # The signed form (every optional field spelled out) validates too.
    signed_form = record_json(build_record(document, now()))
    Draft202012Validator(documents[f"{record_type}.schema.json"]).validate(signed_form)


@pytest.mark.parametrize("record_type", TYPES)
def test_json_schema_rejects_an_extra_field(record_type: str) -> None:
    document = complete_draft(load_example(record_type), now())
    document["body"] = {**document["body"], "notes": "not in the schema"}
    validator = Draft202012Validator(schema_documents()["record.schema.json"])
    with pytest.raises(JsonSchemaValidationError):
        validator.validate(document)
    with pytest.raises(JsonSchemaValidationError, match="'notes' was unexpected"):
        Draft202012Validator(schema_documents()[f"{record_type}.schema.json"]).validate(document)


def test_json_schema_rejects_a_record_without_record_id() -> None:
    document = load_example("acknowledgement")  # a draft is not yet a record
    validator = Draft202012Validator(schema_documents()["acknowledgement.schema.json"])
    with pytest.raises(JsonSchemaValidationError, match="'record_id' is a required property"):
        validator.validate(document)


# -- the scenario ----------------------------------------------------------------


def test_manifest_is_the_pty_to_mde_flight_of_34_colombians() -> None:
    record = build_record(load_example("removal_manifest"), now())
    assert isinstance(record, RemovalManifestRecord)
    assert record.originator.party == "PA"
    assert record.recipients == ["CO", "US"]
    flight = record.body.flight
    assert (flight.departure_airport, flight.destination_airport) == ("PTY", "MDE")
    people = record.body.people
    assert len(people) == 34
    assert {p.identity.nationality for p in people} == {"COL"}
    grounds = Counter(p.grounds_category.value for p in people)
    assert grounds == {"serious_crime": 18, "immigration_violation": 16}
    offences = {p.offence_category for p in people if p.grounds_category == "serious_crime"}
    assert {o.value for o in offences if o is not None} == {
        "drug_trafficking",
        "migrant_smuggling",
        "environmental_crime",
    }
    assert all(p.notified_at < flight.scheduled_departure for p in people)
    assert len({p.individual_assessment_ref for p in people}) == 34


def test_confirmation_accounts_for_everyone_on_the_manifest() -> None:
    manifest = build_record(load_example("removal_manifest"), now())
    confirmation = build_record(load_example("removal_confirmation"), now())
    acknowledgement = load_example("acknowledgement")
    assert isinstance(manifest, RemovalManifestRecord)
    assert isinstance(confirmation, RemovalConfirmationRecord)
    body = confirmation.body
    assert body.flight_number == manifest.body.flight.flight_number
    assert body.handover_airport == manifest.body.flight.destination_airport
    assert [p.person_ref for p in body.people] == [p.person_ref for p in manifest.body.people]
    assert Counter(p.status.value for p in body.people) == {"handed_over": 33, "not_boarded": 1}
    # The confirmation and the acknowledgement both point at the same manifest record.
    assert body.manifest_record_id.version == 7
    assert str(body.manifest_record_id) == acknowledgement["body"]["acknowledges_record_id"]


def test_flag_concerns_a_smuggler_named_on_the_manifest() -> None:
    flag = load_example("criminal_network_flag")
    manifest = load_example("removal_manifest")
    subjects = [p for p in manifest["body"]["people"] if p["identity"] == flag["body"]["subject"]]
    assert [p["offence_category"] for p in subjects] == ["migrant_smuggling"]


# -- the lifecycle of the flag ---------------------------------------------------
# CO reports the flag's case number as wrong; PA corrects the flag and answers the
# report; CO applies the correction; PA later retracts the flag after an acquittal.


def test_correction_is_a_corrected_copy_of_the_flag() -> None:
    flag = load_example("criminal_network_flag")
    correction = build_record(load_example("correction"), now())
    assert isinstance(correction, CorrectionRecord)
    assert correction.supersedes is not None
    replacement = correction.body.replacement
    assert replacement.record_type == "criminal_network_flag"
    corrected = replacement.body.model_dump(mode="json")
    changed = sorted(k for k in flag["body"] if corrected[k] != flag["body"][k])
    assert changed == ["decision_ref", "summary_of_facts"]
    assert corrected["subject"] == flag["body"]["subject"]  # the same person, travel document included
    # A correction keeps the corrected record's envelope: same recipients, purpose, handling, retention.
    for field in ("recipients", "purpose", "legal_basis", "handling", "expires_at", "review_due"):
        assert load_example("correction")[field] == flag[field], field


def test_lifecycle_examples_follow_one_flag() -> None:
    correction = load_example("correction")
    report = load_example("discrepancy_report")["body"]
    response = load_example("discrepancy_response")["body"]
    applied = load_example("application_acknowledgement")["body"]
    retraction = load_example("retraction")["body"]
    flag_id = correction["supersedes"]
    assert report["reported_record_id"] == response["reported_record_id"] == flag_id
    assert report["reported_jws_sha256"] == correction["body"]["corrected_jws_sha256"]
    # The correction's own id is filled in at signing; everything after it names the same one.
    correction_id = response["follow_up_record_id"]
    assert applied["instruction_record_id"] == retraction["retracted_record_id"] == correction_id
    assert applied["instruction_jws_sha256"] == retraction["retracted_jws_sha256"]
    assert (response["outcome"], applied["instruction_type"], applied["outcome"]) == (
        "corrected",
        "correction",
        "applied",
    )


def test_answers_go_back_to_whoever_asked() -> None:
    # Holder -> originator: reports, requests, acknowledgements and notices go to PA.
    for record_type in (
        "discrepancy_report",
        "onward_sharing_request",
        "application_acknowledgement",
        "deletion_notice",
    ):
        example = load_example(record_type)
        assert (example["originator"]["party"], example["recipients"]) == ("CO", ["PA"]), record_type
    # Originator -> holders: PA corrects and retracts for everyone, answers the one who asked.
    for record_type in ("correction", "retraction"):
        assert load_example(record_type)["recipients"] == ["CO", "US"], record_type
    for record_type in ("discrepancy_response", "onward_sharing_consent"):
        assert load_example(record_type)["recipients"] == ["CO"], record_type


def test_consent_answers_the_onward_request() -> None:
    request = build_record(load_example("onward_sharing_request"), now())
    consent = build_record(load_example("onward_sharing_consent"), now())
    assert isinstance(request, OnwardSharingRequestRecord)
    assert isinstance(consent, OnwardSharingConsentRecord)
    assert consent.body.consented_record_id == request.body.requested_record_id
    assert consent.body.consented_jws_sha256 == request.body.requested_jws_sha256
    assert (consent.body.requester, consent.body.third_party) == (request.originator.party, request.body.third_party)
    assert consent.body.decision == "granted"
    assert request.body.third_party not in (request.originator.party, *request.recipients)


def test_deletion_notice_reports_the_manifest_deleted_at_the_end_of_retention() -> None:
    manifest = build_record(load_example("removal_manifest"), now())
    notice = build_record(load_example("deletion_notice"), now())
    assert isinstance(notice, DeletionNoticeRecord)
    assert str(notice.body.deleted_record_id) == load_example("acknowledgement")["body"]["acknowledges_record_id"]
    assert notice.body.deleted_jws_sha256 == load_example("acknowledgement")["body"]["acknowledged_jws_sha256"]
    assert notice.body.ground == "retention_expired"
    assert manifest.expires_at <= notice.body.deleted_at < manifest.expires_at + timedelta(hours=1)


# -- signing ---------------------------------------------------------------------


@pytest.mark.parametrize("record_type", TYPES)
def test_example_signs_and_verifies(records_pki: ThreePartyPKI, record_type: str) -> None:
    record = build_record(load_example(record_type), now())
    party = record.originator.party
    signed = sign_record(record, records_pki.signing_key(party))

    verified = verify_record(signed.jws, records_pki.bundle(), signing_time())

    assert verified.payload == record
    assert verified.payload_bytes == signed.payload
    assert verified.signer_party == party
    assert verified.jws_sha256 == signed.jws_sha256
    assert verified.header["typ"] == "mou-record+jws"


@pytest.mark.parametrize("record_type", TYPES)
def test_example_signed_by_another_party_is_refused(records_pki: ThreePartyPKI, record_type: str) -> None:
    record = build_record(load_example(record_type), now())
    impostor = "US"  # no example originates from the US
    assert record.originator.party != impostor
    signed = sign_record(record, records_pki.signing_key(impostor))
    with pytest.raises(PartyMismatchError, match=f"claims party '{record.originator.party}'"):
        verify_record(signed.jws, records_pki.bundle(), signing_time())
