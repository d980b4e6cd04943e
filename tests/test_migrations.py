"""Alembic migrations: they build the schema from nothing, and the models never drift from them."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import gateway.models  # noqa: F401 - every table on Base.metadata
from gateway.db import Base, make_engine
from gateway.migrate import MIGRATIONS_DIR, alembic_config, current_revision, upgrade
from tests.support.databases import PG_URL_TEMPLATE, _admin, require_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An empty database (nothing migrated) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('mig') / 'empty.sqlite3'}"
        return
    require_postgres()
    name = f"gwt_mig_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    yield PG_URL_TEMPLATE.format(name=name)
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upgrade_head_on_an_empty_database_creates_every_table(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert current_revision(engine) == head
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
        assert differences == [], f"models differ from migrations (write a new migration): {differences}"
    finally:
        engine.dispose()


def test_migration_files_form_one_dated_linear_history() -> None:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    assert len(script.get_heads()) == 1, "more than one Alembic head: merge or rebase the migration"
    for revision in script.walk_revisions():
        assert revision.path is not None
        name = revision.path.rsplit("/", 1)[-1]
        assert name[:8].isdigit(), f"{name}: migration files start with their date (YYYYMMDD_)"
