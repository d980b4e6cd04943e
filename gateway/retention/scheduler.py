"""Running retention: one pass in bounded transactions, and the periodic job of ``gateway serve``.

A pass fixes "now" once and walks the expired records in batches of
``BATCH_SIZE`` rows, one transaction each, so a large backlog never holds one
long transaction (on SQLite, the write lock) and a crash loses one batch at
most. Several processes sharing a database may each run the job: rows being
deleted by one are skipped by the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gateway.lifecycle.dissemination import laggards
from gateway.node import Node
from gateway.retention.service import BATCH_SIZE, RetentionReport, retention_counts, run_retention

log = logging.getLogger("gateway.retention")

Monotonic = Callable[[], float]


def run_retention_pass(
    node: Node, *, actor: str, batch_size: int = BATCH_SIZE, keep_going: Callable[[], bool] = lambda: True
) -> RetentionReport:
    """Run retention over every expired record, ``batch_size`` rows per transaction.

    Returns the whole pass's report. Stops early (report ``exhausted`` False)
    when ``keep_going`` turns false between batches. Raises what a batch
    raises; the batches before it stay committed.
    """
    now = node.now()
    report = RetentionReport(as_of=now, exhausted=False)
    while not report.exhausted and keep_going():
        with node.transaction() as session:
            batch = run_retention(session, node, actor=actor, now=now, after_pk=report.last_pk, limit=batch_size)
        report.merge(batch)
    if report.notices:
        node.wake_delivery()
    return report


class RetentionScheduler:
    """Runs a retention pass every ``retention_run_seconds`` and warns about records due for review."""

    ACTOR = "retention"

    def __init__(self, node: Node, *, monotonic: Monotonic = time.monotonic) -> None:
        self.node = node
        self.monotonic = monotonic
        interval = node.settings.retention_run_seconds
        # The first pass soon after start (not a whole interval later): a node
        # restarted more often than the interval must still delete on time.
        self.next_run = monotonic() + min(interval, 30.0)
        self.stop_event = threading.Event()

    def run_once(self) -> RetentionReport:
        """Run one pass now and log what it did; returns its report."""
        report = run_retention_pass(self.node, actor=self.ACTOR, keep_going=lambda: not self.stop_event.is_set())
        if report.deleted or report.held:
            log.info(
                "retention: %d record bodies deleted, %d expired records kept under legal hold, %d notices sent",
                len(report.deleted),
                len(report.held),
                len(report.notices),
            )
        for error in report.errors:
            log.error("retention: %s", error)
        with self.node.transaction() as session:
            counts = retention_counts(session, self.node)
            lagging = laggards(session, self.node)
        for late in lagging:
            # The originator must chase a partner that has not applied a correction or retraction.
            log.warning(
                "lifecycle: %s has not acknowledged applying %s %s of record %s (%.1f h overdue)",
                late.party,
                late.instruction_type,
                late.instruction_id,
                late.record_id,
                late.hours_overdue,
            )
        if counts.review_due or counts.expired_held:
            log.warning(
                "retention: %d records are past their review date; %d expired records are kept by a legal hold",
                counts.review_due,
                counts.expired_held,
            )
        return report

    def run_forever(self) -> None:
        """Run until :meth:`stop`; a failing pass is logged and retried at the next interval."""
        log.info("retention scheduler for %s started", self.node.party)
        settings = self.node.settings
        health = self.node.jobs.job("retention scheduler")
        while not self.stop_event.is_set():
            wait = self.next_run - self.monotonic()
            if wait > 0:
                self.stop_event.wait(wait)
                continue
            self.next_run = self.monotonic() + self.node.settings.retention_run_seconds
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - logged once by the job's health, then backed off
                # Retry sooner than the next interval: deletions must not wait an hour for a database restart.
                self.next_run = self.monotonic() + min(settings.retention_run_seconds, health.failed(exc))
            else:
                health.succeeded()
        log.info("retention scheduler for %s stopped", self.node.party)

    def stop(self) -> None:
        self.stop_event.set()
