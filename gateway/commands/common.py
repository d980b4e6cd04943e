"""What every command shares: settings loading, output and error reporting."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gateway.settings import Settings, load_settings

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (environment GATEWAY_* also applies)."),
]


def settings_from(config: Path | None) -> Settings:
    """Return Settings; a configuration error reaches the CLI's error handler."""
    return load_settings(config)


def fail(message: str, hint: str = "") -> None:
    """Print a one-line error (and what to do) and exit 1."""
    stderr.print(f"[red]error:[/red] {message}" + (f" — {hint}" if hint else ""), soft_wrap=True)
    raise typer.Exit(1)


def write_stdout_text(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
