"""The three forms of the report: same figures, no personal data, a self-contained HTML page."""

from __future__ import annotations

import csv
import dataclasses
import io
import re

from rich.console import Console
from sqlalchemy.orm import Session

from gateway.oversight.rendering import CSV_COLUMNS, csv_text, html_document, print_report
from gateway.oversight.service import OversightReport, SentCount, build_report
from tests.oversight.synthetic import END, PERSONAL, START, FixedNode, build_january


def terminal_text(report: OversightReport) -> str:
    console = Console(record=True, width=200, color_system=None)
    print_report(report, console)
    return console.export_text()


def january(session: Session) -> OversightReport:
    build_january(session)
    return build_report(session, FixedNode(), START, END)


def test_no_personal_data_in_any_format(session: Session) -> None:
    report = january(session)
    for name, text in (("table", terminal_text(report)), ("csv", csv_text(report)), ("html", html_document(report))):
        leaked = [value for value in PERSONAL if value.lower() in text.lower()]
        assert leaked == [], name


def test_csv_has_one_row_per_figure(session: Session) -> None:
    rows = list(csv.reader(io.StringIO(csv_text(january(session)))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {len(row) for row in rows} == {6}
    assert rows[1:4] == [
        ["report", "PA", "", "", "period_start", "2026-01-01T00:00:00Z"],
        ["report", "PA", "", "", "period_end", "2026-02-01T00:00:00Z"],
        ["report", "PA", "", "", "generated_at", "2026-02-03T09:00:00Z"],
    ]
    for expected in (
        ["records_sent", "US", "removal_manifest", "", "rejected", "1"],
        ["records_sent", "CO", "criminal_network_flag", "", "pending", "1"],
        ["records_received", "US", "criminal_network_flag", "", "rejected", "2"],
        ["rejections_received", "CO", "", "bad_signature", "count", "1"],
        ["rejections_sent", "US", "", "terms_unknown", "count", "1"],
        ["instructions_issued", "", "correction", "", "records", "2"],
        ["instructions_issued", "", "retraction", "", "records", "1"],
        ["instructions_issued", "CO", "correction", "", "sent", "2"],
        ["instructions_issued", "CO", "correction", "", "applied", "2"],
        ["instructions_issued", "CO", "correction", "", "median_hours", "3.0000"],
        ["instructions_issued", "US", "correction", "", "median_hours", ""],
        ["instructions_received", "US", "retraction", "", "unacknowledged", "1"],
        ["deletions", "", "", "retraction", "own", "1"],
        ["legal_holds", "", "", "", "placed", "1"],
        ["access", "", "", "officer", "views", "1"],
        ["access", "", "", "all", "distinct_records", "2"],
        ["dead_deliveries", "CO", "", "", "count", "1"],
        ["notices", "US", "", "onward_sharing_consent_refused", "sent", "1"],
    ):
        assert expected in rows, expected
    assert [row for row in rows if row[0] == "suspect_records"] == [
        ["suspect_records", "CO", "criminal_network_flag", "received", "count", "1"],
        ["suspect_records", "PA", "removal_manifest", "own", "count", "1"],
        ["suspect_records", "", "", "all", "count", "2"],
    ]
    assert len(rows) == 1 + 3 + 5 * 4 + 11 * 2 + 4 + 2 + 3 * 6 + 2 * 4 + 2 + 2 + 2 * 2 + 2 + 1 + 2 + 1 + 7


def test_terminal_tables_show_the_figures_and_their_basis(session: Session) -> None:
    text = terminal_text(january(session))
    assert "Oversight report of PA — 2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z" in text
    assert re.search(r"US\s+│\s+removal_manifest\s+│\s+0\s+│\s+0\s+│\s+1\s+│\s+0\s+│\s+0\s+│\s+1", text)
    assert re.search(r"all\s+│\s+all\s+│\s+2\s+│\s+2\s+│\s+1\s+│\s+0\s+│\s+0\s+│\s+5", text)
    assert re.search(r"correction\s+│\s+CO\s+│\s+2\s+│\s+2\s+│\s+0\s+│\s+0\s+│\s+3\.00\s+│\s+4\.00", text)
    assert re.search(r"all\s+│\s+4\s+│\s+2", text)  # views, distinct records
    assert "Records issued: 2 correction(s), 1 retraction(s); each row counts one recipient of them." in text
    assert "deletions: time the body was deleted" in text
    assert "Legal holds" in text
    assert "Records found suspect: signing key compromised before receipt (standing check)" in text
    assert re.search(r"received\s+│\s+CO\s+│\s+criminal_network_flag\s+│\s+1", text)
    assert re.search(r"own\s+│\s+PA\s+│\s+removal_manifest\s+│\s+1", text)
    assert re.search(r"all\s+│\s+all\s+│\s+all\s+│\s+2", text)
    assert "Records flagged in the period: 2; the officers who had reviewed them were notified" in text
    assert "suspect records: time the standing check flagged the record" in text


def test_html_is_self_contained_with_charts(session: Session) -> None:
    page = html_document(january(session))
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert re.search(r"(src|href)\s*=", page) is None
    assert "http://" not in page
    assert "https://" not in page
    assert "url(" not in page
    assert page.count("<svg ") == 3
    assert "<title>Records sent and received per party</title>" in page
    assert "Rejections by reason code" in page
    assert '<section id="instructions_issued">' in page
    assert "<td>terms_unknown</td>" in page
    section = page.split('<section id="suspect_records">')[1].split("</section>")[0]
    assert '<td>received</td><td>CO</td><td>criminal_network_flag</td><td class="n">1</td>' in section
    assert '<td>all</td><td>all</td><td>all</td><td class="n">2</td>' in section


def test_html_escapes_what_it_shows(session: Session) -> None:
    report = dataclasses.replace(
        january(session), sent=(SentCount("<b>CO</b>", "<script>alert(1)</script>", delivered=1),)
    )
    page = html_document(report)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;CO&lt;/b&gt;" in page
