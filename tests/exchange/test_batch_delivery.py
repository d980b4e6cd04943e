"""The worker sends the jobs it claimed for one partner in one ``records:batch`` request.

Over a WAN link one record per request caps delivery at one record per round
trip; a batch costs one. What must not change: each delivery counts only with
its own verified receipt, each item's refusal is judged as a single send's
would be (terminal or retried), the receiver stores each record once and in
order, and a partner that refuses batches as a whole still gets every record.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from gateway.exchange.models import Delivery
from gateway.exchange.outgoing import submit_draft
from gateway.exchange.receipts import issue_receipt
from gateway.exchange.worker import DeliveryWorker, Job
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.ledger.service import detail_digest
from gateway.ledger.verification import verify_ledger
from gateway.node import Node
from gateway.records.models import StoredRecord
from gateway.records.schemas import Receipt, Verdict
from tests.support.databases import DatabaseFactory
from tests.support.exchange import (
    FakePartner,
    deliveries_of,
    example_draft,
    sha256_hex,
    start_node,
    stop_node,
    stored_copies,
)
from tests.support.nodes import RunningNode
from tests.support.pki import TestPKI


def queue(node: Node, count: int) -> list[str]:
    """Sign and queue ``count`` flags to CO without waking a worker; returns their record ids in order."""
    ids = []
    for _ in range(count):
        draft = example_draft("criminal_network_flag", recipients=["CO"])
        draft.pop("terms")
        with node.transaction() as session:
            record_id = submit_draft(session, node, draft, actor="test").record.record_id
        assert record_id is not None
        ids.append(record_id)
    return ids


def status_of(node: Node, record_id: str) -> tuple[str, str | None]:
    (delivery,) = deliveries_of(node, record_id)
    return str(delivery.status), delivery.last_error


@pytest.fixture
def started(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[list[RunningNode]]:
    running: list[RunningNode] = []
    yield running
    for node in reversed(running):
        stop_node(node)


def receipt_for(pki: TestPKI, jws: str, *, digest: str | None = None) -> str:
    receipt = Receipt(
        record_id=uuid.uuid4(),
        jws_sha256=digest or sha256_hex(jws.encode("ascii")),
        received_at=datetime.now(UTC),
        receiver="CO",
        sender="PA",
        verdict=Verdict.ACCEPTED,
        ledger_index=3,
    )
    return issue_receipt(receipt, pki.signing_key("CO"))


def test_jobs_for_one_partner_travel_in_one_request_and_are_stored_once_in_order(
    pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path, started: list[RunningNode]
) -> None:
    co = start_node(pki, "CO", database_factory.fresh_url(), tmp_path / "co")
    started.append(co)
    pa = start_node(pki, "PA", database_factory.fresh_url(), tmp_path / "pa", partners={"CO": co.partner_url})
    started.append(pa)
    ids = queue(pa.node, 5)

    worker = DeliveryWorker(pa.node)
    try:
        assert worker.run_once() == 5
    finally:
        worker.clients.close()

    assert [status_of(pa.node, record_id) for record_id in ids] == [("delivered", None)] * 5
    assert [stored_copies(co.node, record_id) for record_id in ids] == [1] * 5
    with co.node.transaction() as session:
        received = list(
            session.scalars(
                select(StoredRecord.record_id)
                .where(StoredRecord.direction == "in", StoredRecord.record_id.in_(ids))
                .order_by(StoredRecord.pk)
            )
        )
    assert received == ids  # the receiver wrote them in the order they were queued
    for record_id in ids:
        (delivery,) = deliveries_of(pa.node, record_id)
        assert delivery.receipt_jws is not None
        assert delivery.receipt_verdict == "accepted"


def test_each_item_of_a_batch_answer_is_judged_like_a_single_send(
    pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path, started: list[RunningNode]
) -> None:
    """Receipt → delivered; 422 → dead; 503 → retried; a receipt for other bytes → retried, not delivered."""
    paths: list[str] = []

    def answer(body: bytes) -> tuple[int, str, bytes]:
        records = json.loads(body)["records"]
        paths.append("batch")
        results = [
            {"index": 0, "status": 201, "verdict": "accepted", "receipt": receipt_for(pki, records[0])},
            {"index": 1, "status": 422, "problem": {"title": "Schema violation", "detail": "bad body"}},
            {"index": 2, "status": 503, "problem": {"title": "Unavailable", "detail": "try later"}},
            {
                "index": 3,
                "status": 201,
                "verdict": "accepted",
                "receipt": receipt_for(pki, records[3], digest="0" * 64),
            },
        ]
        return 200, "application/json", json.dumps({"results": results}).encode()

    with FakePartner(pki.parties["CO"], answer) as fake:
        pa = start_node(pki, "PA", database_factory.fresh_url(), tmp_path / "pa", partners={"CO": fake.url})
        started.append(pa)
        ids = queue(pa.node, 4)
        worker = DeliveryWorker(pa.node)
        try:
            assert worker.run_once() == 4
        finally:
            worker.clients.close()
        posted = [json.loads(body)["records"] for body in fake.bodies]

    assert len(posted) == 1  # one request for the four jobs
    assert len(posted[0]) == 4
    outcomes = [status_of(pa.node, record_id) for record_id in ids]
    assert outcomes[0] == ("delivered", None)
    assert outcomes[1] == ("dead", "HTTP 422: bad body")
    assert outcomes[2] == ("pending", "HTTP 503: try later")
    assert outcomes[3][0] == "pending"
    assert outcomes[3][1] is not None
    assert outcomes[3][1].startswith("receipt refused: schema_violation")


@pytest.mark.parametrize(
    "refusal",
    [
        (404, "application/problem+json", b'{"title": "Not Found"}'),
        (200, "application/json", b'{"results": []}'),  # not one result per item
        (200, "application/json", b"not json"),
    ],
    ids=["no-batch-endpoint", "wrong-result-count", "not-json"],
)
def test_a_batch_refused_as_a_whole_is_sent_one_by_one(
    refusal: tuple[int, str, bytes],
    pki: TestPKI,
    database_factory: DatabaseFactory,
    tmp_path: Path,
    started: list[RunningNode],
) -> None:
    def answer(body: bytes) -> tuple[int, str, bytes]:
        if body.startswith(b"{"):
            return refusal
        return 201, "application/jose", receipt_for(pki, body.decode("ascii")).encode("ascii")

    with FakePartner(pki.parties["CO"], answer) as fake:
        pa = start_node(pki, "PA", database_factory.fresh_url(), tmp_path / "pa", partners={"CO": fake.url})
        started.append(pa)
        ids = queue(pa.node, 3)
        worker = DeliveryWorker(pa.node)
        try:
            assert worker.run_once() == 3
        finally:
            worker.clients.close()
        bodies = list(fake.bodies)

    assert [status_of(pa.node, record_id) for record_id in ids] == [("delivered", None)] * 3
    assert len(bodies) == 4  # the refused batch, then each record alone
    assert bodies[0].startswith(b"{")
    assert all(not body.startswith(b"{") for body in bodies[1:])


# -- settling a batch: one lease query, one ledger append, job order ----------------------


def ledger_size(node: Node) -> int:
    with node.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


def ledger_from(node: Node, index: int) -> list[LedgerEntry]:
    """The node's ledger entries from ``index`` on, in order; the whole ledger verified first."""
    with node.transaction() as session:
        assert verify_ledger(session, None).entries >= index
        return list(session.scalars(select(LedgerEntry).where(LedgerEntry.index >= index).order_by(LedgerEntry.index)))


def all_receipted(pki: TestPKI, body: bytes) -> tuple[int, str, bytes]:
    records = json.loads(body)["records"]
    results = [
        {"index": i, "status": 201, "verdict": "accepted", "receipt": receipt_for(pki, jws)}
        for i, jws in enumerate(records)
    ]
    return 200, "application/json", json.dumps({"results": results}).encode()


def test_a_job_whose_lease_changed_during_the_send_is_left_alone_and_the_others_settle(
    pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path, started: list[RunningNode]
) -> None:
    """Its lease lapsed and another worker took it while the batch was away: no settlement, no event for it."""
    claimed: list[Job] = []
    taken_over = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=7)

    def answer(body: bytes) -> tuple[int, str, bytes]:
        with pa.node.transaction() as session:
            session.execute(
                update(Delivery).where(Delivery.pk == claimed[1].delivery_pk).values(lease_until=taken_over)
            )
        return all_receipted(pki, body)

    with FakePartner(pki.parties["CO"], answer) as fake:
        pa = start_node(pki, "PA", database_factory.fresh_url(), tmp_path / "pa", partners={"CO": fake.url})
        started.append(pa)
        ids = queue(pa.node, 3)
        before = ledger_size(pa.node)
        worker = DeliveryWorker(pa.node)
        try:
            claimed.extend(worker.claim())
            assert [job.record_id for job in claimed] == ids
            statuses = worker.deliver_together(claimed)
        finally:
            worker.clients.close()

    assert statuses == ["delivered", "lost-lease", "delivered"]
    assert status_of(pa.node, ids[0]) == ("delivered", None)
    assert status_of(pa.node, ids[2]) == ("delivered", None)
    (taken,) = deliveries_of(pa.node, ids[1])
    assert (taken.status, taken.lease_until, taken.receipt_jws, taken.delivered_at) == (
        "pending",
        taken_over,
        None,
        None,
    )
    entries = ledger_from(pa.node, before)
    assert [(e.event, e.subject) for e in entries] == [
        (AuditEvent.RECORD_SENT.value, ids[0]),
        (AuditEvent.RECORD_SENT.value, ids[2]),
    ]


def test_a_settled_batch_appends_one_event_per_job_in_job_order(
    pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path, started: list[RunningNode]
) -> None:
    """Jobs given in reverse of their claim (and primary key) order: the ledger follows the jobs, not the rows."""

    def answer(body: bytes) -> tuple[int, str, bytes]:
        records = json.loads(body)["records"]
        results = [
            {"index": 0, "status": 201, "verdict": "accepted", "receipt": receipt_for(pki, records[0])},
            {"index": 1, "status": 503, "problem": {"title": "Unavailable", "detail": "try later"}},
            {"index": 2, "status": 422, "problem": {"title": "Schema violation", "detail": "bad body"}},
            {"index": 3, "status": 201, "verdict": "accepted", "receipt": receipt_for(pki, records[3])},
        ]
        return 200, "application/json", json.dumps({"results": results}).encode()

    with FakePartner(pki.parties["CO"], answer) as fake:
        pa = start_node(pki, "PA", database_factory.fresh_url(), tmp_path / "pa", partners={"CO": fake.url})
        started.append(pa)
        ids = queue(pa.node, 4)
        before = ledger_size(pa.node)
        worker = DeliveryWorker(pa.node)
        try:
            jobs = list(reversed(worker.claim()))
            statuses = worker.deliver_together(jobs)
        finally:
            worker.clients.close()

    order = list(reversed(ids))
    assert [job.record_id for job in jobs] == order
    assert statuses == ["delivered", "pending", "dead", "delivered"]
    entries = ledger_from(pa.node, before)
    assert [e.subject for e in entries] == order
    assert [e.event for e in entries] == [
        AuditEvent.RECORD_SENT.value,
        AuditEvent.DELIVERY_FAILED.value,
        AuditEvent.DELIVERY_DEAD.value,
        AuditEvent.RECORD_SENT.value,
    ]
    assert {e.actor for e in entries} == {"worker:PA"}
    sent = deliveries_of(pa.node, order[0])[0]
    assert {e.at for e in entries} == {sent.delivered_at}  # one settlement time for the batch
    assert [e.detail_sha256 for e in entries] == [
        detail_digest({"recipient": "CO", "verdict": "accepted", "reason_code": None}),
        detail_digest({"recipient": "CO", "attempt": 1, "error": "HTTP 503: try later"}),
        detail_digest({"recipient": "CO", "attempt": 1, "error": "HTTP 422: bad body"}),
        detail_digest({"recipient": "CO", "verdict": "accepted", "reason_code": None}),
    ]
