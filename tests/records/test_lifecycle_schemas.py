"""The lifecycle record types reject what cannot be true, each rule with its own message.

Every case starts from a committed example (schemas/examples/, valid: see
``test_baseline_is_valid``), changes one thing and expects the named rule to
fire in the pydantic models. Where JSON Schema can say it (closed objects,
enumerations, the correctable types), the exported schemas refuse it too, so a
partner validating without this gateway refuses it as well.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as JsonSchemaValidationError

from gateway.records.kinds import LIFECYCLE_TYPES
from gateway.records.schemas import CorrectionRecord, Record, parse_record
from gateway.records.signing import complete_draft
from gateway.terms.export import schema_documents

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
RECORD_ID = "01ba3c31-f739-79c4-9a2b-3c4d5e6f7081"  # a valid UUIDv7
TYPES = sorted(t.value for t in LIFECYCLE_TYPES)


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """The exported JSON Schemas by file name (built once: exporting takes a while)."""
    return schema_documents()


def example(record_type: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8"))
    return document


def completed(record_type: str) -> dict[str, Any]:
    """Return the example of ``record_type`` completed at NOW with a fixed record_id."""
    return complete_draft({**example(record_type), "record_id": RECORD_ID}, NOW)


def with_value(document: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """Return a copy of ``document`` with the dotted ``path`` set to ``value``."""
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    node: Any = changed
    for part in parents:
        node = node[part]
    node[last] = value
    return changed


def without(document: dict[str, Any], path: str) -> dict[str, Any]:
    """Return a copy of ``document`` without the key at the dotted ``path``."""
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    node: Any = changed
    for part in parents:
        node = node[part]
    del node[last]
    return changed


def rejected(document: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_record(document)


def _messages(errors: Iterator[JsonSchemaValidationError]) -> Iterator[str]:
    for error in errors:
        yield error.message
        yield from _messages(iter(error.context or []))


def schema_refuses(document: dict[str, Any], expected: str) -> None:
    """Assert both exported schemas (the type's and the envelope's) refuse ``document``, one saying ``expected``."""
    documents = schemas()
    for name in (f"{document['record_type']}.schema.json", "record.schema.json"):
        validator = Draft202012Validator(documents[name])
        with pytest.raises(JsonSchemaValidationError):
            validator.validate(document)
        messages = list(_messages(validator.iter_errors(document)))
        assert any(expected in m for m in messages), (name, messages[:5])


@pytest.mark.parametrize("record_type", TYPES)
def test_baseline_is_valid(record_type: str) -> None:
    record: Record = parse_record(completed(record_type))
    assert record.record_type == record_type
    assert str(record.record_id) == RECORD_ID
    assert record.created_at == NOW
    documents = schemas()
    Draft202012Validator(documents[f"{record_type}.schema.json"]).validate(completed(record_type))
    Draft202012Validator(documents["record.schema.json"]).validate(completed(record_type))


# -- correction ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("null", r"^correction\.supersedes: UUID input should be"),
        ("absent", r"^correction\.supersedes: Field required"),
    ],
)
def test_correction_without_supersedes_is_rejected(change: str, message: str) -> None:
    document = completed("correction")
    changed = with_value(document, "supersedes", None) if change == "null" else without(document, "supersedes")
    rejected(changed, message)
    # The exported JSON Schema requires it too, so partners validating with any tool refuse it.
    assert "supersedes" in schemas()["correction.schema.json"]["required"]


def test_correction_superseding_itself_is_rejected() -> None:
    rejected(with_value(completed("correction"), "supersedes", RECORD_ID), "a record cannot supersede itself")


@pytest.mark.parametrize("record_type", ["acknowledgement", "retraction", "discrepancy_report"])
def test_correction_replacing_a_type_that_cannot_be_corrected_is_rejected(record_type: str) -> None:
    replacement = {"record_type": record_type, "body": example(record_type)["body"]}
    document = with_value(completed("correction"), "body.replacement", replacement)
    rejected(
        document,
        rf"correction\.body\.replacement: Input tag '{record_type}' found using 'record_type' does not match "
        r"any of the expected tags: 'criminal_network_flag', 'removal_manifest', 'removal_confirmation'",
    )
    schema_refuses(document, "is not valid under any of the given schemas")


@pytest.mark.parametrize("record_type", ["criminal_network_flag", "removal_manifest", "removal_confirmation"])
def test_correction_may_replace_every_correctable_type(record_type: str) -> None:
    replacement = {"record_type": record_type, "body": example(record_type)["body"]}
    record = parse_record(with_value(completed("correction"), "body.replacement", replacement))
    assert isinstance(record, CorrectionRecord)
    assert record.body.replacement.record_type == record_type


def test_replacement_body_of_another_type_is_rejected() -> None:
    # The replacement's record_type decides the schema its body must meet.
    document = with_value(completed("correction"), "body.replacement.record_type", "removal_manifest")
    rejected(document, r"correction\.body\.replacement\.removal_manifest\.body\.operation_ref: Field required")


def test_replacement_body_obeys_the_rules_of_its_type() -> None:
    replacement = {"record_type": "removal_manifest", "body": example("removal_manifest")["body"]}
    replacement["body"]["flight"]["scheduled_arrival"] = "2026-12-12T12:59:00Z"
    document = with_value(completed("correction"), "body.replacement", replacement)
    rejected(document, r"body\.replacement\.removal_manifest\.body\.flight: .*scheduled_arrival must be after")


def _eighteenth_birthday_on(day: date) -> date:
    return day.replace(year=day.year - 18)


def test_correction_replacing_a_flag_about_a_minor_is_rejected() -> None:
    minor = date(2009, 1, 16)  # 18 the day after NOW
    assert _eighteenth_birthday_on(NOW.date()) < minor
    document = with_value(completed("correction"), "body.replacement.body.subject.date_of_birth", minor.isoformat())
    rejected(document, r"^correction: .*a criminal_network_flag may not concern a person under 18")


def test_correction_replacing_a_flag_about_someone_turning_18_today_is_accepted() -> None:
    born = _eighteenth_birthday_on(NOW.date()).isoformat()
    parse_record(with_value(completed("correction"), "body.replacement.body.subject.date_of_birth", born))


def test_correction_replacing_a_manifest_may_list_minors() -> None:
    body = example("removal_manifest")["body"]
    body["people"][0]["identity"]["date_of_birth"] = "2015-04-02"
    replacement = {"record_type": "removal_manifest", "body": body}
    parse_record(with_value(completed("correction"), "body.replacement", replacement))


# -- retraction --------------------------------------------------------------------


def test_retraction_with_an_unknown_reason_is_rejected() -> None:
    document = with_value(completed("retraction"), "body.reason", "changed_mind")
    rejected(
        document,
        r"retraction\.body\.reason: Input should be 'wrong_person', 'acquitted', 'data_inaccurate' "
        r"or 'legal_basis_ended'",
    )
    schema_refuses(document, "'changed_mind' is not one of")


def test_retraction_without_a_comment_is_accepted() -> None:
    parse_record(without(completed("retraction"), "body.comment"))


def test_retraction_of_a_record_without_its_digest_is_rejected() -> None:
    document = without(completed("retraction"), "body.retracted_jws_sha256")
    rejected(document, r"retraction\.body\.retracted_jws_sha256: Field required")


# -- onward sharing consent --------------------------------------------------------


def test_refused_consent_without_comment_is_rejected() -> None:
    document = without(with_value(completed("onward_sharing_consent"), "body.decision", "refused"), "body.comment")
    rejected(document, r"onward_sharing_consent\.body: .*a refusal needs a comment \(the reason\)")


def test_refused_consent_with_a_null_comment_is_rejected() -> None:
    document = with_value(completed("onward_sharing_consent"), "body.decision", "refused")
    rejected(with_value(document, "body.comment", None), "a refusal needs a comment")


def test_refused_consent_with_comment_is_accepted() -> None:
    document = with_value(completed("onward_sharing_consent"), "body.decision", "refused")
    parse_record(with_value(document, "body.comment", "The flag concerns an ongoing Panamanian investigation."))


def test_granted_consent_needs_no_comment() -> None:
    parse_record(without(completed("onward_sharing_consent"), "body.comment"))


def test_consent_where_requester_is_the_third_party_is_rejected() -> None:
    document = completed("onward_sharing_consent")
    document = with_value(document, "body.third_party", document["body"]["requester"])
    rejected(document, r"onward_sharing_consent\.body: .*the third party must differ from the requester")


def test_consent_naming_a_malformed_party_code_is_rejected() -> None:
    rejected(
        with_value(completed("onward_sharing_consent"), "body.third_party", "mx"),
        r"body\.third_party: String should match pattern",
    )


# -- discrepancy response ----------------------------------------------------------


@pytest.mark.parametrize("outcome", ["corrected", "retracted"])
@pytest.mark.parametrize("change", ["null", "absent"])
def test_response_with_a_follow_up_outcome_but_no_follow_up_record_is_rejected(outcome: str, change: str) -> None:
    document = with_value(completed("discrepancy_response"), "body.outcome", outcome)
    if change == "null":
        document = with_value(document, "body.follow_up_record_id", None)
    else:
        document = without(document, "body.follow_up_record_id")
    rejected(
        document,
        r"discrepancy_response\.body: .*a corrected or retracted outcome names the correction or retraction",
    )


def test_response_confirming_the_record_needs_no_follow_up() -> None:
    document = with_value(completed("discrepancy_response"), "body.outcome", "confirmed_correct")
    parse_record(without(document, "body.follow_up_record_id"))


def test_discrepancy_report_with_an_unknown_category_is_rejected() -> None:
    document = with_value(completed("discrepancy_report"), "body.category", "wrong_flight")
    rejected(document, r"discrepancy_report\.body\.category: Input should be 'identity_mismatch'")
    schema_refuses(document, "'wrong_flight' is not one of")


# -- application acknowledgement and deletion notice ---------------------------------


def test_acknowledgement_of_an_instruction_that_is_not_one_is_rejected() -> None:
    document = with_value(completed("application_acknowledgement"), "body.instruction_type", "discrepancy_report")
    rejected(document, r"body\.instruction_type: Input should be 'correction' or 'retraction'")
    schema_refuses(document, "'discrepancy_report' is not one of")


def test_deletion_notice_on_another_ground_is_rejected() -> None:
    document = with_value(completed("deletion_notice"), "body.ground", "retraction")
    rejected(document, r"deletion_notice\.body\.ground: Input should be 'retention_expired'")


def test_deletion_time_not_in_utc_is_rejected() -> None:
    document = with_value(completed("deletion_notice"), "body.deleted_at", "2028-06-29T19:05:12-05:00")
    rejected(document, "timestamps must be RFC 3339 in UTC")


# -- closed everywhere -----------------------------------------------------------------

EXTRA_FIELDS = [
    ("correction", "", r"correction\.notes"),
    ("correction", "originator", r"correction\.originator\.notes"),
    ("correction", "terms", r"correction\.terms\.notes"),
    ("correction", "body", r"correction\.body\.notes"),
    ("correction", "body.replacement", r"correction\.body\.replacement\.criminal_network_flag\.notes"),
    ("correction", "body.replacement.body", r"correction\.body\.replacement\.criminal_network_flag\.body\.notes"),
    (
        "correction",
        "body.replacement.body.subject",
        r"correction\.body\.replacement\.criminal_network_flag\.body\.subject\.notes",
    ),
    (
        "correction",
        "body.replacement.body.subject.travel_document",
        r"correction\.body\.replacement\.criminal_network_flag\.body\.subject\.travel_document\.notes",
    ),
    *[(t, "body", rf"{t}\.body\.notes") for t in TYPES if t != "correction"],
    *[(t, "", rf"{t}\.notes") for t in TYPES if t != "correction"],
]


@pytest.mark.parametrize(
    ("record_type", "path", "location"),
    EXTRA_FIELDS,
    ids=[f"{t}:{p or 'envelope'}" for t, p, _ in EXTRA_FIELDS],
)
def test_extra_field_anywhere_is_rejected(record_type: str, path: str, location: str) -> None:
    target = f"{path}.notes" if path else "notes"
    document = with_value(completed(record_type), target, "not in the schema")
    rejected(document, rf"{location}: Extra inputs are not permitted")
    schema_refuses(document, "'notes' was unexpected")
