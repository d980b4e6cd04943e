"""The ledger scheduler of ``gateway serve``: checkpoints when due, witness rounds on time."""

from __future__ import annotations

import threading

from gateway.ledger import repository
from gateway.ledger.scheduler import LedgerScheduler
from gateway.node import Node
from tests.ledger.fake_partner import FakePartner
from tests.support.nodes import wait_for


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_run_once_signs_when_due_and_witnesses_each_interval(node: Node, co: FakePartner) -> None:
    ticks = Ticks()
    scheduler = LedgerScheduler(node, sources={"CO": co}, monotonic=ticks)
    co.grow(3).publish()
    scheduler.run_once()
    with node.transaction() as session:
        first = repository.latest_own_checkpoint(session)
        assert first is not None
        assert first.tree_size == 0
        assert repository.witnessed_baseline(session, "CO") is None  # first round waits an interval
    ticks.now += node.settings.witness_interval_seconds
    scheduler.run_once()
    with node.transaction() as session:
        seen = repository.witnessed_baseline(session, "CO")
        assert seen is not None
        assert seen.tree_size == 3
        # The witnessed event alone does not call for a new checkpoint.
        latest = repository.latest_own_checkpoint(session)
        assert latest is not None
        assert latest.pk == first.pk
    co.grow(2).publish()
    ticks.now += node.settings.witness_interval_seconds / 2
    scheduler.run_once()
    with node.transaction() as session:
        assert repository.witnessed_baseline(session, "CO").tree_size == 3  # type: ignore[union-attr]


def test_run_forever_survives_a_failing_round_and_stops(node: Node, co: FakePartner) -> None:
    calls: list[int] = []

    class Broken(LedgerScheduler):
        def run_once(self) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("database went away")
            super().run_once()

    scheduler = Broken(node, sources={"CO": co})
    thread = threading.Thread(target=scheduler.run_forever)
    thread.start()
    wait_for(lambda: len(calls) >= 2, timeout=10)
    scheduler.stop()
    thread.join(10)
    assert not thread.is_alive()
    with node.transaction() as session:
        assert repository.latest_own_checkpoint(session) is not None
