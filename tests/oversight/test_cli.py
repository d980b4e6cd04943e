"""``gateway report`` on an SQLite node database: formats, files, and one-line errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.migrate import upgrade
from gateway.settings import load_settings
from tests.oversight.synthetic import PERSONAL, build_january

runner = CliRunner()
PERIOD = ["--from", "2026-01-01", "--to", "2026-02-01"]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A settings file whose node database (SQLite in data_dir) holds the known January."""
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\nparty = "PA"\ndata_dir = "{tmp_path / "var"}"\n', "utf-8")
    settings = load_settings(path)
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.sqlalchemy_url())
    upgrade(engine)
    with transaction(make_sessionmaker(engine)) as session:
        build_january(session)
    engine.dispose()
    return path


def report(config: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["report", *args, "--config", str(config)])
    return result.exit_code, result.stdout, result.stderr


def test_table_on_the_terminal_by_default(config: Path) -> None:
    code, out, _ = report(config, *PERIOD)
    assert code == 0
    assert "Oversight report of PA — 2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z" in out
    assert "terms_unknown" in out
    assert not [value for value in PERSONAL if value in out]


def test_csv_to_stdout_and_html_to_a_file(config: Path, tmp_path: Path) -> None:
    code, out, _ = report(config, *PERIOD, "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert ["records_sent", "US", "removal_manifest", "", "rejected", "1"] in rows
    assert ["suspect_records", "", "", "all", "count", "2"] in rows

    page = tmp_path / "report.html"
    code, out, err = report(config, *PERIOD, "--format", "html", "--out", str(page))
    assert (code, out) == (0, "")
    assert err.strip() == f"report written to {page}"
    html = page.read_text("utf-8")
    assert html.count("<svg ") == 3
    assert "<script" not in html

    table = tmp_path / "report.txt"
    code, _, _ = report(config, *PERIOD, "--out", str(table))
    assert code == 0
    assert "Records sent: deliveries by recipient and record type" in table.read_text("utf-8")
    assert "Records flagged in the period: 2;" in table.read_text("utf-8")
    assert '<section id="suspect_records">' in html


def test_a_single_day_is_a_narrower_period(config: Path) -> None:
    code, out, _ = report(config, "--from", "2026-01-05", "--to", "2026-01-06", "--format", "csv")
    assert code == 0
    sent = [row for row in csv.reader(io.StringIO(out)) if row[0] == "records_sent" and row[5] != "0"]
    assert sent == [
        ["records_sent", "CO", "removal_manifest", "", "delivered", "1"],
        ["records_sent", "US", "removal_manifest", "", "rejected", "1"],
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01", "--to", "2026-02-01"], "error: --from '2026-13-01' is not a date"),
        (["--from", "2026-01-01", "--to", "soon"], "error: --to 'soon' is not a date"),
        (["--from", "2026-02-01", "--to", "2026-02-01"], "error: the period is empty"),
        (["--from", "2026-03-01", "--to", "2026-02-01"], "error: the period is empty"),
        ([*PERIOD, "--format", "html"], "error: --format html needs --out FILE"),
    ],
)
def test_bad_arguments_are_one_line_errors(config: Path, args: list[str], message: str) -> None:
    code, out, err = report(config, *args)
    assert code == 1
    assert out == ""
    assert err.startswith(message)
    assert len(err.strip().splitlines()) == 1
