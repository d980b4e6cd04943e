"""The ledger's background duties in ``gateway serve``: sign checkpoints, witness partners.

One thread per process. Every few seconds it checks whether a checkpoint is
due (cheap queries; signing happens every ``checkpoint_every_entries`` entries
or ``checkpoint_every_seconds``), and every ``witness_interval_seconds`` it
witnesses each partner of ``settings.partners``. Several processes sharing a
database may each run one: checkpoints are decided under the head lock, and a
witness round that loses a race stores nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from gateway.ledger.checkpoints import checkpoint_if_due
from gateway.ledger.witness import CheckpointSource, Observation, PartnerLedger, witness_partner
from gateway.node import Node
from gateway.transport.client import PartnerClients

log = logging.getLogger("gateway.ledger.scheduler")

Monotonic = Callable[[], float]


class LedgerScheduler:
    """Signs checkpoints when due and witnesses partners on a schedule; see the module docstring."""

    def __init__(
        self,
        node: Node,
        *,
        sources: Mapping[str, CheckpointSource] | None = None,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self.node = node
        settings = node.settings
        self.clients = PartnerClients(node, timeout=settings.witness_timeout_seconds)
        self.sources: dict[str, CheckpointSource] = dict(sources or {})
        for party in sorted(settings.partners):
            self.sources.setdefault(party, PartnerLedger(self.clients, party))
        self.monotonic = monotonic
        # The first round waits one interval: partners started together need a moment.
        self.next_witness = monotonic() + settings.witness_interval_seconds
        self.stop_event = threading.Event()

    @property
    def tick_seconds(self) -> float:
        # A quarter of the shorter interval, at most 5 s: each tick is two
        # short transactions, and on SQLite every transaction takes the write lock.
        settings = self.node.settings
        return max(0.05, min(5.0, settings.checkpoint_every_seconds / 4, settings.witness_interval_seconds / 4))

    def witness_all(self) -> list[Observation]:
        """Witness every partner once; returns what was seen of each."""
        return [witness_partner(self.node, party, source) for party, source in self.sources.items()]

    def run_once(self) -> None:
        """Sign a checkpoint if due; witness the partners if their interval has passed."""
        checkpoint = checkpoint_if_due(self.node)
        if checkpoint is not None:
            log.debug("signed checkpoint at tree size %d", checkpoint.tree_size)
        now = self.monotonic()
        if now >= self.next_witness:
            self.next_witness = now + self.node.settings.witness_interval_seconds
            self.witness_all()

    def run_forever(self) -> None:
        """Run until :meth:`stop`; a failing round is logged and retried on the next tick."""
        log.info("ledger scheduler for %s started", self.node.party)
        health = self.node.jobs.job("ledger scheduler")
        while not self.stop_event.is_set():
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - logged once by the job's health, then backed off
                self.stop_event.wait(max(self.tick_seconds, health.failed(exc)))
                continue
            health.succeeded()
            self.stop_event.wait(self.tick_seconds)
        self.clients.close()
        log.info("ledger scheduler for %s stopped", self.node.party)

    def stop(self) -> None:
        self.stop_event.set()
