"""Witnessing a partner's ledger fed with crafted, really signed checkpoints.

The partner (CO) is an in-memory tree whose checkpoints are signed with CO's
test key (``tests/ledger/fake_partner.py``); the witness (PA) is a real node on
SQLite or PostgreSQL.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, update

from gateway.ledger.errors import LedgerTamperedError
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import Checkpoint, LedgerEntry, WitnessStatus
from gateway.ledger.status import ledger_status
from gateway.ledger.verification import verify_ledger
from gateway.ledger.witness import Observation, witness_partner
from gateway.node import Node
from tests.ledger.fake_partner import FakePartner
from tests.support.pki import TestPKI


def observe(node: Node, partner: FakePartner) -> Observation:
    return witness_partner(node, "CO", partner)


def rows(node: Node) -> list[Checkpoint]:
    with node.transaction() as session:
        return list(session.scalars(select(Checkpoint).where(Checkpoint.own.is_(False)).order_by(Checkpoint.pk)))


def events(node: Node) -> list[str]:
    with node.transaction() as session:
        return [e.event for e in session.scalars(select(LedgerEntry).order_by(LedgerEntry.index))]


def status(node: Node) -> WitnessStatus:
    with node.transaction() as session:
        found = session.get(WitnessStatus, "CO")
        assert found is not None
        return found


def assert_ledger_still_verifies(node: Node) -> list[str]:
    with node.transaction() as session:
        return verify_ledger(session, node.bundle).forks


def test_consistent_growth_is_stored_with_its_proof(node: Node, co: FakePartner) -> None:
    co.grow(5).publish()
    first = observe(node, co)
    assert (first.state, first.tree_size) == ("new", 5)
    assert observe(node, co).state == "unchanged"
    co.grow(8).publish()
    grown = observe(node, co)
    assert (grown.state, grown.tree_size) == ("new", 13)
    assert co.proof_requests == [(5, 13)]
    stored = rows(node)
    assert [(r.tree_size, r.consistent, r.proof_from) for r in stored] == [(5, True, None), (13, True, 5)]
    assert stored[1].proof == ",".join(p.hex() for p in co.tree.consistency_proof(5, 13))
    assert events(node) == [AuditEvent.CHECKPOINT_WITNESSED.value] * 2
    assert (status(node).state, status(node).tree_size, status(node).alarm) == ("ok", 13, None)
    assert assert_ledger_still_verifies(node) == []


def test_same_size_with_another_root_is_a_fork(
    node: Node, co: FakePartner, pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    co.grow(6).publish()
    observe(node, co)
    forked = FakePartner(pki.signing_key("CO"), prefix=b"rewritten").grow(6)
    forked.publish()
    with caplog.at_level(logging.ERROR, logger="gateway.ledger.witness"):
        seen = observe(node, forked)
    assert seen.state == "fork"
    assert "two roots for tree size 6" in seen.detail
    assert any(r.levelno == logging.ERROR and "ledger fork" in r.getMessage() for r in caplog.records)
    assert events(node) == [AuditEvent.CHECKPOINT_WITNESSED.value, AuditEvent.CHECKPOINT_FORK.value]
    # Both signed checkpoints are kept: together they prove the equivocation.
    assert [(r.tree_size, r.consistent) for r in rows(node)] == [(6, True), (6, False)]
    assert status(node).state == "fork"
    with node.transaction() as session:
        report = ledger_status(session)
    assert report["witness"]["CO"]["alarm"].startswith("two roots for tree size 6")
    assert report["alarms"] == [f"CO: {status(node).alarm}"]
    forks = assert_ledger_still_verifies(node)
    assert len(forks) == 1
    assert "two roots" in forks[0]


def test_a_smaller_tree_is_a_fork(node: Node, co: FakePartner) -> None:
    co.grow(9).publish()
    observe(node, co)
    co.publish(size=4)  # a correctly signed, but older, head: history rolled back
    seen = observe(node, co)
    assert seen.state == "fork"
    assert seen.detail == "smaller tree: size 4 after size 9 was witnessed"
    assert co.proof_requests == []


def test_a_rewritten_and_grown_history_fails_the_consistency_proof(node: Node, co: FakePartner, pki: TestPKI) -> None:
    co.grow(8).publish()
    observe(node, co)
    rewritten = FakePartner(pki.signing_key("CO"), prefix=b"other").grow(12)
    rewritten.publish()
    seen = observe(node, rewritten)
    assert seen.state == "fork"
    assert seen.detail.startswith("inconsistent with size 8: ")
    assert rewritten.proof_requests == [(8, 12)]
    assert [(r.tree_size, r.consistent) for r in rows(node)] == [(8, True), (12, False)]


def test_a_checkpoint_not_signed_by_the_partner_raises_the_alarm(node: Node, co: FakePartner, pki: TestPKI) -> None:
    impostor = FakePartner(pki.signing_key("US")).grow(3)
    impostor.publish(party="CO")  # claims CO, signed with US's key
    seen = observe(node, impostor)
    assert seen.state == "fork"
    assert seen.detail.startswith("checkpoint refused: party_mismatch: ")
    assert rows(node) == []  # nothing attributable to CO to keep
    assert events(node) == [AuditEvent.CHECKPOINT_FORK.value]
    header, payload, _signature = co.grow(2).publish().split(".")
    co.served = f"{header}.{payload}.AAAA"
    assert observe(node, co).detail.startswith("checkpoint refused: bad_signature: ")


def test_the_same_bad_checkpoint_alarms_once(node: Node, co: FakePartner, pki: TestPKI) -> None:
    co.grow(4).publish()
    observe(node, co)
    co.publish(size=2)
    assert observe(node, co).state == "fork"
    assert observe(node, co).state == "fork"
    assert events(node).count(AuditEvent.CHECKPOINT_FORK.value) == 1
    impostor = FakePartner(pki.signing_key("US")).grow(5)
    impostor.publish(party="CO")
    assert observe(node, impostor).state == "fork"
    assert observe(node, impostor).state == "fork"
    assert events(node).count(AuditEvent.CHECKPOINT_FORK.value) == 2


def test_after_a_fork_the_last_consistent_checkpoint_stays_the_baseline(
    node: Node, co: FakePartner, pki: TestPKI
) -> None:
    co.grow(4).publish()
    observe(node, co)
    forked = FakePartner(pki.signing_key("CO"), prefix=b"x").grow(4)
    forked.publish()
    assert observe(node, forked).state == "fork"
    co.grow(3).publish()
    assert observe(node, co).state == "new"
    assert co.proof_requests == [(4, 7)]
    assert status(node).alarm is not None  # stays until people act on it


def test_unreachable_partner_or_missing_proof_changes_only_the_status(node: Node, co: FakePartner) -> None:
    co.unreachable = True
    seen = observe(node, co)
    assert (seen.state, seen.detail) == ("unreachable", "CO: ConnectError: connection refused")
    co.unreachable = False
    co.grow(2).publish()
    observe(node, co)
    co.grow(2).publish()
    co.proof_unavailable = True
    assert observe(node, co).state == "error"
    assert [r.tree_size for r in rows(node)] == [2]
    assert events(node) == [AuditEvent.CHECKPOINT_WITNESSED.value]
    assert status(node).alarm is None


def test_verify_catches_a_changed_witnessed_checkpoint(node: Node, co: FakePartner) -> None:
    co.grow(3).publish()
    observe(node, co)
    co.grow(7).publish()
    observe(node, co)
    with node.transaction() as session:
        session.execute(update(Checkpoint).where(Checkpoint.tree_size == 10).values(proof="00" * 32))
    with node.transaction() as session, pytest.raises(LedgerTamperedError, match="does not extend size 3"):
        verify_ledger(session, node.bundle)


def test_status_is_reported_for_readiness(node: Node, co: FakePartner) -> None:
    co.grow(1).publish()
    observe(node, co)
    with node.transaction() as session:
        report = ledger_status(session)
    assert report["witness"]["CO"]["state"] == "ok"
    assert report["witness"]["CO"]["tree_size"] == 1
    assert report["alarms"] == []
    assert report["tree_size"] == 1  # the witnessed event
