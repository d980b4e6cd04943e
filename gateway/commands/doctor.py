"""``gateway doctor``: every start-up check of a node, as a table of ok / warning / error with the fix."""

from __future__ import annotations

import typer

from gateway.commands.common import ConfigOption, settings_from
from gateway.commands.output import OutputFormat, OutputOption, print_rows


def doctor(config: ConfigOption = None, output: OutputOption = OutputFormat.TABLE) -> None:
    """Check the configuration as `serve` does at start; exit 1 when a check fails."""
    from gateway.node import utc_now
    from gateway.observability.doctor import Level, run_checks

    findings = run_checks(settings_from(config), utc_now())
    print_rows(
        ["check", "status", "detail", "fix"],
        [(f.check, f.level.value, f.detail, f.fix if f.level != Level.OK else "") for f in findings],
        output,
    )
    if any(f.level == Level.ERROR for f in findings):
        raise typer.Exit(1)
