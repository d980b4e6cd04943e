"""Prometheus metrics of a node, in a registry of its own.

Several nodes run in one process in the tests and the demo, so nothing is
registered in prometheus_client's global registry: :func:`metrics_of` keeps
one :class:`NodeMetrics` per live :class:`~gateway.node.Node`, dropped when
the node is garbage-collected. Counters count what this process did; the
ledger, witness, outbox and certificate gauges are read at scrape time (see
:mod:`gateway.observability.state`).

Label values are always from small fixed sets (record types, verdicts,
partner codes, route templates), never from what a caller sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import weakref
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest

from gateway import __version__
from gateway.node import Node
from gateway.observability.logging import begin_delivery, end_delivery
from gateway.observability.state import NodeStateCollector
from gateway.records.schemas import RecordType, Verdict

log = logging.getLogger("gateway.delivery")

RECORD_TYPES = tuple(t.value for t in RecordType)
VERDICTS = tuple(v.value for v in Verdict)
DELIVERY_OUTCOMES = ("delivered", "rejected", "retry", "dead", "lost-lease")
UNKNOWN = "unknown"

# Receipts come back in tens of milliseconds on a LAN, seconds over a slow link;
# the last bucket is the default delivery timeout.
RECEIPT_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class NodeMetrics:
    """The collectors of one node, all in ``registry``."""

    def __init__(self, node: Node) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.records_in = Counter(
            "mou_gateway_records_in",
            "Records received from partners, by record type and this node's verdict",
            ["record_type", "verdict"],
            registry=registry,
        )
        self.records_signed = Counter(
            "mou_gateway_records_signed",
            "Records this node signed and queued for its partners, by record type",
            ["record_type"],
            registry=registry,
        )
        self.records_out = Counter(
            "mou_gateway_records_out",
            "Records delivered to a partner with a verified receipt, by record type, partner and the partner's verdict",
            ["record_type", "partner", "verdict"],
            registry=registry,
        )
        self.delivery_attempts = Counter(
            "mou_gateway_delivery_attempts",
            "Delivery attempts by partner and outcome (delivered, rejected, retry, dead, lost-lease)",
            ["partner", "outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "mou_gateway_dead_letters",
            "Deliveries given up (marked dead) by this process, by partner",
            ["partner"],
            registry=registry,
        )
        self.receipt_latency = Histogram(
            "mou_gateway_receipt_latency_seconds",
            "Time from sending a record to a partner until its receipt arrived",
            ["partner"],
            buckets=RECEIPT_LATENCY_BUCKETS,
            registry=registry,
        )
        self.http_requests = Counter(
            "mou_gateway_http_requests",
            "HTTP requests answered, by listener, method, route and status",
            ["listener", "method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "mou_gateway_http_request_duration_seconds",
            "Time to answer an HTTP request, by listener and route",
            ["listener", "route"],
            buckets=HTTP_DURATION_BUCKETS,
            registry=registry,
        )
        self.rate_limited = Counter(
            "mou_gateway_rate_limited",
            "Requests refused with 429 by the per-minute rate limit, by listener",
            ["listener"],
            registry=registry,
        )
        Info("mou_gateway_build", "Version and party of this gateway", registry=registry).info(
            {"version": __version__, "party": node.party}
        )
        registry.register(NodeStateCollector(node))
        self._prefill(node)

    def _prefill(self, node: Node) -> None:
        # Series exist at 0 from the start, so rate() and alerts work before the first event.
        for record_type in RECORD_TYPES:
            for verdict in VERDICTS:
                self.records_in.labels(record_type, verdict)
            self.records_signed.labels(record_type)
        for partner in sorted(p for p in node.bundle.parties if p != node.party):
            for outcome in DELIVERY_OUTCOMES:
                self.delivery_attempts.labels(partner, outcome)
            self.dead_letters.labels(partner)
        for listener in ("agency", "partner"):
            self.rate_limited.labels(listener)


_REGISTRIES: dict[int, NodeMetrics] = {}
_REGISTRIES_LOCK = threading.Lock()


def metrics_of(node: Node) -> NodeMetrics:
    """Return the node's metrics, creating them on first use.

    Keyed by ``id(node)`` with a finalizer, because Node (a mutable
    dataclass) is not hashable and so cannot key a WeakKeyDictionary.
    """
    key = id(node)
    with _REGISTRIES_LOCK:
        found = _REGISTRIES.get(key)
        if found is None:
            found = NodeMetrics(node)
            _REGISTRIES[key] = found
            weakref.finalize(node, _REGISTRIES.pop, key, None)
        return found


def render_metrics(node: Node) -> bytes:
    """Return the node's metrics in the Prometheus text exposition format."""
    return generate_latest(metrics_of(node).registry)


def unsafe_record_type(jws: str | bytes) -> str:
    """Return the ``record_type`` claimed in a JWS payload, WITHOUT verifying it, for a label.

    Only the known record types come back; anything else is ``unknown``, so a
    hostile sender cannot create label values.
    """
    try:
        compact = jws.decode("ascii") if isinstance(jws, bytes) else jws
        segment = compact.strip().split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, UnicodeDecodeError, binascii.Error, ValueError, RecursionError):
        return UNKNOWN
    value = payload.get("record_type") if isinstance(payload, dict) else None
    return value if isinstance(value, str) and value in RECORD_TYPES else UNKNOWN


def _bounded(value: str, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else UNKNOWN


# -- what the exchange, records and delivery code call ----------------------


def observe_received(
    node: Node, jws: str | bytes, verdict: str, *, replayed: bool, record_type: str | None = None
) -> None:
    """Count a record received from a partner (a replayed identical POST is not counted again).

    ``record_type`` is the verified type when there is one; otherwise the label
    is read from the unverified payload (never trusted beyond the known types).
    """
    if not replayed:
        kind = _bounded(record_type, RECORD_TYPES) if record_type else unsafe_record_type(jws)
        metrics_of(node).records_in.labels(kind, _bounded(verdict, VERDICTS)).inc()


def observe_signed(node: Node, record_type: str | None, *, replayed: bool = False) -> None:
    """Count a record this node signed and queued (an idempotent replay is not counted again)."""
    if not replayed:
        metrics_of(node).records_signed.labels(_bounded(record_type or "", RECORD_TYPES)).inc()


def observe_receipt_latency(node: Node, partner: str, seconds: float) -> None:
    """Record how long a partner took to answer a delivery with a receipt."""
    metrics_of(node).receipt_latency.labels(partner).observe(seconds)


class DeliveryJob(Protocol):
    """What :func:`observe_delivery` reads of the worker's job."""

    @property
    def record_id(self) -> str: ...

    @property
    def recipient(self) -> str: ...

    @property
    def jws(self) -> str: ...

    @property
    def attempts(self) -> int: ...


_OUTCOME_OF_STATUS = {"pending": "retry"}


def observe_delivery(node: Node, job: DeliveryJob, status: str) -> str:
    """Count and log one delivery attempt ending in ``status``; returns ``status``.

    Ends the delivery's log context (see :func:`~gateway.observability.logging.begin_delivery`).
    """
    metrics = metrics_of(node)
    outcome = _bounded(_OUTCOME_OF_STATUS.get(status, status), DELIVERY_OUTCOMES)
    metrics.delivery_attempts.labels(job.recipient, outcome).inc()
    if outcome == "dead":
        metrics.dead_letters.labels(job.recipient).inc()
    elif outcome in ("delivered", "rejected"):
        verdict = "accepted" if outcome == "delivered" else "rejected"
        metrics.records_out.labels(unsafe_record_type(job.jws), job.recipient, verdict).inc()
    log.log(
        logging.WARNING if outcome == "dead" else logging.INFO,
        "delivery of record %s to %s: %s (attempt %d)",
        job.record_id,
        job.recipient,
        outcome,
        job.attempts,
        extra={"record_id": job.record_id, "partner": job.recipient, "outcome": outcome, "attempt": job.attempts},
    )
    end_delivery()
    return status


class NodeTelemetry:
    """``gateway.node.Telemetry`` for the domains below observability: these counters and logs."""

    def received(self, node: Node, jws: str | bytes, verdict: str, *, replayed: bool, record_type: str | None) -> None:
        observe_received(node, jws, verdict, replayed=replayed, record_type=record_type)

    def signed(self, node: Node, record_type: str | None, *, replayed: bool) -> None:
        observe_signed(node, record_type, replayed=replayed)

    def receipt_latency(self, node: Node, partner: str, seconds: float) -> None:
        observe_receipt_latency(node, partner, seconds)

    def delivery_began(self) -> str:
        return begin_delivery()

    def delivery_ended(self, node: Node, job: DeliveryJob, status: str) -> str:
        return observe_delivery(node, job, status)
