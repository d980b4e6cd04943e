"""The node's PostgreSQL connection pool: sized by settings, and connections reused rather than reopened."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from gateway.node import build_node
from gateway.settings import Settings
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI


def connections_opened(engine: Engine) -> list[int]:
    opened: list[int] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    return opened


def test_a_postgres_node_keeps_as_many_connections_as_configured(
    pki: TestPKI, database_url: str, backend: str, tmp_path: Path
) -> None:
    settings = node_settings(pki, "CO", database_url, tmp_path, {}, database_pool_size=3, database_max_overflow=2)
    node = build_node(settings)
    try:
        if backend == "sqlite":
            assert settings.engine_options() == {}  # SQLite keeps SQLAlchemy's own pool
            return
        assert settings.engine_options() == {"pool_size": 3, "max_overflow": 2}
        opened = connections_opened(node.engine)
        held = [node.engine.connect() for _ in range(5)]  # the pool and its whole overflow at once
        for connection in held:
            connection.execute(text("SELECT 1"))
            connection.close()
        assert len(opened) == 5
        assert node.engine.pool.checkedin() == 3  # the overflow was closed again; the pool stays open
        for _ in range(20):  # one at a time, as a quiet node works: no new connection is opened
            with node.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        assert len(opened) == 5
    finally:
        node.close()


def test_the_default_pool_covers_the_requests_and_workers_of_a_busy_node(pki: TestPKI, tmp_path: Path) -> None:
    settings = node_settings(pki, "CO", "postgresql+psycopg://postgres@127.0.0.1:5432/test", tmp_path, {})
    # Two delivery threads, the intake, the scheduled jobs and the requests in flight
    # under load stayed below a dozen in the load benchmark.
    assert settings.engine_options() == {"pool_size": 12, "max_overflow": 4}


@pytest.mark.parametrize(("name", "value"), [("database_pool_size", 0), ("database_max_overflow", -1)])
def test_a_pool_setting_out_of_range_is_refused(pki: TestPKI, tmp_path: Path, name: str, value: int) -> None:
    with pytest.raises(ValidationError, match=name):
        node_settings(pki, "CO", "postgresql+psycopg://postgres@127.0.0.1:5432/test", tmp_path, {}, **{name: value})


def test_the_pool_size_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    settings = Settings(party="CO")  # type: ignore[call-arg]
    assert settings.engine_options()["pool_size"] == 7
