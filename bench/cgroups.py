"""A CPU budget per process: cgroup v1 ``cpu`` controller quotas, for benchmarks that show scaling.

On two shared cores, "twice the instances" cannot mean "twice the CPU". A
quota per instance can: each instance gets the same slice (``quota`` CPUs,
e.g. 0.3), so adding instances adds CPU the way adding machines would, until
something outside the quotas (the database, the load clients) saturates.
Needs root and the v1 hierarchy at /sys/fs/cgroup/cpu (as on these machines);
:func:`quota_support` says why not otherwise.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CPU_ROOT = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100_000


def quota_support() -> str | None:
    """Return None when quotas can be set here, else the reason they cannot."""
    if not (CPU_ROOT / "cpu.cfs_quota_us").exists():
        return f"no cgroup v1 cpu controller at {CPU_ROOT} (cgroup v2 only, or not mounted)"
    if os.geteuid() != 0:
        return "setting CPU quotas needs root"
    return None


class CpuQuota:
    """One cgroup under /sys/fs/cgroup/cpu/mou-bench/ limited to ``cpus`` CPUs."""

    def __init__(self, name: str, cpus: float) -> None:
        if cpus <= 0:
            raise ValueError("a CPU quota must be more than 0")
        self.path = CPU_ROOT / "mou-bench" / name
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (self.path / "cpu.cfs_quota_us").write_text(str(int(cpus * PERIOD_US)))

    def add(self, pid: int) -> None:
        """Move ``pid`` (and the threads it starts from now on) into this group."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttled(self) -> dict[str, int]:
        """Return the kernel's throttling counters (periods, throttled periods, throttled ns)."""
        fields = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        return {
            "periods": int(fields["nr_periods"]),
            "throttled_periods": int(fields["nr_throttled"]),
            "throttled_ms": int(fields["throttled_time"]) // 1_000_000,
        }

    def remove(self) -> None:
        """Remove the group once its processes exited (the kernel refuses while any remain)."""
        with contextlib.suppress(OSError):
            self.path.rmdir()


def machine_idle_seconds() -> float:
    """Return the machine's idle CPU seconds so far (all CPUs), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")  # idle + iowait
