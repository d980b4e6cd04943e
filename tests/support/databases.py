"""Isolated, migrated databases on SQLite and PostgreSQL for the test suite.

Each backend is migrated once per session into a template; tests get either a
rolled-back transaction on it or a fresh copy (servers and subprocesses need
their own database they can commit to).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from gateway.db import make_engine
from gateway.migrate import upgrade

PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_URL_TEMPLATE = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
REQUIRE_POSTGRES = os.environ.get("CI", "").lower() == "true"


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    """Skip (locally) or fail (under CI=true) when PostgreSQL cannot be reached."""
    if postgres_available():
        return
    if REQUIRE_POSTGRES:
        pytest.fail("PostgreSQL at 127.0.0.1:5432 is required under CI=true but is unreachable")
    pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


class DatabaseFactory:
    """Makes migrated databases of one backend and drops them at the end."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.workdir = workdir
        self.created: list[str] = []
        self.template = self._migrated_template()

    def _migrated_template(self) -> str:
        if self.backend == "sqlite":
            path = self.workdir / "template.sqlite3"
            engine = make_engine(f"sqlite:///{path}")
            upgrade(engine)
            engine.dispose()
            return str(path)
        name = f"gwt_tpl_{uuid.uuid4().hex[:12]}"
        _admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        engine = make_engine(PG_URL_TEMPLATE.format(name=name), poolclass=None)
        upgrade(engine)
        engine.dispose()
        return name

    def template_url(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.template}"
        return PG_URL_TEMPLATE.format(name=self.template)

    def fresh_url(self) -> str:
        """Return the URL of a new, migrated, empty database of this backend."""
        if self.backend == "sqlite":
            path = self.workdir / f"db-{uuid.uuid4().hex[:12]}.sqlite3"
            shutil.copyfile(self.template, path)
            return f"sqlite:///{path}"
        name = f"gwt_{uuid.uuid4().hex[:16]}"
        _admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return PG_URL_TEMPLATE.format(name=name)

    def drop_all(self) -> None:
        if self.backend != "postgres":
            return
        for name in reversed(self.created):
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_all(engine: Engine) -> None:
    """Empty every table (used by tests that commit through several sessions)."""
    from gateway.db import Base

    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DELETE FROM "{table.name}"'))  # noqa: S608 - names from our metadata


# Backends as fixture params, for fixtures that outlive one test (module or package scope).
BACKEND_PARAMS = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]


def factory_for(
    name: str, factories: dict[str, DatabaseFactory], tmp_path_factory: pytest.TempPathFactory
) -> DatabaseFactory:
    """The session-wide DatabaseFactory of backend ``name`` (PostgreSQL required under CI)."""
    if name == "postgres":
        require_postgres()
    if name not in factories:
        factories[name] = DatabaseFactory(name, tmp_path_factory.mktemp(f"db-{name}"))
    return factories[name]
