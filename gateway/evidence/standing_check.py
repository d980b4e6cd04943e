"""Running the standing check: one pass in bounded transactions, and the periodic job of ``gateway serve``.

``gateway serve`` loads the trust bundle (and so any new CRL or trust update)
when it starts: the job runs a first pass soon after, then every
``standing_check_seconds``. ``gateway evidence check-standing`` runs one pass
on demand (after ``gateway pki fetch``/``adopt``, for instance). A pass is
skipped outright when no CRL of the bundle can make a record suspect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gateway.evidence.suspicion import BATCH_SIZE, StandingCheck, doubted_parties, flag_suspects
from gateway.node import Node

log = logging.getLogger("gateway.evidence.standing")


def run_standing_check(
    node: Node, *, actor: str, batch_size: int = BATCH_SIZE, keep_going: Callable[[], bool] = lambda: True
) -> StandingCheck:
    """Judge every stored record with the node's bundle, ``batch_size`` rows per transaction.

    Returns the whole pass. Raises what a batch raises; the batches before it stay committed.
    """
    check = StandingCheck()
    bundle, now = node.bundle, node.now()
    parties = doubted_parties(bundle)
    if not parties:
        return check
    check.exhausted = False
    while not check.exhausted and keep_going():
        with node.transaction() as session:
            batch = flag_suspects(
                session, bundle, now, actor=actor, parties=parties, after_pk=check.last_pk, limit=batch_size
            )
        check.merge(batch)
    return check


class StandingWatcher:
    """Runs the standing check soon after start and then every ``standing_check_seconds``."""

    ACTOR = "standing-check"

    def __init__(self, node: Node) -> None:
        self.node = node
        self.interval = node.settings.standing_check_seconds
        self.stop_event = threading.Event()

    def run_once(self) -> StandingCheck:
        check = run_standing_check(self.node, actor=self.ACTOR, keep_going=lambda: not self.stop_event.is_set())
        for found in check.found:
            log.warning(
                "record %s of %s is SUSPECT: %s; %d officer(s) who reviewed it are notified",
                found.record_id,
                found.originator,
                found.reason,
                len(found.reviewers),
            )
        for record_id in check.unreadable:
            log.error("standing check: the sealed body of record %s failed its integrity check", record_id)
        return check

    def run_forever(self) -> None:
        self.stop_event.wait(min(30.0, self.interval))  # after start: the bundle just loaded may be new
        self.node.jobs.job("standing check").repeat(self.stop_event, self.interval, self.run_once)

    def stop(self) -> None:
        self.stop_event.set()
