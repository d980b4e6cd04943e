"""How long `gateway --help` and the import of gateway.cli take (item 6 of issue 16: under 0.5 s).

Run: .venv/bin/python bench/cli_startup.py  — prints the median of 7 runs of each.
The figures depend on the machine and its load; compare before/after on the same machine.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall(args: list[str], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def import_microseconds(module: str) -> int:
    """Cumulative import time of ``module`` from ``python -X importtime`` (its own line)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, check=True
    )
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1])
    raise SystemExit(f"no import line for {module}")


def main() -> None:
    gateway = (
        str(Path(sys.executable).parent / "gateway")
        if (Path(sys.executable).parent / "gateway").exists()
        else shutil.which("gateway")
    )
    assert gateway, "the gateway console script is not installed"
    print(f"gateway --help           median wall time {wall([gateway, '--help']):.3f} s")
    print(f"python -c 'pass'         median wall time {wall([sys.executable, '-c', 'pass']):.3f} s (interpreter alone)")
    print(f"import gateway.cli       {import_microseconds('gateway.cli') / 1e6:.3f} s cumulative (-X importtime)")


if __name__ == "__main__":
    main()
