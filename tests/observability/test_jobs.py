"""JobHealth: a background loop that logs a failure once, backs off, and says when it works again."""

from __future__ import annotations

import logging
import threading

import pytest

from gateway.observability.jobs import JobHealth, JobRegistry


def test_repeat_backs_off_after_a_failure_logs_it_once_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    health = JobHealth("terms sync", base_seconds=0.001, cap_seconds=0.004)
    outcomes = iter([RuntimeError("partner away"), RuntimeError("partner away"), RuntimeError("partner away"), None])
    rounds: list[str] = []

    def round_() -> None:
        outcome = next(outcomes, None)
        rounds.append("failed" if outcome else "ok")
        if outcome is not None:
            raise outcome
        if rounds.count("ok") == 2:
            stop.set()

    with caplog.at_level(logging.DEBUG, logger="gateway.jobs"):
        # The interval is long: only the backoff (capped at 4 ms) can bring the retries this soon.
        worker = threading.Thread(target=health.repeat, args=(stop, 0.05, round_))
        worker.start()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert rounds == ["failed", "failed", "failed", "ok", "ok"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["terms sync: round failed; retrying with backoff up to 0 s"]
    assert next(r.getMessage() for r in caplog.records if r.levelno == logging.INFO).startswith(
        "terms sync: working again after 3 failed rounds"
    )
    assert health.snapshot()["state"] == "ok"
    assert health.snapshot()["last_error"] == "RuntimeError: partner away"


def test_a_failing_job_shows_in_the_registry_until_it_works_again() -> None:
    jobs = JobRegistry()
    health = jobs.job("standing check")
    assert jobs.failing() == []
    health.failed(ValueError("bad CRL"))
    assert jobs.failing() == ["standing check"]
    assert jobs.snapshot()["standing check"]["state"] == "failing"
    health.succeeded()
    assert jobs.failing() == []


def test_repeat_does_not_run_once_stopped() -> None:
    stop = threading.Event()
    stop.set()
    ran: list[int] = []
    JobHealth("retention").repeat(stop, 60.0, lambda: ran.append(1))
    assert ran == []
