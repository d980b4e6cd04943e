"""What every command shares: settings loading, output and error reporting.

Database and settings modules are imported inside the functions that need
them: every command imports this module, and ``gateway verify`` or
``gateway pki`` should not pay for SQLAlchemy and Alembic at start.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from gateway.database_errors import describe_database_error

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from gateway.settings import Settings

# Markup off: record ids, names and messages print as they are ("[draft].json" stays whole);
# the few styled words ask for it with markup=True and escape what they interpolate.
stdout = Console(highlight=False, markup=False)
stderr = Console(stderr=True, highlight=False, markup=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (environment GATEWAY_* also applies)."),
]


def settings_from(config: Path | None) -> Settings:
    """Return Settings; a configuration error reaches the CLI's error handler."""
    from gateway.settings import load_settings

    return load_settings(config)


def fail(message: str, hint: str = "") -> None:
    """Print a one-line error (and what to do) and exit 1."""
    stderr.print(
        f"[red]error:[/red] {escape(message)}" + (f" — {escape(hint)}" if hint else ""), soft_wrap=True, markup=True
    )
    raise typer.Exit(1)


def write_stdout_text(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


_SETUP_HINT = "check data_dir or database_url, and run `gateway db upgrade` first"


def require_schema(engine: Engine) -> None:
    """Exit 1 with one line unless the database answers and is migrated (raises DatabaseUnavailableError)."""
    from sqlalchemy.exc import OperationalError

    from gateway.migrate import current_revision

    try:
        revision = current_revision(engine)
    except OperationalError as exc:
        raise describe_database_error(exc) from exc
    if revision is None:
        fail("the node's database has no schema", hint=_SETUP_HINT)


@contextmanager
def node_database(settings: Settings) -> Iterator[Session]:
    """Yield a session in one transaction on the node's database; exit 1 if it is not migrated."""
    from gateway.db import make_engine, make_sessionmaker, transaction

    engine = make_engine(settings.sqlalchemy_url())
    try:
        require_schema(engine)
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()
