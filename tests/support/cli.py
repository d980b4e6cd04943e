"""Run ``gateway`` in this process through its real entry point (``gateway.cli.main``).

``main`` is where gateway and database errors become one line and an exit
code; typer's CliRunner calls the app below it, so these tests go through main.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from gateway.cli import main


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_gateway(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> Outcome:
    """Run ``gateway ARGS`` and return its exit code and output."""
    monkeypatch.setattr(sys, "argv", ["gateway", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    code = exited.value.code
    return Outcome(code if isinstance(code, int) else 1, captured.out, captured.err)
