"""Database plumbing: declarative base with a naming convention, engines, sessions.

One transaction per request or worker job, opened at the edge (``transaction``);
services receive a Session and never commit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Engine, Enum, MetaData, create_engine, event, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import ArgumentError, DisconnectionError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.types import TypeDecorator

from gateway.errors import ConfigurationError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_type(enum: type[StrEnum], name: str, length: int) -> Enum:
    """A column type for ``enum``: its values in a VARCHAR(``length``) with a CHECK constraint.

    The constraint is named ``ck_<table>_<name>`` by the naming convention, so
    a migration can add and drop it by name; no native ENUM type is created
    (adding a value stays a plain constraint change on every backend).
    """
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin (see make_engine).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the console read while the worker writes; busy_timeout turns
    # brief writer contention into waiting instead of "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def sqlite_file(url: str) -> str | None:
    """Return the file path of an SQLite URL (also of a ``file:`` URI), or None (another backend, memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        # A URI filename (?uri=true): file:PATH?mode=…; an in-memory one has no file.
        path, _, query = database[len("file:") :].partition("?")
        if not path or path == ":memory:" or "mode=memory" in query or parsed.query.get("mode") == "memory":
            return None
        return path.removeprefix("//")
    return database


def create_private_file(path: str) -> None:
    """Create the SQLite file ``path`` readable by its owner only (0600), unless it exists.

    It holds password hashes, TOTP seeds and record bodies: SQLite would create
    it with the process umask (often 0644). Its -wal and -shm files take the
    same mode from it. An existing file is left as it is (an operator may
    have given a backup group access on purpose).
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except (FileExistsError, FileNotFoundError):
        return  # it exists, or no such directory (SQLite reports that when connecting)
    os.close(descriptor)


# A pooled connection idle longer than this is pinged before use; one used
# more recently is not. Pinging at every checkout (pool_pre_ping) costs a round
# trip per transaction, a tenth of a busy delivery worker's time. A server that
# restarted under load is still caught: the first statement to fail with a
# disconnect makes SQLAlchemy invalidate the whole pool, so it costs at most one
# failed transaction (retried by its job); a pool left idle across a restart, or
# a connection a firewall dropped while idle, is pinged and replaced unseen.
IDLE_PING_SECONDS = 5.0
_IDLE_SINCE = "gateway_idle_since"  # key in the pool entry's info (cleared when it reconnects)


def _ping(dbapi_connection: Any) -> None:
    """Run ``SELECT 1`` on ``dbapi_connection``; raises the driver's error if the server is gone."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    finally:
        cursor.close()
    dbapi_connection.rollback()  # hand it out as the pool keeps it: no transaction open


def _ping_after_idle(engine: Engine) -> None:
    """Make ``engine``'s pool ping a connection at checkout when it was idle over IDLE_PING_SECONDS.

    SQLAlchemy's "pessimistic disconnect handling, custom" pattern: a failed
    ping raises DisconnectionError, and the pool replaces that connection.
    """
    driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error

    def checked_in(dbapi_connection: Any, entry: ConnectionPoolEntry) -> None:
        if dbapi_connection is not None:  # None: invalidated, it reconnects at its next checkout
            entry.info[_IDLE_SINCE] = time.monotonic()

    def checked_out(dbapi_connection: Any, entry: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        idle_since = entry.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since <= IDLE_PING_SECONDS:
            return  # just connected, or used within the threshold
        try:
            _ping(dbapi_connection)
        except driver_error as exc:
            idle = time.monotonic() - idle_since
            raise DisconnectionError(f"a pooled connection idle for {idle:.0f}s is gone") from exc

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checked_out)


_URL_HINT = "write e.g. postgresql+psycopg://USER@HOST:5432/NAME in GATEWAY_DATABASE_URL (or database_url)"


def _checked_url(url: str) -> None:
    """Raise ConfigurationError for a URL SQLAlchemy cannot use, naming the driver it does not know."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError("the database URL is not a URL SQLAlchemy can read", hint=_URL_HINT) from exc
    try:
        parsed.get_dialect()
    except NoSuchModuleError as exc:
        # "postgres://" (Heroku's and libpq's spelling) is the usual one.
        raise ConfigurationError(
            f"the database URL names the driver {parsed.drivername!r}, which is not installed or not known",
            hint=_URL_HINT,
        ) from exc


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Return an Engine for ``url`` with the gateway's per-backend settings.

    An SQLite database file that does not exist yet is created 0600 first.
    Other backends ping a pooled connection before use only when it was idle
    longer than IDLE_PING_SECONDS (unless ``pool_pre_ping=True`` is given).
    Raises ConfigurationError for a URL naming an unknown driver or an SQLite
    file in a directory that does not exist.
    """
    _checked_url(url)
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                raise ConfigurationError(
                    f"the directory of the SQLite database {path} does not exist",
                    hint="create it, correct data_dir, or set GATEWAY_DATABASE_URL",
                )
            create_private_file(path)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # BEGIN IMMEDIATE takes SQLite's write lock up front: a transaction that
        # reads then writes (claiming a delivery, appending to the ledger) can
        # never deadlock against another writer — SQLite's FOR UPDATE.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_after_idle(engine)
    return engine


def make_sessionmaker(engine: Engine, vault: object | None = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; with ``vault`` (gateway.vault.vault.Vault) they seal and open record bodies."""
    info = {"vault": vault} if vault is not None else {}
    return sessionmaker(engine, expire_on_commit=False, autoflush=True, info=info)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session in one transaction: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
