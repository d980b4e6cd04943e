"""The delivery worker: drives the transactional outbox until every delivery ends.

Each job is three short transactions: claim (take a lease), send (no
transaction open while talking to the partner), settle (store the verified
receipt or schedule a retry). A worker killed at any point leaves a lease that
lapses; the next worker re-sends the same bytes, and the receiver answers with
the receipt it already issued — nothing is lost and nothing is duplicated.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session

from gateway.errors import ConfigurationError
from gateway.exchange import repository
from gateway.exchange.errors import DeliveryNotFoundError
from gateway.exchange.models import Delivery
from gateway.exchange.receipts import verify_receipt
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import PendingEvent, append_event, append_events
from gateway.node import Node
from gateway.records.models import StoredRecord
from gateway.records.states import DeliveryStatus
from gateway.transport.client import PartnerClients
from gateway.trust.errors import TrustError

log = logging.getLogger("gateway.delivery")

# Statuses a receiver may answer that will not change on retry.
_TERMINAL_STATUSES = frozenset({400, 403, 404, 409, 413, 415, 422})


@dataclass(frozen=True)
class Job:
    delivery_pk: int
    record_id: str
    recipient: str
    jws: str
    jws_sha256: str
    lease_until: datetime
    attempts: int
    consent_jws: str | None = None  # set for a record shared onward


@dataclass(frozen=True)
class Receipted:
    """A job the recipient answered with a receipt that verified."""

    job: Job
    receipt: str
    verdict: str
    reason: str | None
    ledger_index: int | None


@dataclass(frozen=True)
class Failure:
    """A job that failed: transport, problem answer, or a receipt that did not verify."""

    job: Job
    error: str
    terminal: bool


Settlement = Receipted | Failure


def backoff_seconds(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Capped exponential backoff with jitter: attempt n waits ~base·2^(n-1), at most ``cap``."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return float(delay * rng.uniform(0.5, 1.0))


class DeliveryWorker:
    """Claims due deliveries and sends them; run ``run_forever`` in a thread or process."""

    def __init__(self, node: Node, *, name: str | None = None, rng: random.Random | None = None) -> None:
        self.node = node
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self.clients = PartnerClients(node, timeout=node.settings.delivery_timeout_seconds)
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.stop_event = threading.Event()

    # -- claim --------------------------------------------------------------

    def claim(self) -> list[Job]:
        """Lease up to ``delivery_batch`` due deliveries and return them as jobs."""
        settings = self.node.settings
        now = self.node.now()
        lease_until = now + timedelta(seconds=2 * settings.delivery_timeout_seconds + 5)
        jobs: list[Job] = []
        with self.node.transaction() as session:
            claimed = repository.claim_due(session, now, settings.delivery_batch)
            # The originators' consents of records shared onward, for the whole claim in one statement.
            consents = repository.records_by_pk(
                session, {d.consent_record_pk for d, _ in claimed if d.consent_record_pk is not None}
            )
            for delivery, record in claimed:
                delivery.lease_until = lease_until
                delivery.attempts += 1
                delivery.last_attempt_at = now
                consent = consents.get(delivery.consent_record_pk) if delivery.consent_record_pk else None
                jobs.append(
                    Job(
                        delivery.pk,
                        record.record_id or "",
                        delivery.recipient,
                        record.jws,
                        record.jws_sha256,
                        lease_until,
                        delivery.attempts,
                        consent.jws if consent is not None else None,
                    )
                )
        return jobs

    # -- send and settle ----------------------------------------------------

    def deliver(self, job: Job) -> str:
        """Send one job and settle it; returns the resulting delivery status."""
        correlation = self.node.telemetry.delivery_began()  # this delivery's log lines and the partner's carry it
        try:
            if job.consent_jws is not None:
                response = self.clients.post_onward(job.recipient, job.jws, job.consent_jws, correlation)
            else:
                response = self.clients.post_record(job.recipient, job.jws, correlation)
        except httpx.HTTPError as exc:
            return self._failed(job, f"{type(exc).__name__}: {exc}"[:300], terminal=False)
        except ConfigurationError as exc:
            # e.g. no partner URL for this recipient: fail this job, not the whole batch.
            return self._failed(job, exc.cli_message()[:300], terminal=False)
        if response.status_code in (200, 201):
            self.node.telemetry.receipt_latency(self.node, job.recipient, response.elapsed.total_seconds())
            return self._answered(job, response.text)
        detail = _problem_detail(response)
        terminal = response.status_code in _TERMINAL_STATUSES
        return self._failed(job, f"HTTP {response.status_code}: {detail}"[:300], terminal=terminal)

    def deliver_together(self, jobs: list[Job]) -> list[str]:
        """Send jobs for one recipient in one ``records:batch`` request and settle each; returns their statuses.

        Over a link with tens of milliseconds of round trip, one record per
        request caps a partner at a few dozen records per second; a batch costs
        one round trip. The receiver processes the items in order, as if sent
        one after another, so ordering and exactly-once hold as for single
        sends. A partner that refuses the batch as a whole (older listener,
        batch too large) is sent the jobs one by one instead.
        """
        correlation = self.node.telemetry.delivery_began()
        try:
            response = self.clients.post_batch(jobs[0].recipient, [job.jws for job in jobs], correlation)
        except httpx.HTTPError as exc:
            return [self._failed(job, f"{type(exc).__name__}: {exc}"[:300], terminal=False) for job in jobs]
        except ConfigurationError as exc:
            return [self._failed(job, exc.cli_message()[:300], terminal=False) for job in jobs]
        items = _batch_results(response, len(jobs))
        if items is None:
            return [self.deliver(job) for job in jobs]
        self.node.telemetry.receipt_latency(self.node, jobs[0].recipient, response.elapsed.total_seconds())
        # Receipts are verified before the transaction; every job is then
        # settled in one commit (one per job would cost a disk sync each).
        outcomes: list[Settlement] = []
        for job, item in zip(jobs, items, strict=True):
            status = item.get("status")
            receipt = item.get("receipt")
            if status in (200, 201) and isinstance(receipt, str):
                outcomes.append(self._judge_receipt(job, receipt))
                continue
            problem = item.get("problem")
            detail = problem.get("detail") or problem.get("title") if isinstance(problem, dict) else None
            error = f"HTTP {status}: {detail or 'no detail'}"[:300]
            outcomes.append(Failure(job, error, terminal=status in _TERMINAL_STATUSES))
        now = self.node.now()
        with self.node.transaction() as session:
            return self._apply(session, outcomes, now)

    def _answered(self, job: Job, receipt: str) -> str:
        """Verify the receiver's signed receipt for ``job`` and settle it (a refused receipt is a retryable failure)."""
        outcome = self._judge_receipt(job, receipt)
        now = self.node.now()
        with self.node.transaction() as session:
            return self._apply(session, [outcome], now)[0]

    def _judge_receipt(self, job: Job, receipt: str) -> Settlement:
        try:
            verified = verify_receipt(
                receipt,
                self.node.bundle,
                self.node.now(),
                receiver=job.recipient,
                jws_sha256=job.jws_sha256,
            )
        except TrustError as exc:
            return Failure(job, f"receipt refused: {exc.reason}: {exc.detail}"[:300], terminal=False)
        payload = verified.payload
        return Receipted(job, receipt, payload.verdict.value, payload.reason_code, payload.ledger_index)

    def _failed(self, job: Job, error: str, *, terminal: bool) -> str:
        now = self.node.now()
        with self.node.transaction() as session:
            return self._apply(session, [Failure(job, error, terminal=terminal)], now)[0]

    def _apply(self, session: Session, outcomes: list[Settlement], now: datetime) -> list[str]:
        """Record each outcome on its leased delivery; returns their statuses in order ("lost-lease" if not ours).

        One statement loads every delivery still under its job's lease and one
        ledger append records the events, in job order: per-job queries and
        appends cost a batch of hundreds as many round trips and tree updates.
        """
        leased = repository.leased_many(session, {o.job.delivery_pk: o.job.lease_until for o in outcomes})
        statuses: list[str] = []
        events: list[PendingEvent] = []
        for outcome in outcomes:
            # Popped: a delivery is settled once even if it came twice (it then no longer holds the lease).
            delivery = leased.pop(outcome.job.delivery_pk, None)
            if delivery is None:
                statuses.append("lost-lease")  # another worker settled it; the receipt is identical
                continue
            if isinstance(outcome, Receipted):
                events.append(self._settle(delivery, outcome, now))
            else:
                events.append(self._fail(delivery, outcome, now))
            statuses.append(delivery.status)
        append_events(session, events)
        return statuses

    def _settle(self, delivery: Delivery, outcome: Receipted, now: datetime) -> PendingEvent:
        """Store the verified receipt on ``delivery``; returns the ledger event that records it."""
        job, verdict, reason = outcome.job, outcome.verdict, outcome.reason
        delivery.status = DeliveryStatus.DELIVERED if verdict == "accepted" else DeliveryStatus.REJECTED
        delivery.receipt_jws = outcome.receipt
        delivery.receipt_verdict = verdict
        delivery.receipt_reason = reason
        delivery.receipt_ledger_index = outcome.ledger_index
        delivery.delivered_at = now
        delivery.lease_until = None
        delivery.last_error = None
        return PendingEvent(
            AuditEvent.RECORD_SENT if verdict == "accepted" else AuditEvent.DELIVERY_REJECTED,
            actor=f"worker:{self.node.party}",
            subject=job.record_id,
            at=now,
            detail={"recipient": job.recipient, "verdict": verdict, "reason_code": reason},
        )

    def _fail(self, delivery: Delivery, outcome: Failure, now: datetime) -> PendingEvent:
        """Schedule ``delivery``'s retry, or mark it dead; returns the ledger event that records it."""
        job, error, settings = outcome.job, outcome.error, self.node.settings
        delivery.last_error = error
        delivery.lease_until = None
        wait = backoff_seconds(
            delivery.attempts,
            settings.delivery_backoff_base_seconds,
            settings.delivery_backoff_max_seconds,
            self.rng,
        )
        next_attempt = now + timedelta(seconds=wait)
        if outcome.terminal or next_attempt > delivery.deadline_at:
            delivery.status = DeliveryStatus.DEAD
            event = AuditEvent.DELIVERY_DEAD
        else:
            delivery.next_attempt_at = next_attempt
            event = AuditEvent.DELIVERY_FAILED
        log.warning(
            "delivery %s of %s to %s failed (attempt %d, %s): %s",
            job.delivery_pk,
            job.record_id,
            job.recipient,
            delivery.attempts,
            delivery.status if event is AuditEvent.DELIVERY_DEAD else f"retry in {wait:.1f}s",
            error,
        )
        return PendingEvent(
            event,
            actor=f"worker:{self.node.party}",
            subject=job.record_id,
            at=now,
            detail={"recipient": job.recipient, "attempt": delivery.attempts, "error": error},
        )

    # -- loop ---------------------------------------------------------------

    def run_once(self) -> int:
        """Claim and deliver one batch; returns how many jobs were processed.

        Jobs for the same recipient go in one ``records:batch`` request, in
        the order they were claimed; a record shared onward travels alone (it
        carries the originator's consent beside it). The claim and send take
        this process's delivery lane (``DeliveryLane``): records committed
        while another thread's small request is away wait for it, briefly, and
        leave together.
        """
        settings = self.node.settings
        with self.node.delivery_lane.turn(settings.delivery_coalesce_seconds) as turn:
            jobs = self.claim()
            if len(jobs) >= settings.delivery_batch:
                turn.release()  # a backlog: the next thread claims the next batch while this one sends
            self._send(jobs)
        return len(jobs)

    def _send(self, jobs: list[Job]) -> None:
        """Send ``jobs`` (one request per recipient, a record shared onward alone) and settle each."""
        by_recipient: dict[str, list[Job]] = {}
        for job in jobs:
            if job.consent_jws is not None:
                self.node.telemetry.delivery_ended(self.node, job, self.deliver(job))
            else:
                by_recipient.setdefault(job.recipient, []).append(job)
        for group in by_recipient.values():
            statuses = self.deliver_together(group) if len(group) > 1 else [self.deliver(group[0])]
            for job, status in zip(group, statuses, strict=True):
                self.node.telemetry.delivery_ended(self.node, job, status)

    def run_forever(self) -> None:
        """Deliver until ``stop()``; sleeps between polls unless woken by new work."""
        log.info("delivery worker %s started", self.name)
        health = self.node.jobs.job("delivery worker")
        while not self.stop_event.is_set():
            try:
                processed = self.run_once()
            except Exception as exc:  # noqa: BLE001 - logged once by the job's health, then backed off
                # A job in hand keeps its lease until it lapses; the next round re-sends the same bytes.
                self.stop_event.wait(health.failed(exc))
                continue
            health.succeeded()
            if processed < self.node.settings.delivery_batch:
                # Everything due was claimed (or is held by another thread): wait
                # for new work, which a commit here signals at once, or the poll
                # (work queued by other processes, retries coming due). Claiming
                # again at once found an empty queue after almost every delivery.
                self.node.delivery_wakeup.wait(self.node.settings.delivery_poll_seconds)
        self.clients.close()
        log.info("delivery worker %s stopped", self.name)

    def stop(self) -> None:
        self.stop_event.set()
        self.node.delivery_wakeup.wake_all()


def _batch_results(response: httpx.Response, count: int) -> list[dict[str, object]] | None:
    """Return the per-item results of a ``records:batch`` answer, or None when it is not one for ``count`` items."""
    if response.status_code != 200:
        return None
    try:
        document = response.json()
    except ValueError:
        return None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or len(results) != count or not all(isinstance(r, dict) for r in results):
        return None
    ordered = sorted(results, key=lambda r: r.get("index", -1) if isinstance(r.get("index"), int) else -1)
    if [r.get("index") for r in ordered] != list(range(count)):
        return None
    return ordered


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:200]
    return str(body)[:200]


def retry_delivery(node: Node, delivery_pk: int, *, actor: str) -> Delivery:
    """Put a dead delivery back in the queue; returns it. Raises DeliveryNotFoundError."""
    now = node.now()
    with node.transaction() as session:
        delivery = repository.by_pk(session, delivery_pk)
        if delivery is None or delivery.status != DeliveryStatus.DEAD:
            raise DeliveryNotFoundError(
                f"no dead delivery {delivery_pk}", hint="see `gateway deliveries list --status dead`"
            )
        record = session.get(StoredRecord, delivery.record_pk)
        if record is not None and (record.body_deleted_at is not None or not record.jws):
            # Retracted or past retention: the bytes are gone and must not go out again.
            raise DeliveryNotFoundError(
                f"delivery {delivery_pk} is of record {record.record_id}, whose body was deleted "
                f"({record.body_deleted_reason}); it cannot be sent again"
            )
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now
        delivery.lease_until = None
        delivery.deadline_at = now + timedelta(seconds=node.settings.delivery_deadline_seconds)
        append_event(
            session,
            AuditEvent.DELIVERY_RETRIED,
            actor=actor,
            subject=(record.record_id if record and record.record_id else f"delivery:{delivery_pk}"),
            at=now,
            detail={"delivery": delivery_pk, "recipient": delivery.recipient},
        )
    node.wake_delivery()
    return delivery
