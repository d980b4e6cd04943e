"""The ledger's ORM models and the Alembic migrations describe the same tables."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from gateway.db import Base

LEDGER_TABLES = {"ledger_head", "ledger_entries", "ledger_nodes", "checkpoints", "witness_status"}


def _table_of(diff: Any) -> str | None:
    # A diff is a tuple like ("add_column", schema, table, column) or a list of them.
    if isinstance(diff, list):
        return _table_of(diff[0])
    for item in diff[1:]:
        name = getattr(item, "name", None) if not isinstance(item, str) else None
        table = getattr(item, "table", None)
        if table is not None:
            return str(table.name)
        if isinstance(item, str) and item in LEDGER_TABLES:
            return item
        if name in LEDGER_TABLES:
            return str(name)
    return None


def test_ledger_models_match_the_migrations(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert [diff for diff in diffs if _table_of(diff) in LEDGER_TABLES] == []
