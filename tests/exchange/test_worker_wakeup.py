"""Delivery threads wake for new work one at a time, and do not claim an empty queue after each delivery."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gateway.exchange.worker import DeliveryWorker
from gateway.node import Node, build_node
from gateway.wakeup import Wakeup
from tests.support.nodes import node_settings, wait_for
from tests.support.pki import TestPKI

BATCH = 10


class CountingWorker(DeliveryWorker):
    """A worker whose rounds claim what ``claims`` says (then nothing), counting the rounds."""

    def __init__(self, node: Node, claims: list[int]) -> None:
        super().__init__(node)
        self.claims = claims
        self.rounds = 0

    def run_once(self) -> int:
        self.rounds += 1
        return self.claims.pop(0) if self.claims else 0


@pytest.fixture
def node(pki: TestPKI, tmp_path: Path) -> Node:
    settings = node_settings(
        pki, "PA", f"sqlite:///{tmp_path / 'pa.sqlite3'}", tmp_path, {}, delivery_poll_seconds=30, delivery_batch=BATCH
    )
    return build_node(settings)


def started(worker: DeliveryWorker) -> threading.Thread:
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    return thread


def test_after_a_delivery_the_worker_waits_for_new_work_instead_of_claiming_again(node: Node) -> None:
    worker = CountingWorker(node, [1])
    thread = started(worker)
    try:
        wait_for(lambda: worker.rounds == 1)
        time.sleep(0.3)
        assert worker.rounds == 1  # one record claimed and sent: no empty claim after it
        node.wake_delivery()
        wait_for(lambda: worker.rounds == 2)
    finally:
        worker.stop()
        thread.join(5)
    assert not thread.is_alive()


def test_after_a_full_batch_the_worker_claims_again_at_once(node: Node) -> None:
    worker = CountingWorker(node, [BATCH, BATCH, 3])
    thread = started(worker)
    try:
        wait_for(lambda: worker.rounds == 3)  # more may be due: no wait between full batches
        time.sleep(0.3)
        assert worker.rounds == 3
    finally:
        worker.stop()
        thread.join(5)


def test_one_signal_wakes_one_of_two_waiting_workers(node: Node) -> None:
    workers = [CountingWorker(node, []), CountingWorker(node, [])]
    threads = [started(worker) for worker in workers]
    try:
        wait_for(lambda: all(worker.rounds == 1 for worker in workers))
        time.sleep(0.1)  # both waiting
        node.wake_delivery()
        wait_for(lambda: sum(worker.rounds for worker in workers) == 3)
        time.sleep(0.3)
        assert sorted(worker.rounds for worker in workers) == [1, 2]
    finally:
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join(5)
    assert not any(thread.is_alive() for thread in threads)  # stopping wakes every waiting thread


def test_a_signal_given_while_no_one_waits_is_kept() -> None:
    wakeup = Wakeup()
    wakeup.set()
    wakeup.set()
    started_at = time.monotonic()
    assert wakeup.wait(5) is True
    assert time.monotonic() - started_at < 1
    assert wakeup.wait(0.05) is False  # both signals were taken by that one wait


def test_without_a_signal_the_wait_ends_at_the_poll() -> None:
    started_at = time.monotonic()
    assert Wakeup().wait(0.2) is False
    assert time.monotonic() - started_at >= 0.2


def test_a_thread_woken_after_another_took_the_signal_waits_on() -> None:
    wakeup = Wakeup()
    taken: list[bool] = []
    threads = [threading.Thread(target=lambda: taken.append(wakeup.wait(0.6))) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    wakeup.set()
    for thread in threads:
        thread.join(5)
    assert sorted(taken) == [False, True]


def test_wake_all_ends_every_wait_and_keeps_the_signals() -> None:
    wakeup = Wakeup()
    ended: list[bool] = []
    threads = [threading.Thread(target=lambda: ended.append(wakeup.wait(30))) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    wakeup.wake_all()
    for thread in threads:
        thread.join(5)
    assert ended == [True, True, True]
    wakeup.set()
    assert wakeup.wait(0.05) is True  # a signal after the broadcast is still there for the next wait
