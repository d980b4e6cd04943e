"""Fixtures of the ledger tests: committable databases, a node, helpers to append and tamper."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.ledger.store import RIGHT_EDGES
from gateway.node import Node, build_node
from tests.ledger.fake_partner import FakePartner
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_right_edge_cache() -> Iterator[None]:
    # Engines of earlier tests are gone, but a test must not depend on that.
    RIGHT_EDGES.clear()
    yield
    RIGHT_EDGES.clear()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh, migrated, committable database of the current backend."""
    created = make_engine(database_url)
    yield created
    created.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


def append_many(sessions: sessionmaker[Session], count: int, *, per_transaction: int = 1, tag: str = "") -> None:
    """Append ``count`` distinct events, ``per_transaction`` in each committed transaction."""
    done = 0
    while done < count:
        with transaction(sessions) as session:
            for _ in range(min(per_transaction, count - done)):
                append_event(
                    session,
                    AuditEvent.RECORD_RECEIVED,
                    actor="party:CO",
                    subject=f"record-{tag}{done}",
                    at=T0 + timedelta(seconds=done),
                    detail={"n": done, "tag": tag},
                )
                done += 1


@pytest.fixture
def node(pki: TestPKI, database_url: str, tmp_path: Path) -> Iterator[Node]:
    """PA's node on a fresh database, not serving (tests call its services directly)."""
    built = build_node(node_settings(pki, "PA", database_url, tmp_path / "pa", {}))
    yield built
    built.close()


@pytest.fixture
def co(pki: TestPKI) -> FakePartner:
    """CO's ledger, in memory, signing with CO's test key."""
    return FakePartner(pki.signing_key("CO"))
