"""Waking the delivery threads of one process when new work is committed."""

from __future__ import annotations

import threading
import time


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
