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
