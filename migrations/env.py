"""Alembic environment: runs against the Engine handed over by gateway.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import gateway.models  # noqa: F401 - registers every table on Base.metadata
from gateway.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine: Engine = config.attributes["engine"]
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            render_as_batch=sqlite,
        )
        if sqlite:
            # SQLite alters a table by rebuilding it (copy, drop, rename); with
            # foreign keys on, dropping a table that rows point at fails. Its
            # documented procedure: keys off (outside any transaction, hence on
            # the driver connection), foreign_key_check before commit, keys on.
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if dangling:
                        raise RuntimeError(f"migration left rows pointing at missing rows: {dangling[:5]}")
            connection.commit()
        finally:
            if sqlite:
                connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


run_migrations_online()
