"""Waking the delivery threads of one process when new work is committed, and letting work gather between them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Wakeup:
    """Hands "new work" signals to waiting delivery threads, one thread per signal.

    A ``threading.Event`` woke every waiting thread for each committed record:
    all of them claimed, one found the record and the others an empty queue,
    and an empty claim is a database transaction. Here a signal wakes one
    waiter, and signals given while no thread waits are kept for the next one,
    which then claims everything due at once.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._signals = 0
        self._broadcasts = 0  # wake_all calls so far: every thread waiting at one returns

    def set(self) -> None:
        """Signal new work: wakes one waiting thread, or the next thread to wait."""
        with self._condition:
            self._signals += 1
            self._condition.notify()

    def wake_all(self) -> None:
        """Wake every thread waiting now (to stop one of them), leaving pending signals as they are."""
        with self._condition:
            self._broadcasts += 1
            self._condition.notify_all()

    def wait(self, timeout: float) -> bool:
        """Take the pending signals and return True, or return False after ``timeout`` seconds (the poll).

        A thread woken after another took the signals waits on for the rest of
        ``timeout``; ``wake_all`` ends every wait at once (True, signals left).
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            broadcasts = self._broadcasts
            while self._signals == 0:
                if self._broadcasts != broadcasts:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
            self._signals = 0
            return True


class DeliveryLane:
    """Lets new work gather behind a small delivery in flight, instead of going out in a request of its own.

    Under a steady trickle (a few records a second per process) every record
    used to leave in its own request: one thread sent it, and the next record,
    committed while that request was away, woke the other thread, which sent
    that one alone too. Each request costs a claim, a TLS round, the
    partner's transaction and a settle, whatever its size. A thread now takes
    the lane before claiming and keeps it while it sends a claim that was not
    full; the next thread waits for the lane (at most ``wait`` seconds, so a
    slow or unreachable partner delays others by no more than that) and then
    claims everything that queued up meanwhile: one request, like a group
    commit. A full claim is a backlog: the lane is released before sending,
    so the next thread claims the next batch and both are in flight at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @contextmanager
    def turn(self, wait: float) -> Iterator[LaneTurn]:
        """Take the lane for one claim and send, waiting at most ``wait`` seconds for it (0: never)."""
        held = self._lock.acquire(timeout=wait) if wait > 0 else False
        turn = LaneTurn(self._lock if held else None)
        try:
            yield turn
        finally:
            turn.release()


class LaneTurn:
    """One thread's hold on the lane (none when its wait ran out); released at most once."""

    def __init__(self, lock: threading.Lock | None) -> None:
        self._lock = lock

    @property
    def held(self) -> bool:
        return self._lock is not None

    def release(self) -> None:
        """Give the lane to the next thread now (a full claim: let it claim the next batch while this one sends)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
