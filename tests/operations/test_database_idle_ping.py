"""A pooled PostgreSQL connection is pinged before use only when it was idle past a threshold.

Pinging at every checkout (``pool_pre_ping``) cost a busy delivery worker a
round trip per transaction. A connection the server dropped while it sat idle
in the pool must still be replaced unseen; one used a moment ago is not pinged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from gateway import db
from gateway.db import make_engine
from tests.support.databases import PG_ADMIN_DSN, DatabaseFactory, factory_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(
    database_factories: dict[str, DatabaseFactory], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A PostgreSQL engine from ``make_engine`` (fails under CI=true when the server is unreachable)."""
    created = make_engine(factory_for("postgres", database_factories, tmp_path_factory).fresh_url())
    yield created
    created.dispose()


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the idle pings (one entry per ping), still running the real one."""
    counted: list[int] = []
    real = db._ping

    def counting(dbapi_connection: Any) -> None:
        counted.append(1)
        real(dbapi_connection)

    monkeypatch.setattr(db, "_ping", counting)
    return counted


def backend_pid(engine: Engine) -> int:
    """Run one transaction on ``engine``; returns the server process that served it."""
    with engine.begin() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(pid: int) -> None:
    """Kill the server process ``pid`` as a restart or an idle-connection reaper would, and wait for it to end."""
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        row = admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()
    assert row == (True,)


def test_a_connection_killed_while_idle_past_the_threshold_is_replaced_before_use(
    engine: Engine, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    first = backend_pid(engine)
    terminate(first)

    second = backend_pid(engine)  # would raise if the dead connection were handed out

    assert second != first
    assert len(pings) == 1  # the checkout pinged, failed, and the pool connected anew
    assert engine.pool.checkedin() == 1  # the dead one was replaced, not added to


def test_without_the_ping_a_killed_connection_costs_one_failed_transaction(
    engine: Engine, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the test above: used within the threshold, the dead connection is handed out."""
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)
    first = backend_pid(engine)
    terminate(first)

    gone = "terminating connection due to administrator command|server closed the connection|consuming input failed"
    with pytest.raises(OperationalError, match=gone) as failed:
        backend_pid(engine)
    assert failed.value.connection_invalidated

    assert backend_pid(engine) != first  # the pool was invalidated: the next transaction reconnects
    assert pings == []


def test_a_connection_used_within_the_threshold_is_not_pinged(
    engine: Engine, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert db.IDLE_PING_SECONDS == 5.0
    pids = {backend_pid(engine) for _ in range(3)}
    assert len(pids) == 1  # one pooled connection, reused
    assert pings == []

    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    assert backend_pid(engine) in pids  # pinged, alive, kept
    assert len(pings) == 1


def test_an_explicit_pre_ping_is_kept_and_the_idle_ping_left_out(
    database_factories: dict[str, DatabaseFactory],
    tmp_path_factory: pytest.TempPathFactory,
    pings: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    engine = make_engine(factory_for("postgres", database_factories, tmp_path_factory).fresh_url(), pool_pre_ping=True)
    try:
        first = backend_pid(engine)
        terminate(first)
        assert backend_pid(engine) != first  # SQLAlchemy's own ping at every checkout replaced it
        assert pings == []
    finally:
        engine.dispose()
