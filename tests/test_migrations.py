"""Alembic migrations: they build the schema from nothing, and the models never drift from them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

import gateway.models  # noqa: F401 - every table on Base.metadata
from gateway.db import Base, make_engine
from gateway.migrate import MIGRATIONS_DIR, alembic_config, current_revision, downgrade, upgrade
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


# -- 0009: typed record state ---------------------------------------------------------------------------------------

_RECORD_ROW = (
    "INSERT INTO records (pk, record_id, direction, record_type, recipients, stored_at, jws, jws_sha256,"
    " verification, status) VALUES (:pk, :record_id, :direction, :record_type, 'CO', :at, 'x.y.z', :digest,"
    " :verification, :status)"
)
# (pk, direction, record_type, verification, status at 0008)
_ROWS_AT_0008 = [
    (1, "in", "criminal_network_flag", "invalid", "rejected"),  # failed verification
    (2, "in", "criminal_network_flag", "valid", "rejected"),  # an officer rejected it
    (3, "out", "removal_manifest", "valid", "acknowledged:CO"),
    (4, "out", "criminal_network_flag", "valid", "queried:US"),
    (5, "out", "criminal_network_flag", "valid", "sent"),
    (6, "in", "discrepancy_report", "valid", "answered"),
    (7, "in", None, "invalid", "rejected"),  # unreadable: no type
]


def _rows_at_0008(engine: Engine) -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC) if engine.dialect.name == "postgresql" else "2026-12-01 00:00:00"
    with engine.begin() as connection:
        for pk, direction, record_type, verification, status in _ROWS_AT_0008:
            connection.execute(
                text(_RECORD_ROW),
                {
                    "pk": pk,
                    "record_id": f"0193a000-0000-7000-8000-{pk:012d}",
                    "direction": direction,
                    "record_type": record_type,
                    "at": at,
                    "digest": f"{pk:064x}",
                    "verification": verification,
                    "status": status,
                },
            )
        # A delivery points at a record: SQLite's rebuild of ``records`` must keep it valid.
        connection.execute(
            text(
                "INSERT INTO deliveries (record_pk, recipient, status, attempts, created_at, next_attempt_at,"
                " deadline_at) VALUES (3, 'CO', 'cancelled', 0, :at, :at, :at)"
            ),
            {"at": at},
        )


def _statuses(engine: Engine) -> dict[int, tuple[str, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT pk, status, answered_by FROM records ORDER BY pk")).all()
    return {pk: (status, answered_by) for pk, status, answered_by in rows}


def test_0009_splits_rejected_and_compound_statuses_and_checks_values(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        upgrade(engine, "0008")
        _rows_at_0008(engine)
        upgrade(engine, "0009")
        assert _statuses(engine) == {
            1: ("failed_verification", None),
            2: ("rejected", None),
            3: ("acknowledged", "CO"),
            4: ("queried", "US"),
            5: ("sent", None),
            6: ("answered", None),
            7: ("failed_verification", None),
        }
        with engine.connect() as connection:
            assert connection.execute(text("SELECT status FROM deliveries")).scalar_one() == "cancelled"
        # Each typed column refuses a value outside its enum, on both backends.
        for statement in (
            "UPDATE records SET status = 'acknowledged:CO' WHERE pk = 3",
            "UPDATE records SET direction = 'up' WHERE pk = 3",
            "UPDATE records SET verification = 'unsure' WHERE pk = 3",
            "UPDATE records SET record_type = 'postcard' WHERE pk = 3",
            "UPDATE deliveries SET status = 'lost'",
        ):
            with pytest.raises(IntegrityError, match=r"(?i)check"), engine.begin() as connection:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def test_0009_downgrade_restores_the_old_values(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        upgrade(engine, "0008")
        _rows_at_0008(engine)
        upgrade(engine, "0009")
        downgrade(engine, "0008")
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT pk, status FROM records ORDER BY pk")).all()
            columns = {c["name"] for c in inspect(connection).get_columns("records")}
        assert dict(rows) == {pk: status for pk, _, _, _, status in _ROWS_AT_0008}
        assert "answered_by" not in columns
    finally:
        engine.dispose()


def test_typed_columns_keep_their_check_constraints_at_head(empty_url: str) -> None:
    # A later migration that rebuilds ``records`` on SQLite must carry the constraints over.
    engine = make_engine(empty_url)
    try:
        upgrade(engine, "0008")
        _rows_at_0008(engine)
        upgrade(engine)
        for statement in (
            "UPDATE records SET status = 'acknowledged:CO' WHERE pk = 3",
            "UPDATE records SET direction = 'up' WHERE pk = 3",
            "UPDATE deliveries SET status = 'lost'",
        ):
            with pytest.raises(IntegrityError, match=r"(?i)check"), engine.begin() as connection:
                connection.execute(text(statement))
    finally:
        engine.dispose()
