"""A batch (or a group of single POSTs) is received as if its items came one after another.

A correction or retraction that names a record sent earlier in the same batch
must be checked against that record, exactly as if it had arrived in a later
request: the names-the-bytes-held rule may not be skipped because the record
was not yet written when the batch was verified.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.exchange.intake import receive_group
from gateway.exchange.service import Outcome
from gateway.lifecycle import repository as lifecycle_repository
from gateway.node import Node, build_node
from gateway.records.signing import SignedRecord
from gateway.trust.canonical import parse_strict
from gateway.trust.jws import b64url_decode
from tests.support.exchange import example_draft, signed_record
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI


@pytest.fixture
def co_node(pki: TestPKI, database_url: str, tmp_path: Path) -> Iterator[Node]:
    node = build_node(node_settings(pki, "CO", database_url, tmp_path / "co", {}))
    yield node
    node.close()


def pa_flag(pki: TestPKI) -> SignedRecord:
    draft = example_draft("criminal_network_flag", recipients=["CO"])
    draft["body"]["subject"].pop("travel_document", None)
    return signed_record(pki, "PA", draft)


def instruction(pki: TestPKI, target: SignedRecord, kind: str, digest: str) -> SignedRecord:
    """PA's correction or retraction of ``target``, naming the bytes ``digest``."""
    envelope: dict[str, Any] = {
        k: v
        for k, v in target.record.model_dump(mode="json").items()
        if k not in ("record_id", "created_at", "schema_version", "body", "record_type", "supersedes")
    }
    target_id = str(target.record.record_id)
    if kind == "correction":
        body = target.record.model_dump(mode="json")["body"]
        document = {
            **envelope,
            "record_type": "correction",
            "supersedes": target_id,
            "body": {
                "corrected_jws_sha256": digest,
                "reason": "date of birth was wrong",
                "replacement": {"record_type": "criminal_network_flag", "body": body},
            },
        }
    else:
        document = {
            **envelope,
            "record_type": "retraction",
            "body": {"retracted_record_id": target_id, "retracted_jws_sha256": digest, "reason": "wrong_person"},
        }
    return signed_record(pki, "PA", document)


def verdict(result: Outcome | Exception) -> tuple[str, str | None]:
    assert isinstance(result, Outcome), repr(result)

    receipt = parse_strict(b64url_decode(result.receipt_jws.split(".")[1]))
    assert isinstance(receipt, dict)
    return receipt["verdict"], receipt["reason_code"]


def lifecycle_of(node: Node, record_id: str) -> tuple[str | None, str | None, bool]:
    """(superseded_by, retracted_by, body deleted) of the incoming copy of ``record_id``."""
    with node.transaction() as session:
        row = lifecycle_repository.valid_copy(session, "in", record_id)
        assert row is not None
        return row.superseded_by, row.retracted_by, row.body_deleted_at is not None


@pytest.mark.parametrize("kind", ["correction", "retraction"])
@pytest.mark.parametrize("grouped", [True, False], ids=["one-group", "one-by-one"])
def test_instruction_naming_other_bytes_is_rejected_even_in_the_same_group(
    kind: str, grouped: bool, pki: TestPKI, co_node: Node
) -> None:
    target = pa_flag(pki)
    wrong = instruction(pki, target, kind, "0" * 64)
    items = [(target.jws.encode(), "PA"), (wrong.jws.encode(), "PA")]
    results = receive_group(co_node, items) if grouped else [receive_group(co_node, [item])[0] for item in items]

    assert verdict(results[0]) == ("accepted", None)
    assert verdict(results[1]) == ("rejected", "digest_mismatch")
    assert lifecycle_of(co_node, str(target.record.record_id)) == (None, None, False)


@pytest.mark.parametrize("kind", ["correction", "retraction"])
def test_instruction_naming_the_bytes_is_applied_in_the_same_group(kind: str, pki: TestPKI, co_node: Node) -> None:
    target = pa_flag(pki)
    right = instruction(pki, target, kind, target.jws_sha256)
    results = receive_group(co_node, [(target.jws.encode(), "PA"), (right.jws.encode(), "PA")])

    assert [verdict(r) for r in results] == [("accepted", None), ("accepted", None)]
    superseded_by, retracted_by, deleted = lifecycle_of(co_node, str(target.record.record_id))
    if kind == "correction":
        assert (superseded_by, retracted_by, deleted) == (str(right.record.record_id), None, False)
    else:
        assert (superseded_by, retracted_by, deleted) == (None, str(right.record.record_id), True)


def test_instruction_before_its_record_in_the_same_group_is_applied_when_the_record_is_written(
    pki: TestPKI, co_node: Node
) -> None:
    target = pa_flag(pki)
    correction = instruction(pki, target, "correction", target.jws_sha256)
    results = receive_group(co_node, [(correction.jws.encode(), "PA"), (target.jws.encode(), "PA")])

    assert [verdict(r) for r in results] == [("accepted", None), ("accepted", None)]
    assert lifecycle_of(co_node, str(target.record.record_id)) == (str(correction.record.record_id), None, False)
