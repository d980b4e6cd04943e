"""Shared fixtures: test PKI, SQLite and PostgreSQL databases."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

import gateway.models  # noqa: F401 - every table on Base.metadata
from gateway.db import make_engine
from gateway.observability.logging import RedactingFilter
from tests.support.databases import DatabaseFactory, require_postgres
from tests.support.pki import TestPKI, make_test_pki
from tests.support.softhsm import SoftHSM, softhsm_session

BACKENDS = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """PA, CO and US development PKIs and their merged trust bundle."""
    return make_test_pki(tmp_path_factory.mktemp("pki"))


_factories: dict[str, DatabaseFactory] = {}


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    """Fresh SoftHSM2 tokens under this session's temporary directory, for PKCS#11 tests (tests/support/softhsm.py)."""
    with softhsm_session(tmp_path_factory.mktemp("softhsm")) as softhsm:
        yield softhsm


@pytest.fixture(scope="session")
def database_factories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DatabaseFactory]]:
    yield _factories
    for factory in _factories.values():
        factory.drop_all()
    # Forget the dropped templates: mutmut runs several pytest sessions in one process.
    _factories.clear()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgres":
        require_postgres()
    return name


@pytest.fixture
def database_factory(
    backend: str,
    database_factories: dict[str, DatabaseFactory],
    tmp_path_factory: pytest.TempPathFactory,
) -> DatabaseFactory:
    if backend not in database_factories:
        database_factories[backend] = DatabaseFactory(backend, tmp_path_factory.mktemp(f"db-{backend}"))
    return database_factories[backend]


@pytest.fixture
def database_url(database_factory: DatabaseFactory) -> str:
    """URL of a fresh, migrated database of the current backend (committable)."""
    return database_factory.fresh_url()


@pytest.fixture
def session(database_factory: DatabaseFactory) -> Iterator[Session]:
    """A Session inside a transaction that is rolled back after the test."""
    engine = make_engine(database_factory.template_url())
    with engine.connect() as connection:
        outer = connection.begin()
        db = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield db
        finally:
            db.close()
            outer.rollback()
    engine.dispose()


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """Undo what an in-process ``gateway serve`` / ``worker`` did to the root logger.

    Those commands own their process and point the root logger at the stderr of
    the moment; under CliRunner that stream is closed once the command returns,
    and a later test's log line (alembic's INFO) would print a logging error into
    whatever that test captures.
    """
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in before and any(isinstance(f, RedactingFilter) for f in handler.filters):
            root.removeHandler(handler)
    root.setLevel(level)
