"""``gateway report``: the per-period oversight report (counts only, no personal data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gateway.commands.audit import ledger_session
from gateway.commands.common import ConfigOption, fail, settings_from, stderr, stdout, write_stdout_text
from gateway.node import utc_now
from gateway.oversight.rendering import csv_text, html_document, print_report
from gateway.oversight.service import build_report


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    HTML = "html"


@dataclass(frozen=True)
class _ReportingParty:
    """The node as the report sees it: reading the database needs no keys or partners."""

    party: str

    def now(self) -> datetime:
        return utc_now()


def parse_bound(value: str, option: str) -> datetime:
    """Return ``value`` (a date ``YYYY-MM-DD``, or an ISO 8601 time; UTC unless it has an offset) as aware UTC.

    A date stands for its midnight UTC. Exits 1 with a one-line error on anything else.
    """
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} {value!r} is not a date", hint="use YYYY-MM-DD (UTC), e.g. 2026-01-01")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def report(
    start: Annotated[str, typer.Option("--from", help="First day of the period (YYYY-MM-DD, UTC, included).")],
    end: Annotated[str, typer.Option("--to", help="Day after the period (YYYY-MM-DD, UTC, excluded).")],
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="table (terminal), csv, or html (with charts).")
    ] = ReportFormat.TABLE,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file (required for html).")] = None,
    config: ConfigOption = None,
) -> None:
    """Oversight report of a period: records sent and received, rejections, corrections, deletions, access.

    Counts only, by party code, record type and reason code: no personal data.
    """
    begin, finish = parse_bound(start, "--from"), parse_bound(end, "--to")
    if begin >= finish:
        fail(f"the period is empty: --from {start} is not before --to {end}")
    if output_format is ReportFormat.HTML and out is None:
        fail("--format html needs --out FILE")
    settings = settings_from(config)
    with ledger_session(settings, None) as session:
        built = build_report(session, _ReportingParty(settings.party), begin, finish)
    if out is None:
        if output_format is ReportFormat.TABLE:
            print_report(built, stdout)
        else:
            write_stdout_text(csv_text(built))
        return
    try:
        if output_format is ReportFormat.TABLE:
            with out.open("w", encoding="utf-8") as handle:
                print_report(built, Console(file=handle, width=120, color_system=None, highlight=False))
        else:
            text = csv_text(built) if output_format is ReportFormat.CSV else html_document(built)
            out.write_bytes(text.encode("utf-8"))
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    stderr.print(f"report written to {out}", soft_wrap=True)
