"""The table of record kinds, and the one accessor for a stored row's document and effective type."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.records.documents import effective_type, envelope_of, signed_document, unsafe_decode_payload
from gateway.records.kinds import (
    CORRECTABLE_TYPES,
    INSTRUCTION_TYPES,
    KINDS,
    LIFECYCLE_TYPES,
    OFFICER_ANSWERED_TYPES,
    PLAIN_TYPES,
    SHAREABLE_TYPES,
    SUBSTANTIVE_TYPES,
    kind_of,
)
from gateway.records.models import StoredRecord
from gateway.records.schemas import RECORD_CLASSES, RecordType
from gateway.records.states import Direction, RecordStatus, Verification
from gateway.trust.canonical import canonicalize
from gateway.trust.jws import b64url_encode
from tests.support.exchange import EXAMPLES

RT = RecordType
ORIGINALS = {RT.CRIMINAL_NETWORK_FLAG, RT.REMOVAL_MANIFEST, RT.REMOVAL_CONFIRMATION}


def test_every_record_type_has_exactly_one_kind() -> None:
    assert set(KINDS) == set(RecordType)
    assert all(kind.record_type is record_type for record_type, kind in KINDS.items())


def test_the_derived_type_sets_say_what_the_rules_need() -> None:
    assert ORIGINALS | {RT.CORRECTION} == SUBSTANTIVE_TYPES
    assert SHAREABLE_TYPES == SUBSTANTIVE_TYPES  # notices about records stay between their parties
    assert {RT.CORRECTION, RT.RETRACTION} == INSTRUCTION_TYPES
    assert ORIGINALS <= CORRECTABLE_TYPES
    assert not CORRECTABLE_TYPES & {RT.RETRACTION, RT.ACKNOWLEDGEMENT, RT.DELETION_NOTICE}
    assert PLAIN_TYPES == ORIGINALS  # nothing else can simply be stored on arrival
    assert set(RecordType) - ORIGINALS - {RT.ACKNOWLEDGEMENT} == LIFECYCLE_TYPES
    assert SUBSTANTIVE_TYPES | {RT.ONWARD_SHARING_REQUEST, RT.DISCREPANCY_REPORT} == OFFICER_ANSWERED_TYPES


@pytest.mark.parametrize("record_type", [t for t, kind in KINDS.items() if kind.refers_by is not None])
def test_the_field_a_kind_refers_by_is_a_field_of_its_body(record_type: RecordType) -> None:
    body_class = RECORD_CLASSES[record_type].model_fields["body"].annotation
    assert kind_of(record_type).refers_by in body_class.model_fields  # type: ignore[union-attr]


def test_an_unknown_type_has_no_kind() -> None:
    with pytest.raises(ValueError, match="postcard"):
        kind_of("postcard")


def _row(document: dict[str, Any], *, verification: Verification = Verification.VALID) -> StoredRecord:
    payload = b64url_encode(canonicalize(document))
    return StoredRecord(
        direction=Direction.IN,
        record_type=document.get("record_type"),
        recipients="PA",
        stored_at=datetime.now(UTC),
        jws=f"e30.{payload}.c2ln",
        jws_sha256="0" * 64,
        verification=verification,
        status=RecordStatus.NEW,
    )


def _example(record_type: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8"))
    return document


def test_a_correction_stands_for_the_type_it_replaces() -> None:
    row = _row(_example("correction"))
    assert effective_type(row) is RT.CRIMINAL_NETWORK_FLAG
    assert effective_type(_row(_example("removal_manifest"))) is RT.REMOVAL_MANIFEST


def test_a_deleted_body_has_no_document_and_a_correction_no_effective_type_but_the_envelope_stays() -> None:
    row = _row(_example("correction"))
    row.envelope_json = json.dumps({k: v for k, v in _example("correction").items() if k != "body"})
    row.jws = ""
    assert signed_document(row) is None
    assert effective_type(row) is None
    assert (envelope_of(row) or {})["record_type"] == "correction"


def test_a_row_that_failed_verification_is_read_only_through_the_unsafe_accessor() -> None:
    row = _row(_example("removal_manifest"), verification=Verification.INVALID)
    assert signed_document(row) is None
    claimed = unsafe_decode_payload(row.jws)
    assert isinstance(claimed, dict)
    assert claimed["record_type"] == "removal_manifest"
    assert (envelope_of(row) or {}).get("body") is None  # the claimed envelope, never its body
    assert unsafe_decode_payload("not a jws") is None
