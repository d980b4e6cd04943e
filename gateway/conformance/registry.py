"""Conformance cases: one per testable requirement of docs/protocol.md, run in order.

A case is a function of the :class:`~gateway.conformance.target.Target`; it
returns normally when the target behaves as the requirement says, raises
:class:`CaseFailed` saying what it saw instead, or :class:`CaseSkipped` saying
why it could not be run (a missing input, a feature the target must be driven
to exercise). Cases run in registration order: later ones may use what earlier
ones sent (the lifecycle cases correct the flag an earlier case delivered).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import httpx

from gateway.conformance.target import Target


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a test verdict, not a password
    FAIL = "fail"
    SKIP = "skip"


class CaseFailed(Exception):
    """The target did not do what the requirement says; the message says what it did."""


class CaseSkipped(Exception):
    """The case could not run; the message says why and what would let it run."""


CaseFunction = Callable[[Target], None]


@dataclass(frozen=True)
class Case:
    requirement: str  # the id in docs/protocol.md, e.g. RCP-05
    title: str
    run: CaseFunction


@dataclass(frozen=True)
class Result:
    requirement: str
    title: str
    status: Status
    reason: str
    seconds: float


CASES: list[Case] = []


def case(requirement: str, title: str) -> Callable[[CaseFunction], CaseFunction]:
    """Register the decorated function as the case of ``requirement``."""

    def register(function: CaseFunction) -> CaseFunction:
        CASES.append(Case(requirement, title, function))
        return function

    return register


def run_case(target: Target, item: Case) -> Result:
    """Run one case; an unexpected exception is a failure of that case, never of the run."""
    started = time.monotonic()
    try:
        item.run(target)
        status, reason = Status.PASS, ""
    except CaseFailed as exc:
        status, reason = Status.FAIL, str(exc)
    except CaseSkipped as exc:
        status, reason = Status.SKIP, str(exc)
    except httpx.HTTPError as exc:
        status, reason = Status.FAIL, f"transport error: {type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a broken answer must fail its case, not stop the kit
        status, reason = Status.FAIL, f"{type(exc).__name__}: {exc}"
    return Result(item.requirement, item.title, status, reason, time.monotonic() - started)


def expect(condition: bool, message: str) -> None:
    """Raise CaseFailed with ``message`` unless ``condition``."""
    if not condition:
        raise CaseFailed(message)
