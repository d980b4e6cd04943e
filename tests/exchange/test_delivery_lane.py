"""Records committed while a small delivery is in flight leave together in the next request.

Under a steady trickle every record used to go out in a request of its own
(each request costs a claim, a TLS round, the partner's transaction and a
settle). A delivery thread now takes the process's lane before it claims and
keeps it while it sends a claim that was not full; another thread waits for it
(at most ``delivery_coalesce_seconds``) and then claims everything that queued
up meanwhile. A full claim releases the lane before sending, so a backlog is
still sent by several threads at once; and a partner that does not answer
holds the others back no longer than the wait.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.exchange.worker import DeliveryWorker
from gateway.node import Node
from gateway.wakeup import DeliveryLane
from tests.exchange.test_batch_delivery import queue, receipt_for
from tests.support.databases import DatabaseFactory
from tests.support.exchange import FakePartner, deliveries_of, start_node, stop_node
from tests.support.nodes import RunningNode, wait_for
from tests.support.pki import TestPKI

# -- the lane itself ------------------------------------------------------------------


def test_a_turn_waits_for_the_held_lane_at_most_its_wait() -> None:
    lane = DeliveryLane()
    with lane.turn(1.0) as first:
        assert first.held
        started = time.monotonic()
        with lane.turn(0.2) as second:
            waited = time.monotonic() - started
            assert not second.held  # the wait ran out: it goes ahead without the lane
        assert 0.15 <= waited < 1.0
    with lane.turn(0.2) as third:
        assert third.held  # released on leaving the first turn


def test_a_released_turn_lets_the_next_thread_in_at_once() -> None:
    lane = DeliveryLane()
    entered = threading.Event()

    def next_thread() -> None:
        with lane.turn(5.0) as turn:
            if turn.held:
                entered.set()

    with lane.turn(5.0) as turn:
        thread = threading.Thread(target=next_thread)
        thread.start()
        assert not entered.wait(0.2)  # held: the next thread waits
        turn.release()
        turn.release()  # a second release is nothing (not a RuntimeError, not the next holder's lock)
        assert entered.wait(2.0)
    thread.join(5)


def test_no_wait_never_takes_the_lane() -> None:
    lane = DeliveryLane()
    with lane.turn(5.0), lane.turn(0) as turn:
        assert not turn.held  # 0 means the old behaviour: no thread ever waits


# -- delivery threads sharing the lane ------------------------------------------------


class HeldPartner:
    """A partner whose first ``hold`` requests wait for ``release``; answers every record with a receipt."""

    def __init__(self, pki: TestPKI, hold: int) -> None:
        self.released = threading.Event()
        self.hold = hold
        self.sizes: list[int] = []  # records per request, in arrival order
        self.fake = FakePartner(pki.parties["CO"], self.answer)
        self.pki = pki

    def answer(self, body: bytes) -> tuple[int, str, bytes]:
        records = json.loads(body)["records"] if body.startswith(b"{") else [body.decode("ascii")]
        self.sizes.append(len(records))
        if len(self.sizes) <= self.hold:
            self.released.wait(20)
        if len(records) == 1 and not body.startswith(b"{"):
            return 201, "application/jose", receipt_for(self.pki, records[0]).encode("ascii")
        results = [
            {"index": i, "status": 201, "verdict": "accepted", "receipt": receipt_for(self.pki, jws)}
            for i, jws in enumerate(records)
        ]
        return 200, "application/json", json.dumps({"results": results}).encode()


@pytest.fixture
def started(database_factory: DatabaseFactory) -> Iterator[list[RunningNode]]:
    running: list[RunningNode] = []
    yield running
    for node in reversed(running):
        stop_node(node)


def in_thread(worker: DeliveryWorker) -> threading.Thread:
    thread = threading.Thread(target=worker.run_once, daemon=True)
    thread.start()
    return thread


def all_delivered(node: Node, ids: list[str]) -> bool:
    return all(delivery.status == "delivered" for record_id in ids for delivery in deliveries_of(node, record_id))


def run_two(
    pki: TestPKI,
    database_factory: DatabaseFactory,
    tmp_path: Path,
    started: list[RunningNode],
    partner: HeldPartner,
    *,
    first: int,
    then: int,
    sends_while_held: bool,
    **settings: float,
) -> tuple[list[int], list[int], list[str]]:
    """Thread one sends ``first`` queued records (held at the partner); ``then`` more are queued and thread two runs.

    Returns (request sizes the partner saw while thread one was held, all request sizes, every record id).
    """
    with partner.fake:
        pa = start_node(
            pki, "PA", database_factory.fresh_url(), tmp_path / "pa", partners={"CO": partner.fake.url}, **settings
        )
        started.append(pa)
        workers = [DeliveryWorker(pa.node), DeliveryWorker(pa.node)]
        try:
            ids = queue(pa.node, first)
            one = in_thread(workers[0])
            wait_for(lambda: len(partner.sizes) == 1)
            ids += queue(pa.node, then)
            two = in_thread(workers[1])
            # Time enough for thread two to claim and send, if it is not held
            # back (longer where the test expects it to send: a slow machine).
            deadline = time.monotonic() + (10.0 if sends_while_held else 1.0)
            while len(partner.sizes) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            ids += queue(pa.node, 2)  # committed while thread two waits (or after it sent)
            while_held = list(partner.sizes)
            partner.released.set()
            one.join(20)
            two.join(20)
            rest = DeliveryWorker(pa.node)
            try:
                while rest.run_once():
                    pass
            finally:
                rest.clients.close()
            assert all_delivered(pa.node, ids)
        finally:
            for worker in workers:
                worker.clients.close()
        return while_held, list(partner.sizes), ids


@pytest.mark.parametrize(
    ("first", "then", "settings", "while_held", "sizes"),
    [
        # Thread two waits for the lane instead of sending its record alone,
        # then claims everything that queued up meanwhile: one request.
        (1, 1, {"delivery_coalesce_seconds": 5.0}, [1], [1, 3]),
        # The behaviour the lane replaces (0: never wait), for comparison:
        # each thread sends what it found, one small request each.
        (1, 1, {"delivery_coalesce_seconds": 0}, [1, 1], [1, 1, 2]),
        # A full claim is a backlog: the lane is released, and both batches are in flight together.
        (3, 0, {"delivery_coalesce_seconds": 5.0, "delivery_batch": 2}, [2, 1], [2, 1, 2]),
        # A partner that does not answer holds the others back only for the
        # wait: thread two sends after 0.3 s while thread one is still held.
        (1, 1, {"delivery_coalesce_seconds": 0.3}, [1, 1], [1, 1, 2]),
    ],
    ids=["gathered-behind-a-small-send", "no-lane", "full-claim-goes-at-once", "wait-runs-out"],
)
def test_requests_a_partner_sees_while_a_first_send_is_held(
    pki: TestPKI,
    database_factory: DatabaseFactory,
    tmp_path: Path,
    started: list[RunningNode],
    first: int,
    then: int,
    settings: dict[str, float],
    while_held: list[int],
    sizes: list[int],
) -> None:
    partner = HeldPartner(pki, hold=len(while_held))
    seen_while_held, seen, ids = run_two(
        pki,
        database_factory,
        tmp_path,
        started,
        partner,
        first=first,
        then=then,
        sends_while_held=len(while_held) > 1,
        **settings,
    )
    assert seen_while_held == while_held
    assert seen == sizes  # records per request, in order; every record delivered once (run_two checks)
    assert len(ids) == first + then + 2
