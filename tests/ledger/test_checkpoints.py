"""Signed checkpoints: payload, signature checks, and when a node signs a new one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from gateway.db import transaction
from gateway.exchange.receipts import issue_receipt
from gateway.ledger import repository
from gateway.ledger.checkpoints import checkpoint_due, checkpoint_if_due, sign_body, sign_checkpoint, verify_checkpoint
from gateway.ledger.events import AuditEvent
from gateway.ledger.schemas import CheckpointBody
from gateway.ledger.service import append_event
from gateway.node import Node, build_node
from gateway.records.schemas import Receipt, Verdict
from gateway.trust.errors import BadSignatureError, MalformedJWSError, PartyMismatchError
from gateway.trust.jws import b64url_decode, b64url_encode
from tests.ledger.conftest import append_many
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed_node(pki: TestPKI, database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Node]:
    settings = node_settings(
        pki, "PA", database_url, tmp_path / "pa", {}, checkpoint_every_entries=5, checkpoint_every_seconds=60
    )
    built = build_node(settings, clock=clock)
    yield built
    built.close()


def test_a_checkpoint_signs_the_current_head(sessions: sessionmaker[Session], node: Node) -> None:
    append_many(sessions, 9)
    with transaction(sessions) as session:
        row = sign_checkpoint(session, node)
        size, root = repository.read_head(session)
    verified = verify_checkpoint(row.jws, node.bundle, node.now(), party="PA")
    assert verified.header["typ"] == "mou-checkpoint+jws"
    assert verified.payload.model_dump(mode="json") == {
        "origin": "PA-gateway",
        "party": "PA",
        "tree_size": 9,
        "root_hash": root.hex() if root else "",
        "signed_at": row.signed_at.isoformat().replace("+00:00", "Z"),
    }
    assert (row.own, row.tree_size, row.root_hash, row.party) == (True, size, root.hex() if root else "", "PA")


def test_checkpoint_of_another_party_or_altered_is_refused(node: Node, pki: TestPKI) -> None:
    now = node.now().replace(microsecond=0)
    body = CheckpointBody(origin="CO-gateway", party="CO", tree_size=1, root_hash="ab" * 32, signed_at=now)
    jws = sign_body(body, pki.signing_key("CO"))
    assert verify_checkpoint(jws, node.bundle, now, party="CO").payload == body
    with pytest.raises(PartyMismatchError, match="signed by CO, expected US"):
        verify_checkpoint(jws, node.bundle, now, party="US")
    header, payload, signature = jws.split(".")
    altered = b64url_decode(payload).replace(b'"tree_size":1', b'"tree_size":2')
    with pytest.raises(BadSignatureError):
        verify_checkpoint(f"{header}.{b64url_encode(altered)}.{signature}", node.bundle, now, party="CO")
    claims_co = sign_body(body, pki.signing_key("US"))
    with pytest.raises(PartyMismatchError, match="belongs to 'US'"):
        verify_checkpoint(claims_co, node.bundle, now, party="CO")


def test_a_receipt_is_not_a_checkpoint(node: Node) -> None:
    receipt = Receipt(
        record_id=None, jws_sha256="0" * 64, received_at=node.now(), receiver="PA", sender="CO",
        verdict=Verdict.ACCEPTED, ledger_index=0,
    )  # fmt: skip
    with pytest.raises(MalformedJWSError, match="typ must be 'mou-checkpoint\\+jws'"):
        verify_checkpoint(issue_receipt(receipt, node.signing_key), node.bundle, node.now(), party="PA")


def _event(node: Node, event: AuditEvent) -> None:
    with node.transaction() as session:
        append_event(session, event, actor="test", subject="s", at=node.now())


def test_when_a_checkpoint_is_due(timed_node: Node, clock: Clock) -> None:
    node = timed_node

    def due(force: bool = False) -> bool:
        with node.transaction() as session:
            return checkpoint_due(session, node, force=force)

    assert due()  # none yet, even of the empty tree
    first = checkpoint_if_due(node)
    assert first is not None
    assert first.tree_size == 0
    assert checkpoint_if_due(node) is None
    for _ in range(4):
        _event(node, AuditEvent.RECORD_RECEIVED)
    assert not due()  # 4 < 5 entries, 0 s elapsed
    assert due(force=True)
    _event(node, AuditEvent.RECORD_RECEIVED)
    assert due()  # 5 entries
    second = checkpoint_if_due(node)
    assert second is not None
    assert second.tree_size == 5
    # Only the ledger's own events since: time alone does not call for one,
    # or partners witnessing each other would keep signing forever.
    _event(node, AuditEvent.CHECKPOINT_WITNESSED)
    clock.now += timedelta(seconds=61)
    assert not due()
    _event(node, AuditEvent.RECORD_VIEWED)
    assert due()
    clock.now -= timedelta(seconds=30)
    assert not due()
