"""Real ``gateway serve`` and ``gateway worker`` processes for the operations tests.

Each child writes its output to a file; ports are chosen by the child (port 0)
and read back from the line ``gateway serve`` prints at start.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

AGENCY_LINE = re.compile(r"agency listener http://127\.0\.0\.1:(\d+)")


def gateway_command() -> str:
    beside = Path(sys.executable).parent / "gateway"
    found = str(beside) if beside.exists() else shutil.which("gateway")
    assert found, "the gateway console script is not installed"
    return found


class GatewayProcess:
    """One ``gateway <args> --config FILE`` child process, output in ``log``."""

    def __init__(self, args: list[str], config: Path, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [gateway_command(), *args, "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400"},
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text("utf-8", "replace")[-3000:]

    def agency_url(self, timeout: float = 30.0) -> str:
        """Return the agency listener URL once the process printed it and answers /healthz."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.alive(), f"gateway exited early:\n{self.output()}"
            found = AGENCY_LINE.search(self.log.read_text("utf-8", "replace"))
            if found:
                url = f"http://127.0.0.1:{found.group(1)}"
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        return url
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"no agency listener within {timeout}s:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
