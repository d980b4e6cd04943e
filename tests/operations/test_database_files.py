"""SQLite database files are created 0600 (issue 14, item 7g): they hold hashes, TOTP seeds and record bodies.

Before: SQLite created them with the process umask, world-readable under the usual 022.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.db import make_engine, sqlite_file
from gateway.migrate import upgrade


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("usual_umask")
def test_a_new_database_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "gateway.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    try:
        upgrade(engine)  # the schema, written in WAL mode
        with engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM officers"))
            wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
            assert wal.exists()  # while a connection is open
            assert shm.exists()
            assert {p.name: _mode(p) for p in (database, wal, shm)} == {
                "gateway.sqlite3": 0o600,
                "gateway.sqlite3-wal": 0o600,
                "gateway.sqlite3-shm": 0o600,
            }
    finally:
        engine.dispose()


@pytest.mark.usefixtures("usual_umask")
def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite3"
    database.touch(mode=0o640)  # e.g. a backup group given read access on purpose
    make_engine(f"sqlite:///{database}").dispose()
    assert _mode(database) == 0o640


def test_only_sqlite_files_are_touched() -> None:
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("postgresql+psycopg://postgres@127.0.0.1/x") is None
    assert sqlite_file("sqlite:////var/lib/gw/gateway.sqlite3") == "/var/lib/gw/gateway.sqlite3"


def test_file_uris_name_their_file() -> None:
    assert sqlite_file("sqlite:///file:/var/lib/gw/g.sqlite3?mode=rwc&uri=true") == "/var/lib/gw/g.sqlite3"
    assert sqlite_file("sqlite:///file:mem?mode=memory&cache=shared&uri=true") is None


@pytest.mark.usefixtures("usual_umask")
@pytest.mark.parametrize("source", ["data_dir env", "url env", "relative url env", "file uri env", "toml data_dir"])
def test_gateway_db_upgrade_creates_0600_whatever_the_settings_source(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.cli import run_gateway

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_PARTY", "PA")
    args = ["db", "upgrade"]
    expected = tmp_path / "var" / "gateway.sqlite3"
    if source == "data_dir env":
        monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    elif source == "url env":
        monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'abs.sqlite3'}")
        expected = tmp_path / "abs.sqlite3"
    elif source == "relative url env":
        monkeypatch.setenv("GATEWAY_DATABASE_URL", "sqlite:///rel.sqlite3")
        expected = tmp_path / "rel.sqlite3"
    elif source == "file uri env":
        monkeypatch.setenv("GATEWAY_DATABASE_URL", "sqlite:///file:uri.sqlite3?uri=true")
        expected = tmp_path / "uri.sqlite3"
    else:
        (tmp_path / "gateway.toml").write_text('[gateway]\nparty = "PA"\ndata_dir = "toml-var"\n', "utf-8")
        args += ["--config", str(tmp_path / "gateway.toml")]
        expected = tmp_path / "toml-var" / "gateway.sqlite3"
    outcome = run_gateway(capsys, monkeypatch, *args)
    assert outcome.code == 0, outcome.stderr
    assert _mode(expected) == 0o600
