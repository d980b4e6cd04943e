"""The record models reject what cannot be true, each rule with its own message.

Every case starts from a committed example (which is valid, see
``test_baseline_is_valid``), changes one thing and expects the named rule to fire.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.records.schemas import Record, parse_record
from gateway.records.signing import complete_draft

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
RECORD_ID = "01ba3c31-f739-79c4-9a2b-3c4d5e6f7081"  # a valid UUIDv7
TYPES = ("criminal_network_flag", "removal_manifest", "removal_confirmation", "acknowledgement")


def completed(record_type: str) -> dict[str, Any]:
    """Return the example of ``record_type`` completed at NOW with a fixed record_id."""
    draft = json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8"))
    return complete_draft({**draft, "record_id": RECORD_ID}, NOW)


def with_value(document: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """Return a copy of ``document`` with the dotted ``path`` set to ``value``."""
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    node: Any = changed
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return changed


def without(document: dict[str, Any], path: str) -> dict[str, Any]:
    """Return a copy of ``document`` without the key at the dotted ``path``."""
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    node: Any = changed
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    del node[last]
    return changed


def rejected(document: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_record(document)


@pytest.mark.parametrize("record_type", TYPES)
def test_baseline_is_valid(record_type: str) -> None:
    record: Record = parse_record(completed(record_type))
    assert record.record_type == record_type
    assert str(record.record_id) == RECORD_ID
    assert record.created_at == NOW


# -- chronology ----------------------------------------------------------------


def test_arrival_before_departure_is_rejected() -> None:
    document = with_value(completed("removal_manifest"), "body.flight.scheduled_arrival", "2026-12-12T12:59:00Z")
    rejected(document, r"body\.flight: .*scheduled_arrival must be after scheduled_departure")


def test_arrival_at_departure_time_is_rejected() -> None:
    document = with_value(completed("removal_manifest"), "body.flight.scheduled_arrival", "2026-12-12T13:00:00Z")
    rejected(document, "scheduled_arrival must be after scheduled_departure")


def test_flight_to_its_own_departure_airport_is_rejected() -> None:
    document = with_value(completed("removal_manifest"), "body.flight.destination_airport", "PTY")
    rejected(document, "destination_airport must differ from departure_airport")


def test_confirmed_arrival_before_departure_is_rejected() -> None:
    document = with_value(completed("removal_confirmation"), "body.actual_arrival", "2026-12-12T13:00:00Z")
    rejected(document, r"body: .*actual_arrival must be after actual_departure")


def test_handover_before_arrival_is_rejected() -> None:
    document = with_value(completed("removal_confirmation"), "body.handed_over_at", "2026-12-12T14:50:00Z")
    rejected(document, "handed_over_at cannot precede actual_arrival")


@pytest.mark.parametrize(
    "notified_at",
    ["2026-12-12T13:00:00Z", "2026-12-12T13:05:00Z", "2026-12-13T09:00:00Z"],
    ids=["at-departure", "after-departure", "next-day"],
)
def test_notified_at_or_after_departure_is_rejected(notified_at: str) -> None:
    document = with_value(completed("removal_manifest"), "body.people.5.notified_at", notified_at)
    rejected(document, r"SNM-OP0312-P06 must be notified before departure")


def test_person_born_after_departure_is_rejected() -> None:
    document = with_value(completed("removal_manifest"), "body.people.0.identity.date_of_birth", "2026-12-13")
    rejected(document, "date_of_birth lies in the future")


# -- flags about minors --------------------------------------------------------


def _eighteenth_birthday_today() -> date:
    return NOW.date().replace(year=NOW.year - 18)


def test_flag_about_a_person_under_18_is_rejected() -> None:
    born = _eighteenth_birthday_today() + timedelta(days=1)
    document = with_value(completed("criminal_network_flag"), "body.subject.date_of_birth", born.isoformat())
    rejected(document, "may not concern a person under 18")


def test_flag_about_a_person_turning_18_today_is_accepted() -> None:
    born = _eighteenth_birthday_today()
    document = with_value(completed("criminal_network_flag"), "body.subject.date_of_birth", born.isoformat())
    record = parse_record(document)
    assert record.body.subject.date_of_birth == born  # type: ignore[union-attr]


# -- closed vocabularies -------------------------------------------------------


@pytest.mark.parametrize(
    ("record_type", "path"),
    [
        ("criminal_network_flag", "body.offence_category"),
        ("removal_manifest", "body.people.0.offence_category"),
    ],
)
def test_unknown_offence_category_is_rejected(record_type: str, path: str) -> None:
    document = with_value(completed(record_type), path, "arms_trafficking")
    location = path.replace(".", r"\.")
    rejected(document, rf"{location}: Input should be 'drug_trafficking'")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("originator.party", "PAN"),
        ("recipients", ["CO", "ve"]),
        ("recipients", ["pa"]),
        ("recipients", ["C0"]),
    ],
)
def test_a_code_not_shaped_like_a_party_is_rejected(path: str, value: object) -> None:
    document = with_value(completed("removal_manifest"), path, value)
    rejected(document, r"String should match pattern '\^\[A-Z\]\{2\}\$'")


@pytest.mark.parametrize(("path", "value"), [("originator.party", "CR"), ("recipients", ["CO", "CR"])])
def test_the_schema_leaves_which_parties_exist_to_the_trust_bundle(path: str, value: object) -> None:
    # A fourth party needs no new schema: the node refuses unknown parties at run time (unknown-party).
    record = parse_record(with_value(completed("removal_manifest"), path, value))
    assert "CR" in {record.originator.party, *record.recipients}


@pytest.mark.parametrize(
    ("record_type", "path"),
    [
        ("removal_manifest", "religion"),
        ("removal_manifest", "originator.email"),
        ("removal_manifest", "terms.url"),
        ("removal_manifest", "body.notes"),
        ("removal_manifest", "body.flight.tail_number"),
        ("removal_manifest", "body.people.3.phone"),
        ("removal_manifest", "body.people.3.identity.eye_colour"),
        ("removal_manifest", "body.people.3.identity.travel_document.mrz"),
        ("criminal_network_flag", "body.subject.ethnicity"),
        ("removal_confirmation", "body.people.0.health_notes"),
        ("removal_confirmation", "body.handed_over_to.phone"),
        ("removal_confirmation", "body.escorts.0.names"),
        ("removal_confirmation", "body.incidents.0.photo"),
        ("acknowledgement", "body.signature"),
    ],
)
def test_extra_field_anywhere_is_rejected(record_type: str, path: str) -> None:
    document = with_value(completed(record_type), path, "x")
    location = path.replace(".", r"\.")
    rejected(document, rf"{location}: Extra inputs are not permitted")


def test_unknown_record_type_is_rejected() -> None:
    document = with_value(completed("acknowledgement"), "record_type", "hit_report")
    rejected(document, "does not match any of the expected tags")


# -- envelope --------------------------------------------------------------------


def test_originator_among_recipients_is_rejected() -> None:
    document = with_value(completed("removal_manifest"), "recipients", ["CO", "PA"])
    rejected(document, "the originator cannot be a recipient of its own record")


def test_duplicate_recipients_are_rejected() -> None:
    document = with_value(completed("removal_manifest"), "recipients", ["CO", "CO"])
    rejected(document, "recipients must not repeat")


@pytest.mark.parametrize(
    ("record_id", "match"),
    [
        ("6f1c1f0e-8a52-4d5c-9b7e-0c1d2e3f4a5b", "record_id must be a UUIDv7"),  # v4
        ("1ef0c8a2-4b3d-11ef-9a2b-3c4d5e6f7081", "record_id must be a UUIDv7"),  # v1
        ("not-a-uuid", r"record_id: Input should be a valid UUID"),
    ],
    ids=["uuid4", "uuid1", "garbage"],
)
def test_non_uuid7_record_id_is_rejected(record_id: str, match: str) -> None:
    rejected(with_value(completed("acknowledgement"), "record_id", record_id), match)


def test_record_superseding_itself_is_rejected() -> None:
    document = with_value(completed("acknowledgement"), "supersedes", RECORD_ID)
    rejected(document, "a record cannot supersede itself")


@pytest.mark.parametrize(
    ("record_type", "path", "value"),
    [
        ("acknowledgement", "created_at", "2027-01-15T12:00:00"),
        ("acknowledgement", "created_at", "2027-01-15T07:00:00-05:00"),
        ("acknowledgement", "expires_at", "2028-06-30T01:00:00+01:00"),
        ("removal_manifest", "body.flight.scheduled_departure", "2026-12-12T08:00:00-05:00"),
        ("removal_manifest", "body.people.0.notified_at", "2026-12-10T13:45:00"),
        ("removal_confirmation", "body.handed_over_at", "2026-12-12T10:32:00-05:00"),
    ],
    ids=["naive", "panama-offset", "cet-offset", "flight-offset", "notified-naive", "handover"],
)
def test_naive_or_non_utc_timestamp_is_rejected(record_type: str, path: str, value: str) -> None:
    document = with_value(completed(record_type), path, value)
    location = path.replace(".", r"\.")
    rejected(document, rf"{location}: Value error, timestamps must be RFC 3339 in UTC")


def test_utc_offset_spelled_plus_zero_is_accepted() -> None:
    document = with_value(completed("acknowledgement"), "created_at", "2027-01-15T12:00:00+00:00")
    assert parse_record(document).created_at == NOW


@pytest.mark.parametrize(
    ("review_due", "ok"),
    [
        ("2027-01-15T11:59:59Z", False),  # before created_at
        ("2027-01-15T12:00:00Z", True),  # == created_at
        ("2028-06-30T00:00:00Z", True),  # == expires_at
        ("2028-06-30T00:00:01Z", False),  # after expires_at
    ],
)
def test_review_due_must_lie_between_created_and_expiry(review_due: str, ok: bool) -> None:
    document = with_value(completed("acknowledgement"), "review_due", review_due)
    if ok:
        assert parse_record(document).review_due.isoformat().startswith(review_due[:19])
    else:
        rejected(document, "review_due must lie between created_at and expires_at")


def test_expiry_before_creation_is_rejected() -> None:
    document = with_value(completed("acknowledgement"), "expires_at", "2027-01-15T12:00:00Z")
    rejected(document, "expires_at must be after created_at")


# -- people ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record_type", "match"),
    [
        ("removal_manifest", "person_ref values must be unique within a manifest"),
        ("removal_confirmation", "person_ref values must be unique within a confirmation"),
    ],
)
def test_duplicate_person_ref_is_rejected(record_type: str, match: str) -> None:
    document = completed(record_type)
    first_ref = document["body"]["people"][0]["person_ref"]
    rejected(with_value(document, "body.people.1.person_ref", first_ref), match)


def test_serious_crime_without_offence_category_is_rejected() -> None:
    document = completed("removal_manifest")
    assert document["body"]["people"][0]["grounds_category"] == "serious_crime"
    rejected(
        without(document, "body.people.0.offence_category"),
        r"people\.0: .*a serious_crime case needs its offence_category",
    )


def test_immigration_violation_with_offence_category_is_rejected() -> None:
    document = completed("removal_manifest")
    assert document["body"]["people"][-1]["grounds_category"] == "immigration_violation"
    rejected(
        with_value(document, "body.people.33.offence_category", "drug_trafficking"),
        "an immigration_violation case carries no offence_category",
    )


def test_not_handed_over_without_reason_is_rejected() -> None:
    document = completed("removal_confirmation")
    index = next(i for i, p in enumerate(document["body"]["people"]) if p["status"] == "not_boarded")
    rejected(
        without(document, f"body.people.{index}.reason"),
        "a reason is required when not handed over",
    )


# -- acknowledgements ------------------------------------------------------------


@pytest.mark.parametrize("decision", ["query", "reject"])
def test_query_or_reject_without_comment_is_rejected(decision: str) -> None:
    document = without(with_value(completed("acknowledgement"), "body.decision", decision), "body.comment")
    rejected(document, "a query or reject needs a comment")


def test_query_with_comment_is_accepted() -> None:
    document = with_value(completed("acknowledgement"), "body.decision", "query")
    assert parse_record(document).body.decision == "query"  # type: ignore[union-attr]


def test_acknowledged_digest_must_be_lowercase_sha256_hex() -> None:
    document = with_value(completed("acknowledgement"), "body.acknowledged_jws_sha256", "AB" * 32)
    rejected(document, r"acknowledged_jws_sha256: String should match pattern")
