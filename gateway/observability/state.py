"""Metrics read at scrape time from the database and the certificates, not counted in memory.

These are the same in every process sharing the database, so any ``serve``
or ``worker`` process of a party reports the party's true ledger size,
witness status and delivery queue.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from gateway.ledger import repository as ledger_repository
from gateway.node import Node
from gateway.observability import repository
from gateway.observability.certificates import certificate_expiries
from gateway.records.states import QUEUE_STATUSES

log = logging.getLogger("gateway.metrics")


def _families() -> dict[str, GaugeMetricFamily]:
    return {
        "database": GaugeMetricFamily("mou_gateway_database_up", "1 when the scrape could read the database, else 0"),
        "ledger": GaugeMetricFamily(
            "mou_gateway_ledger_tree_size", "Entries in this node's audit ledger (Merkle tree size)"
        ),
        "checkpoint": GaugeMetricFamily(
            "mou_gateway_ledger_checkpoint_tree_size", "Tree size of this node's newest signed checkpoint"
        ),
        "witness": GaugeMetricFamily(
            "mou_gateway_witness_state",
            "1 for the current witness state of each partner's ledger (ok, unreachable, error, fork)",
            labels=["partner", "state"],
        ),
        "alarm": GaugeMetricFamily(
            "mou_gateway_witness_alarm",
            "1 once a partner's ledger was seen to fork (stays until cleared)",
            labels=["partner"],
        ),
        "witnessed": GaugeMetricFamily(
            "mou_gateway_witness_last_success_timestamp_seconds",
            "When a partner's checkpoint was last verified consistent (Unix time)",
            labels=["partner"],
        ),
        "witness_size": GaugeMetricFamily(
            "mou_gateway_witness_tree_size",
            "Tree size of the partner checkpoint last seen",
            labels=["partner"],
        ),
        "queue": GaugeMetricFamily(
            "mou_gateway_deliveries",
            "Deliveries waiting (pending) or given up (dead), by partner",
            labels=["partner", "status"],
        ),
        "expiry": GaugeMetricFamily(
            "mou_gateway_certificate_expiry_days",
            "Days until a certificate of this node expires (negative once expired)",
            labels=["certificate"],
        ),
        "not_after": GaugeMetricFamily(
            "mou_gateway_certificate_not_after_timestamp_seconds",
            "End of validity of a certificate of this node (Unix time)",
            labels=["certificate"],
        ),
    }


class NodeStateCollector(Collector):
    """Reads ledger, witness and outbox state in one short transaction per scrape.

    Holds the node weakly: a registry never keeps a stopped node alive.
    """

    def __init__(self, node: Node) -> None:
        self._node = weakref.ref(node)

    def describe(self) -> Iterable[Metric]:
        # Names only, so registering does not query the database.
        return list(_families().values())

    def collect(self) -> Iterator[Metric]:
        node = self._node()
        if node is None:
            return
        families = _families()
        try:
            snapshot = _read_database(node)
        except SQLAlchemyError as exc:
            log.warning("metrics: the database could not be read: %s", type(exc).__name__)
            families["database"].add_metric([], 0.0)
        else:
            families["database"].add_metric([], 1.0)
            _add_database_state(node, snapshot, families)
        for expiry in certificate_expiries(node):
            families["expiry"].add_metric([expiry.name], round(expiry.days_left, 3))
            families["not_after"].add_metric([expiry.name], expiry.not_after.timestamp())
        yield from families.values()


@dataclass(frozen=True)
class _Snapshot:
    tree_size: int
    checkpoint_size: int
    witnesses: list[tuple[str, str, bool, datetime | None, int | None]]
    queue: dict[tuple[str, str], int]


def _read_database(node: Node) -> _Snapshot:
    with node.transaction() as session:
        size = ledger_repository.tree_size(session)
        checkpoint = ledger_repository.latest_own_checkpoint(session)
        witnesses = [
            (w.party, w.state, bool(w.alarm), w.witnessed_at, w.tree_size)
            for w in ledger_repository.witness_statuses(session)
        ]
        queue = {(recipient, status): count for recipient, status, count in repository.delivery_queue(session)}
    return _Snapshot(size, checkpoint.tree_size if checkpoint else 0, witnesses, queue)


def _add_database_state(node: Node, snapshot: _Snapshot, families: dict[str, GaugeMetricFamily]) -> None:
    families["ledger"].add_metric([], float(snapshot.tree_size))
    families["checkpoint"].add_metric([], float(snapshot.checkpoint_size))
    for party, state, alarm, witnessed_at, tree_size in snapshot.witnesses:
        families["witness"].add_metric([party, state], 1.0)
        families["alarm"].add_metric([party], 1.0 if alarm else 0.0)
        if witnessed_at is not None:
            families["witnessed"].add_metric([party], witnessed_at.timestamp())
        if tree_size is not None:
            families["witness_size"].add_metric([party], float(tree_size))
    # Every partner appears, with 0 when nothing waits for it, so alerts see the series.
    partners = {p for p in node.bundle.parties if p != node.party} | {r for r, _ in snapshot.queue}
    for partner in sorted(partners):
        for status in QUEUE_STATUSES:
            families["queue"].add_metric([partner, status], float(snapshot.queue.get((partner, status), 0)))
