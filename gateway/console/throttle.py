"""Sign-in throttling: slow a guesser down without letting anyone lock an officer out.

A lockout per account (the old rule: five failures, fifteen minutes) let anyone
who knew an officer's name keep them out of the console. Throttling is keyed
instead on what an attacker controls less cheaply than a user name:

* per (account, source address): the first ``PAIR_FREE_FAILURES`` failures cost
  nothing; after that each attempt must wait ``PAIR_BASE_DELAY`` doubled for
  every further failure, up to ``PAIR_MAX_DELAY``. A success from that source,
  or an administrator's unlock of the account, starts the count again.
* per source address: more than ``SOURCE_MAX_FAILURES`` failures within
  ``WINDOW``, whatever the account names, refuse that source until the oldest
  of them leaves the window.

Failures from one address therefore never slow down the same officer signing
in from another one. Only failed factor checks and unknown names count; a
throttled attempt (not even checked) does not. Both counts are read from the
``console_login_attempts`` audit trail, so every process of a node and every
restart sees the same state. Guessing spread over many addresses stays bounded
by the second factor: a password alone opens nothing without the TOTP code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

PAIR_FREE_FAILURES: Final = 3
PAIR_BASE_DELAY: Final = timedelta(seconds=5)
PAIR_MAX_DELAY: Final = timedelta(minutes=15)
SOURCE_MAX_FAILURES: Final = 30
WINDOW: Final = timedelta(minutes=15)

#: Attempt reasons that count as a failure of the one who tried.
COUNTED_FAILURES: Final = frozenset({"unknown_officer", "wrong_password", "wrong_code", "code_reused"})
#: Reasons that end a run of failures of an (account, source) pair.
RESETS: Final = frozenset({"ok", "unlocked"})


@dataclass(frozen=True)
class Attempt:
    """One earlier attempt, as the throttle needs it."""

    at: datetime
    reason: str


@dataclass(frozen=True)
class Throttled:
    """A refusal before any factor is checked, and when to try again."""

    until: datetime
    scope: str  # "account_source" | "source"

    def retry_after_seconds(self, now: datetime) -> int:
        return max(1, int((self.until - now).total_seconds() + 0.999))


def pair_delay(failures: int) -> timedelta:
    """Return how long after the last failure the next attempt of a pair must wait."""
    if failures < PAIR_FREE_FAILURES:
        return timedelta(0)
    exponent = min(failures - PAIR_FREE_FAILURES, 16)  # 5 s * 2**16 is far past the cap
    delay: timedelta = PAIR_BASE_DELAY * (2**exponent)
    return min(delay, PAIR_MAX_DELAY)


def pair_throttle(attempts: Sequence[Attempt]) -> datetime | None:
    """Return until when an (account, source) pair is throttled, given its attempts newest first.

    ``attempts`` holds the pair's attempts and the account's unlocks.
    """
    failures: list[datetime] = []
    for attempt in attempts:
        if attempt.reason in RESETS:
            break
        if attempt.reason in COUNTED_FAILURES:
            failures.append(attempt.at)
    delay = pair_delay(len(failures))
    return failures[0] + delay if failures and delay else None


def source_throttle(failures: Sequence[datetime]) -> datetime | None:
    """Return until when a source is throttled, given its counted failures in WINDOW newest first."""
    if len(failures) < SOURCE_MAX_FAILURES:
        return None
    # Refused until fewer than SOURCE_MAX_FAILURES remain in the window.
    return failures[SOURCE_MAX_FAILURES - 1] + WINDOW


def decide(pair: Sequence[Attempt], source_failures: Sequence[datetime], now: datetime) -> Throttled | None:
    """Return the throttle in force now, or None when the attempt may be checked."""
    source_until = source_throttle(source_failures)
    if source_until is not None and source_until > now:
        return Throttled(source_until, "source")
    pair_until = pair_throttle(pair)
    if pair_until is not None and pair_until > now:
        return Throttled(pair_until, "account_source")
    return None
