"""The oversight report as terminal tables (rich), CSV, and a self-contained HTML page with SVG bar charts.

The terminal and HTML forms show the same sections (``sections``); CSV has
one row per figure in a fixed set of columns, for spreadsheets. The HTML page
has no script and loads nothing: its style and charts are inline, and every
value goes through Jinja2's autoescaping.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from jinja2 import Environment, FileSystemLoader
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gateway.oversight.service import DELIVERY_STATUSES, PERIOD_BASIS, OversightReport
from gateway.records.signing import rfc3339

TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "templates"
CSV_COLUMNS: Final = ("section", "party", "record_type", "category", "metric", "value")
_DIRECTION = {"in": "received", "out": "sent"}
_OWN = {"in": "received", "out": "own"}
_REJECTED_BY = {"in": "received, rejected here", "out": "sent, rejected by partner"}


@dataclass(frozen=True, slots=True)
class Section:
    """One table of the report: a title, column names and rows of display strings."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def period_label(report: OversightReport) -> str:
    return f"{rfc3339(report.start)} to {rfc3339(report.end)}"


def sections(report: OversightReport) -> list[Section]:
    """Return the report's tables, in reading order."""
    sent = [
        (s.recipient, s.record_type, *(str(getattr(s, k)) for k in DELIVERY_STATUSES), str(s.total))
        for s in report.sent
    ]
    if report.sent:
        totals = [sum(getattr(s, k) for s in report.sent) for k in DELIVERY_STATUSES]
        sent.append(("all", "all", *(str(n) for n in totals), str(sum(totals))))
    received = [
        (r.sender, r.record_type, str(r.accepted), str(r.rejected), str(r.accepted + r.rejected))
        for r in report.received
    ]
    if report.received:
        accepted, rejected = sum(r.accepted for r in report.received), sum(r.rejected for r in report.received)
        received.append(("all", "all", str(accepted), str(rejected), str(accepted + rejected)))
    access = [(a.actor_kind, str(a.views), str(a.distinct_records)) for a in report.access]
    suspects = [(_OWN[s.direction], s.originator, s.record_type, str(s.count)) for s in report.suspects]
    if report.suspects:
        suspects.append(("all", "all", "all", str(report.suspect_records)))
    if report.access:
        access.append(("all", str(report.views), str(report.records_viewed)))
    return [
        Section(
            "records_sent",
            "Records sent: deliveries by recipient and record type (current status)",
            ("to", "record type", *DELIVERY_STATUSES, "total"),
            tuple(sent),
        ),
        Section(
            "records_received",
            "Records received: by sending party and record type",
            ("from", "record type", "accepted", "rejected", "total"),
            tuple(received),
        ),
        Section(
            "rejections",
            "Rejections by reason code",
            ("records", "party", "reason", "count"),
            tuple((_REJECTED_BY[r.direction], r.party, r.reason, str(r.count)) for r in report.rejections),
        ),
        Section(
            "instructions_issued",
            "Corrections and retractions issued: application by each recipient",
            ("type", "to", "sent", "applied", "not held", "pending", "median hours", "max hours"),
            tuple(
                (
                    i.record_type,
                    i.recipient,
                    str(i.issued),
                    str(i.applied),
                    str(i.not_held),
                    str(i.pending),
                    _hours(i.median_hours),
                    _hours(i.max_hours),
                )
                for i in report.instructions_issued
            ),
            f"Records issued: {report.corrections_issued} correction(s), {report.retractions_issued} retraction(s); "
            "each row counts one recipient of them.",
        ),
        Section(
            "instructions_received",
            "Corrections and retractions received: application at this node",
            ("type", "from", "received", "applied", "not held", "not acknowledged"),
            tuple(
                (i.record_type, i.originator, str(i.received), str(i.applied), str(i.not_held), str(i.unacknowledged))
                for i in report.instructions_received
            ),
        ),
        Section(
            "deletions",
            "Record bodies deleted",
            ("reason", "records", "count"),
            tuple((d.reason, "own" if d.direction == "out" else "received", str(d.count)) for d in report.deletions),
        ),
        Section(
            "legal_holds",
            "Legal holds",
            ("placed", "released"),
            ((str(report.legal_holds_placed), str(report.legal_holds_released)),),
        ),
        Section("access", "Access to records (views)", ("actor kind", "views", "distinct records"), tuple(access)),
        Section(
            "sign_ins",
            "Console sign-ins by method (oidc: the agency's identity provider; password_totp: break-glass)",
            ("method", "count"),
            tuple((i.method, str(i.count)) for i in report.sign_ins),
        ),
        Section(
            "suspect_records",
            "Records found suspect: signing key compromised before receipt (standing check)",
            ("records", "originator", "record type", "count"),
            tuple(suspects),
            f"Records flagged in the period: {report.suspect_records}; the officers who had reviewed them "
            "were notified on the console.",
        ),
        Section(
            "dead_deliveries",
            "Dead deliveries (given up) by recipient",
            ("to", "count"),
            tuple((d.party, str(d.count)) for d in report.dead_deliveries),
        ),
        Section(
            "notices",
            "Onward sharing, discrepancies and deletion notices",
            ("notice", "direction", "party", "count"),
            tuple((n.notice, _DIRECTION[n.direction], n.party, str(n.count)) for n in report.notices),
        ),
    ]


# -- terminal ---------------------------------------------------------------


def print_report(report: OversightReport, console: Console) -> None:
    """Print the report as rich tables, then what each figure counts."""
    # Styled Text, not markup: the CLI's consoles read no markup (a value could carry brackets).
    heading = Text(f"Oversight report of {report.party}", style="bold")
    console.print(heading + f" — {period_label(report)}", soft_wrap=True)
    console.print(f"generated {rfc3339(report.generated_at)}; counts only, no personal data", soft_wrap=True)
    for section in sections(report):
        console.print(Text(f"\n{section.title}", style="bold"))
        if section.note:
            console.print(section.note, markup=False)
        if not section.rows:
            console.print("none in this period")
            continue
        table = Table(*section.columns)
        for row in section.rows:
            table.add_row(*row)
        console.print(table)
    console.print(Text("\nBasis of each figure", style="bold"))
    for topic, basis in PERIOD_BASIS:
        console.print(f"  {topic}: {basis}", soft_wrap=True, markup=False)


# -- CSV --------------------------------------------------------------------


def csv_rows(report: OversightReport) -> list[tuple[str, str, str, str, str, str]]:
    """Return one row per figure: (section, party, record_type, category, metric, value)."""
    rows: list[tuple[str, str, str, str, str, str]] = [
        ("report", report.party, "", "", "period_start", rfc3339(report.start)),
        ("report", report.party, "", "", "period_end", rfc3339(report.end)),
        ("report", report.party, "", "", "generated_at", rfc3339(report.generated_at)),
    ]
    for s in report.sent:
        rows += [("records_sent", s.recipient, s.record_type, "", k, str(getattr(s, k))) for k in DELIVERY_STATUSES]
    for r in report.received:
        rows += [
            ("records_received", r.sender, r.record_type, "", "accepted", str(r.accepted)),
            ("records_received", r.sender, r.record_type, "", "rejected", str(r.rejected)),
        ]
    for j in report.rejections:
        section = "rejections_received" if j.direction == "in" else "rejections_sent"
        rows.append((section, j.party, "", j.reason, "count", str(j.count)))
    rows += [
        ("instructions_issued", "", "correction", "", "records", str(report.corrections_issued)),
        ("instructions_issued", "", "retraction", "", "records", str(report.retractions_issued)),
    ]
    for i in report.instructions_issued:
        rows += [
            ("instructions_issued", i.recipient, i.record_type, "", "sent", str(i.issued)),
            ("instructions_issued", i.recipient, i.record_type, "", "applied", str(i.applied)),
            ("instructions_issued", i.recipient, i.record_type, "", "not_held", str(i.not_held)),
            ("instructions_issued", i.recipient, i.record_type, "", "pending", str(i.pending)),
            ("instructions_issued", i.recipient, i.record_type, "", "median_hours", _csv_hours(i.median_hours)),
            ("instructions_issued", i.recipient, i.record_type, "", "max_hours", _csv_hours(i.max_hours)),
        ]
    for k in report.instructions_received:
        rows += [
            ("instructions_received", k.originator, k.record_type, "", "received", str(k.received)),
            ("instructions_received", k.originator, k.record_type, "", "applied", str(k.applied)),
            ("instructions_received", k.originator, k.record_type, "", "not_held", str(k.not_held)),
            ("instructions_received", k.originator, k.record_type, "", "unacknowledged", str(k.unacknowledged)),
        ]
    for d in report.deletions:
        rows.append(("deletions", "", "", d.reason, "own" if d.direction == "out" else "received", str(d.count)))
    rows += [
        ("legal_holds", "", "", "", "placed", str(report.legal_holds_placed)),
        ("legal_holds", "", "", "", "released", str(report.legal_holds_released)),
    ]
    for a in report.access:
        rows += [
            ("access", "", "", a.actor_kind, "views", str(a.views)),
            ("access", "", "", a.actor_kind, "distinct_records", str(a.distinct_records)),
        ]
    rows += [
        ("access", "", "", "all", "views", str(report.views)),
        ("access", "", "", "all", "distinct_records", str(report.records_viewed)),
    ]
    rows += [("sign_ins", "", "", i.method, "count", str(i.count)) for i in report.sign_ins]
    rows += [
        ("suspect_records", s.originator, s.record_type, _OWN[s.direction], "count", str(s.count))
        for s in report.suspects
    ]
    rows.append(("suspect_records", "", "", "all", "count", str(report.suspect_records)))
    rows += [("dead_deliveries", d.party, "", "", "count", str(d.count)) for d in report.dead_deliveries]
    rows += [("notices", n.party, "", n.notice, _DIRECTION[n.direction], str(n.count)) for n in report.notices]
    return rows


def _csv_hours(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def csv_text(report: OversightReport) -> str:
    """Return the report as CSV (RFC 4180, header row first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(report))
    return out.getvalue()


# -- HTML with SVG charts ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    series: str  # CSS class of the bar
    y: int
    width: int
    first: bool  # the first bar of its group carries the group's label


@dataclass(frozen=True, slots=True)
class BarChart:
    """A horizontal bar chart laid out for SVG: one group of bars (one per series) per label."""

    title: str
    series: tuple[str, ...]
    bars: tuple[Bar, ...]
    height: int

    LABEL_WIDTH = 200
    BAR_AREA = 360
    WIDTH = 640
    BAR_HEIGHT = 16


def bar_chart(title: str, series: tuple[str, ...], groups: list[tuple[str, tuple[int, ...]]]) -> BarChart:
    """Lay out ``groups`` of (label, one value per series) as horizontal bars scaled to the largest value."""
    if any(len(values) != len(series) for _, values in groups):
        raise ValueError("every group needs one value per series")
    top = max([v for _, values in groups for v in values] + [1])
    bars: list[Bar] = []
    y = 28 if len(series) > 1 else 8  # room for the legend
    for label, values in groups:
        for index, value in enumerate(values):
            width = max(round(BarChart.BAR_AREA * value / top), 1 if value else 0)
            bars.append(Bar(label, value, f"s{index}", y, width, index == 0))
            y += BarChart.BAR_HEIGHT + 2
        y += 8
    return BarChart(title, series, tuple(bars), y + 4)


def charts(report: OversightReport) -> list[BarChart]:
    """Return the charts of the HTML report (only those with something to show)."""
    sent: dict[str, int] = {}
    for s in report.sent:
        sent[s.recipient] = sent.get(s.recipient, 0) + s.total
    received: dict[str, int] = {}
    for r in report.received:
        received[r.sender] = received.get(r.sender, 0) + r.accepted + r.rejected
    parties = sorted(set(sent) | set(received))
    reasons: dict[str, tuple[int, int]] = {}
    for j in report.rejections:
        here, there = reasons.get(j.reason, (0, 0))
        reasons[j.reason] = (here + j.count, there) if j.direction == "in" else (here, there + j.count)
    found = [
        bar_chart(
            "Records sent and received per party",
            ("sent", "received"),
            [(p, (sent.get(p, 0), received.get(p, 0))) for p in parties],
        ),
        bar_chart(
            "Rejections by reason code",
            ("rejected here", "rejected by partner"),
            sorted(reasons.items()),
        ),
        bar_chart("Record views by actor kind", ("views",), [(a.actor_kind, (a.views,)) for a in report.access]),
    ]
    return [chart for chart in found if chart.bars]


def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, keep_trailing_newline=True)
    environment.filters["rfc3339"] = rfc3339
    return environment


def html_document(report: OversightReport) -> str:
    """Return the report as one HTML page: tables, inline SVG bar charts, no script, no external resource."""
    return (
        _environment()
        .get_template("report.html")
        .render(
            report=report,
            period=period_label(report),
            sections=sections(report),
            charts=charts(report),
            basis=PERIOD_BASIS,
            chart=BarChart,
        )
    )
