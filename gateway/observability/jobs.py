"""Background jobs that never die silently and never flood the log.

Each loop of a node (delivery worker, ledger scheduler, retention, terms sync)
reports every round to its :class:`JobHealth`. The first failure is logged
once at ERROR (a database outage as one line, anything else with its
traceback, once); later failures of the same outage only at DEBUG; the round
after it works again logs one INFO line. Between failed rounds the loop waits
a capped exponential backoff. ``/readyz`` shows every job's state and last
error, so a job that keeps failing is visible without reading logs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.database_errors import describe_database_error, is_database_unavailable

log = logging.getLogger("gateway.jobs")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class JobHealth:
    """One background job's failure state and backoff; thread-safe."""

    name: str
    base_seconds: float = 1.0
    cap_seconds: float = 30.0
    failures: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    failing_since: datetime | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def succeeded(self) -> None:
        """Record a round that worked; logs one INFO line when it ends a run of failures."""
        with self._lock:
            if self.failures == 0:
                return
            failures, since = self.failures, self.failing_since
            self.failures = 0
            self.failing_since = None
        seconds = (_utc_now() - since).total_seconds() if since is not None else 0.0
        log.info("%s: working again after %d failed rounds (%.0f s)", self.name, failures, seconds)

    def failed(self, exc: BaseException) -> float:
        """Record a failed round; returns the seconds to wait before the next one."""
        database = is_database_unavailable(exc)
        summary = describe_database_error(exc).cli_message() if database else _summary(exc)
        with self._lock:
            self.failures += 1
            failures = self.failures
            now = _utc_now()
            self.last_error, self.last_error_at = summary, now
            if failures == 1:
                self.failing_since = now
        delay = min(self.cap_seconds, self.base_seconds * float(2 ** min(failures - 1, 30)))
        if failures > 1:
            log.debug("%s: still failing (round %d, next in %.0f s): %s", self.name, failures, delay, summary)
        elif database:
            # No traceback: the stack of a refused connection says nothing an operator can use.
            log.error("%s: %s; retrying with backoff up to %.0f s", self.name, summary, self.cap_seconds)
        else:
            log.error("%s: round failed; retrying with backoff up to %.0f s", self.name, self.cap_seconds, exc_info=exc)
        return delay

    def repeat(self, stop: threading.Event, seconds: float, round_: Callable[[], object]) -> None:
        """Run ``round_`` every ``seconds`` until ``stop`` is set.

        A failed round is recorded (logged once) and the next one comes after the
        backoff, never later than ``seconds``.
        """
        while not stop.is_set():
            try:
                round_()
            except Exception as exc:  # noqa: BLE001 - logged once here, then backed off
                stop.wait(min(seconds, self.failed(exc)))
                continue
            self.succeeded()
            stop.wait(seconds)

    def snapshot(self) -> dict[str, Any]:
        """Return the job's state for /readyz: ok or failing, with its last error."""
        with self._lock:
            state: dict[str, Any] = {"state": "failing" if self.failures else "ok"}
            if self.failures:
                state["failures"] = self.failures
                state["failing_since"] = _iso(self.failing_since)
            if self.last_error is not None:
                state["last_error"] = self.last_error
                state["last_error_at"] = _iso(self.last_error_at)
            return state


class JobRegistry:
    """The node's jobs by name, so /readyz can list them; one per process and node."""

    def __init__(self) -> None:
        self._jobs: dict[str, JobHealth] = {}
        self._lock = threading.Lock()

    def job(self, name: str, *, cap_seconds: float = 30.0) -> JobHealth:
        """Return the JobHealth named ``name``, made on first use."""
        with self._lock:
            found = self._jobs.get(name)
            if found is None:
                found = self._jobs[name] = JobHealth(name, cap_seconds=cap_seconds)
            return found

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            jobs = dict(self._jobs)
        return {name: job.snapshot() for name, job in sorted(jobs.items())}

    def failing(self) -> list[str]:
        with self._lock:
            return sorted(name for name, job in self._jobs.items() if job.failures)


def _summary(exc: BaseException) -> str:
    # A statement's message can quote its parameters (record contents): SQLAlchemy errors by class only.
    if type(exc).__module__.startswith("sqlalchemy"):
        orig = getattr(exc, "orig", None)
        return f"{type(exc).__name__} ({type(orig).__name__})" if orig is not None else type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
