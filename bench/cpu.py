"""CPU seconds spent by processes, read from /proc: the yardstick that a busy machine does not bend.

Wall-clock records/s on two shared cores measure the load generator and the
database as much as the node. The CPU time a process consumed (user + system,
all its threads) during a phase does not depend on what else the machine was
doing, so "records per CPU-second of the node" compares fairly with "requests
per CPU-second of a bare endpoint" measured in the same run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    return raw[raw.rindex(")") + 2 :].split()


def process_cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """Return utime + stime of ``pid`` (all threads), plus reaped children's when asked."""
    fields = _stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(f"no process {pid}")
    # After the name: state is index 0, utime 11, stime 12, cutime 13, cstime 14.
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def processes_named(name: str) -> list[int]:
    """Return the pids whose command name is ``name`` (e.g. every PostgreSQL process)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if comm == name:
            pids.append(int(entry.name))
    return pids


def group_cpu_seconds(pids: Iterable[int]) -> float:
    """Return the CPU seconds of ``pids`` and of their reaped children (processes that vanished count 0)."""
    total = 0.0
    for pid in pids:
        try:
            total += process_cpu_seconds(pid, with_children=True)
        except ProcessLookupError:
            continue
    return total


def postgres_cpu_seconds() -> float:
    """Return the CPU seconds of every PostgreSQL process on the machine.

    Backends that exited are counted through the postmaster's reaped-children
    time, so connections opened and closed during a phase are not lost. Other
    users of the same server (e.g. a test run) are counted too: run benchmarks
    on an otherwise idle database server.
    """
    return group_cpu_seconds(processes_named("postgres"))


class CpuMeter:
    """CPU seconds consumed by named processes between ``start`` and ``stop``."""

    def __init__(self, pids: dict[str, int], *, postgres: bool = False) -> None:
        self._pids = pids
        self._postgres = postgres
        self._started: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        readings = {label: process_cpu_seconds(pid) for label, pid in self._pids.items()}
        if self._postgres:
            readings["postgres"] = postgres_cpu_seconds()
        return readings

    def __enter__(self) -> CpuMeter:
        self._started = self._now()
        return self

    def __exit__(self, *_exc: object) -> None:
        ended = self._now()
        self.spent = {label: round(ended[label] - self._started[label], 3) for label in ended}


def per_cpu_second(count: int, seconds: float) -> float:
    """Return ``count`` per CPU-second, or 0.0 when no CPU time was measurable (under one tick)."""
    return round(count / seconds, 1) if seconds > 0 else 0.0
