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
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.exchange.outgoing import submit_draft
from gateway.exchange.receipts import issue_receipt
from gateway.exchange.worker import DeliveryWorker
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
