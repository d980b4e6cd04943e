"""Every command that opens the database says in one line when it cannot, and exits 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_gateway
from tests.support.databases import require_postgres
from tests.support.exchange import write_settings_toml
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI

REFUSED = "postgresql+psycopg://postgres@127.0.0.1:1/gateway"  # nothing listens on port 1
REFUSED_LINE = (
    "error: Database unavailable: cannot reach the database server at 127.0.0.1:1 (Connection refused) — "
    "start the database server or correct GATEWAY_DATABASE_URL (or database_url in the config file)"
)
DRIVER_LINE = (
    "error: Configuration error: the database URL names the driver 'postgres', which is not installed or not "
    "known — write e.g. postgresql+psycopg://USER@HOST:5432/NAME in GATEWAY_DATABASE_URL (or database_url)"
)


def config_for(pki: TestPKI, tmp_path: Path, database_url: str) -> str:
    partners = {"CO": "https://127.0.0.1:9443"}  # no start-up warning besides the line under test
    settings = node_settings(pki, "PA", database_url, tmp_path / "var", partners)
    return str(write_settings_toml(tmp_path / "gateway.toml", settings))


@pytest.mark.parametrize(
    "command", [["db", "upgrade"], ["clients", "list"], ["deliveries", "list"], ["worker"], ["serve"]]
)
def test_unreachable_database_is_one_line(
    command: list[str],
    pki: TestPKI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcome = run_gateway(capsys, monkeypatch, *command, "--config", config_for(pki, tmp_path, REFUSED))
    assert outcome.code == 1
    assert outcome.error_lines == [REFUSED_LINE]


def test_missing_database_is_one_line(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgres()
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/gateway_no_such_database"
    outcome = run_gateway(capsys, monkeypatch, "db", "upgrade", "--config", config_for(pki, tmp_path, url))
    assert outcome.code == 1
    assert outcome.error_lines == [
        "error: Database unavailable: the database 'gateway_no_such_database' does not exist on the server at "
        "127.0.0.1:5432 — create it (e.g. `createdb gateway_no_such_database`) and run `gateway db upgrade`, "
        "or correct GATEWAY_DATABASE_URL (or database_url in the config file)"
    ]


@pytest.mark.parametrize("command", [["db", "upgrade"], ["officers", "list"], ["worker"]])
def test_postgres_driver_name_is_one_line(
    command: list[str],
    pki: TestPKI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = config_for(pki, tmp_path, "postgres://postgres@127.0.0.1:5432/gateway")
    outcome = run_gateway(capsys, monkeypatch, *command, "--config", config)
    assert outcome.code == 1
    assert outcome.error_lines == [DRIVER_LINE]


def test_driver_name_from_the_environment_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_PARTY", "PA")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gateway")
    outcome = run_gateway(capsys, monkeypatch, "db", "upgrade")
    assert outcome.code == 1
    assert outcome.error_lines == [DRIVER_LINE]


def test_sqlite_in_a_missing_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_PARTY", "PA")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path}/absent/gateway.sqlite3")
    outcome = run_gateway(capsys, monkeypatch, "db", "upgrade")
    assert outcome.code == 1
    assert outcome.error_lines == [
        f"error: Configuration error: the directory of the SQLite database {tmp_path}/absent/gateway.sqlite3 "
        "does not exist — create it, correct data_dir, or set GATEWAY_DATABASE_URL"
    ]
