"""The database-backed tree behind ``append_event``: stored nodes, head root, right-edge cache."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, delete, event, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.ledger import repository
from gateway.ledger.errors import LedgerStoreError
from gateway.ledger.events import AuditEvent
from gateway.ledger.merkle import EMPTY_ROOT
from gateway.ledger.models import LedgerEntry, LedgerHead, LedgerNode
from gateway.ledger.service import append_event, entry_leaf_hash
from gateway.ledger.store import RIGHT_EDGES, stored_root
from gateway.ledger.tree import (
    InMemoryNodeStore,
    MerkleTree,
    consistency_proof_nodes,
    in_memory_tree,
    inclusion_proof_nodes,
    right_edge,
)
from gateway.ledger.verification import verify_ledger
from gateway.migrate import alembic_config, upgrade
from tests.ledger.conftest import T0, append_many
from tests.support.databases import DatabaseFactory


def stored_leaves(session: Session) -> list[bytes]:
    return [bytes(h) for h in session.scalars(select(LedgerEntry.leaf_hash).order_by(LedgerEntry.index))]


def reference_store(leaves: list[bytes]) -> InMemoryNodeStore:
    store = InMemoryNodeStore()
    tree = MerkleTree(store)
    for leaf in leaves:
        tree.append_leaf_hash(leaf)
    return store


def stored_nodes(session: Session) -> dict[tuple[int, int], bytes]:
    return {(n.level, n.index): bytes(n.hash) for n in session.scalars(select(LedgerNode))}


@contextmanager
def node_reads(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL statements that read ``ledger_nodes`` while the block runs."""
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "ledger_nodes" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_appends_store_every_complete_subtree_and_the_root(sessions: sessionmaker[Session]) -> None:
    append_many(sessions, 45, per_transaction=4)
    with transaction(sessions) as session:
        leaves = stored_leaves(session)
        expected = in_memory_tree(leaves)
        nodes = stored_nodes(session)
        size, root = repository.read_head(session)
    assert size == 45
    assert root == expected.root()
    # Level >= 1 only (level 0 is the entry row), exactly the complete subtrees of 45 leaves.
    assert len(nodes) == sum(45 >> level for level in range(1, 6)) == 41
    reference = reference_store(leaves)
    for (level, index), value in nodes.items():
        assert value == reference.get(level, index)


def test_get_nodes_returns_the_stored_leaves_and_inner_nodes_asked_for_and_nothing_else(
    sessions: sessionmaker[Session],
) -> None:
    append_many(sessions, 45, per_transaction=9)
    with transaction(sessions) as session:
        leaves, nodes = stored_leaves(session), stored_nodes(session)
        wanted = [(0, 0), (0, 44), (1, 21), (3, 4), (5, 0), (2, 3), (2, 7)]  # leaves, several levels, twice level 2
        missing = [(0, 45), (1, 22), (6, 0), (9, 9)]  # beyond the tree: not stored, so not returned
        found = repository.get_nodes(session, wanted + missing)
        assert repository.get_nodes(session, []) == {}
        assert repository.get_nodes(session, [(0, 7)]) == {(0, 7): leaves[7]}  # leaves only
        assert repository.get_nodes(session, [(4, 1)]) == {(4, 1): nodes[(4, 1)]}  # inner nodes only
    expected = {key: leaves[key[1]] if key[0] == 0 else nodes[key] for key in wanted}
    assert found == expected


def test_leaf_hash_covers_the_stored_fields(sessions: sessionmaker[Session]) -> None:
    # A non-UTC time and an over-long actor are stored as UTC and cut to 128
    # characters; the leaf hash must be of what is stored, or verify would fail.
    at = datetime(2026, 3, 1, 7, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))
    with transaction(sessions) as session:
        append_event(session, AuditEvent.RECORD_VIEWED, actor="officer:" + "x" * 300, subject="r", at=at)
    with transaction(sessions) as session:
        entry = session.scalars(select(LedgerEntry)).one()
        assert entry.actor == ("officer:" + "x" * 300)[:128]
        assert entry.at == at
        assert bytes(entry.leaf_hash) == entry_leaf_hash(entry)
        assert verify_ledger(session, None).entries == 1


def test_a_warm_append_reads_no_node_and_a_cold_one_reads_the_edge_once(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    append_many(sessions, 23)  # 23 = 16 + 4 + 2 + 1: four right-edge nodes
    with node_reads(engine) as reads:
        append_many(sessions, 5, tag="warm")
    assert reads == []
    RIGHT_EDGES.clear()
    with node_reads(engine) as reads:
        append_many(sessions, 1, tag="cold")
    assert len(reads) == 1
    with transaction(sessions) as session:
        assert verify_ledger(session, None).entries == 29


def test_a_rolled_back_append_does_not_leave_a_stale_edge(database_url: str) -> None:
    # Engine A appends leaf X at index 4 and rolls back; engine B commits
    # leaf Y at index 4. A's cache says "size 5" like the head does, but for
    # another tree: only the root tells them apart.
    engine_a, engine_b = make_engine(database_url), make_engine(database_url)
    try:
        sessions_a, sessions_b = make_sessionmaker(engine_a), make_sessionmaker(engine_b)
        append_many(sessions_a, 4)
        with sessions_a() as session:
            session.begin()
            append_event(session, AuditEvent.RECORD_SENT, actor="a", subject="lost", at=T0)
            session.rollback()
        append_many(sessions_b, 1, tag="b")
        append_many(sessions_a, 3, tag="a")
        with transaction(sessions_a) as session:
            report = verify_ledger(session, None)
            assert [e.subject for e in repository.entries(session)][4:] == [
                "record-b0",
                "record-a0",
                "record-a1",
                "record-a2",
            ]
        assert report.entries == 8
    finally:
        engine_a.dispose()
        engine_b.dispose()


def test_a_savepoint_rollback_inside_one_transaction_is_forgotten(sessions: sessionmaker[Session]) -> None:
    append_many(sessions, 3)
    with transaction(sessions) as session:
        nested = session.begin_nested()
        append_event(session, AuditEvent.RECORD_SENT, actor="a", subject="undone", at=T0)
        nested.rollback()
        index = append_event(session, AuditEvent.RECORD_SENT, actor="a", subject="kept", at=T0)
    assert index == 3
    with transaction(sessions) as session:
        assert verify_ledger(session, None).entries == 4


def test_a_second_append_in_one_transaction_does_not_read_the_head_again(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    append_many(sessions, 3)
    head_reads: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "ledger_head" in statement:
            head_reads.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        with transaction(sessions) as session:
            for number in range(4):
                append_event(session, AuditEvent.RECORD_SENT, actor="a", subject=f"s{number}", at=T0)
        assert len(head_reads) == 1
        with transaction(sessions) as session:
            append_event(session, AuditEvent.RECORD_SENT, actor="a", subject="next", at=T0)
        assert len(head_reads) == 2  # a new transaction locks again
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_a_savepoint_that_failed_before_writing_is_forgotten_too(sessions: sessionmaker[Session]) -> None:
    # The head was locked inside the savepoint (PostgreSQL releases that lock
    # on rollback): the next append must lock and read it again.
    with transaction(sessions) as session:
        savepoint = session.begin_nested()
        repository.lock_head(session)
        savepoint.rollback()
        append_event(session, AuditEvent.RECORD_SENT, actor="a", subject="x", at=T0)
        savepoint = session.begin_nested()
        append_event(session, AuditEvent.RECORD_SENT, actor="a", subject="y", at=T0)
        savepoint.commit()
        assert append_event(session, AuditEvent.RECORD_SENT, actor="a", subject="z", at=T0) == 2
    with transaction(sessions) as session:
        assert [e.subject for e in repository.entries(session)] == ["x", "y", "z"]
        assert verify_ledger(session, None).entries == 3


def test_a_changed_right_edge_stops_appends(sessions: sessionmaker[Session]) -> None:
    append_many(sessions, 6)  # right edge: (2, 0) and (1, 2)
    with transaction(sessions) as session:
        session.execute(
            update(LedgerNode).where(LedgerNode.level == 1, LedgerNode.index == 2).values(hash=b"\x07" * 32)
        )
    RIGHT_EDGES.clear()
    with pytest.raises(LedgerStoreError, match="does not hash to the head's root"), transaction(sessions) as session:
        append_event(session, AuditEvent.RECORD_SENT, actor="a", subject="s", at=T0)


def test_stored_root_of_any_past_size_matches_the_reference(sessions: sessionmaker[Session]) -> None:
    append_many(sessions, 19, per_transaction=19)
    with transaction(sessions) as session:
        reference = in_memory_tree(stored_leaves(session))
        for size in range(20):
            assert stored_root(session, size) == reference.root(size)


def test_head_row_is_recreated_if_missing(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        session.execute(delete(LedgerHead))
    with transaction(sessions) as session:
        assert append_event(session, AuditEvent.RECORD_SENT, actor="a", subject="s", at=T0) == 0
        assert repository.read_head(session)[0] == 1


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 13, 64, 100])
def test_node_lists_name_exactly_what_the_tree_reads(size: int) -> None:
    class Counting(InMemoryNodeStore):
        def __init__(self) -> None:
            super().__init__()
            self.reads: set[tuple[int, int]] = set()

        def get(self, level: int, index: int) -> bytes | None:
            self.reads.add((level, index))
            return super().get(level, index)

    store = Counting()
    tree = MerkleTree(store)
    for number in range(size):
        tree.append(b"%d" % number)
    reopened = MerkleTree(store, size)
    for index in range(size):
        store.reads.clear()
        reopened.inclusion_proof(index, size)
        assert store.reads == set(inclusion_proof_nodes(index, size))
    for first in range(size + 1):
        store.reads.clear()
        reopened.consistency_proof(first, size)
        assert store.reads == set(consistency_proof_nodes(first, size))
    store.reads.clear()
    MerkleTree(store, size).root(size)
    assert store.reads == set(right_edge(size))


def test_migration_0003_stores_the_tree_of_older_entries(database_factory: DatabaseFactory) -> None:
    # Before 0003 only leaf hashes were kept: go back to 0002, store entries
    # the old way, upgrade again.
    engine = make_engine(database_factory.fresh_url())
    try:
        command.downgrade(alembic_config(engine), "0002")
        leaves = [hashlib.sha256(b"\x00" + b"old %d" % n).digest() for n in range(11)]
        entries = sa.table(
            "ledger_entries",
            *(sa.column(name) for name in ("index", "event", "actor", "subject", "at", "detail_sha256", "leaf_hash")),
        )
        with engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM ledger_head")
            connection.execute(
                sa.insert(entries),
                [
                    {
                        "index": n,
                        "event": "e",
                        "actor": "a",
                        "subject": "s",
                        "at": T0.replace(tzinfo=None),
                        "detail_sha256": "0" * 64,
                        "leaf_hash": leaf,
                    }
                    for n, leaf in enumerate(leaves)
                ],
            )
            connection.exec_driver_sql("INSERT INTO ledger_head (id, size) VALUES (1, 11)")
        upgrade(engine)
        reference = in_memory_tree(leaves)
        sessions = make_sessionmaker(engine)
        with transaction(sessions) as session:
            assert repository.read_head(session) == (11, reference.root())
            nodes = stored_nodes(session)
            assert len(nodes) == 5 + 2 + 1
            assert all(value == reference_store(leaves[:11]).get(*key) for key, value in nodes.items())
            append_event(session, AuditEvent.RECORD_SENT, actor="a", subject="new", at=T0)
        with transaction(sessions) as session:
            leaves.append(bytes(session.scalars(select(LedgerEntry.leaf_hash).where(LedgerEntry.index == 11)).one()))
            assert repository.read_head(session) == (12, in_memory_tree(leaves).root())
    finally:
        engine.dispose()


def test_empty_ledger_has_the_empty_root_after_migration(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        assert repository.read_head(session) == (0, EMPTY_ROOT)


def test_node_lookups_use_the_primary_key(backend: str, engine: Engine, sessions: sessionmaker[Session]) -> None:
    # A row-value IN, (level, index) IN (...), is a full table scan on SQLite:
    # every cold append and every proof would read all ~n nodes. (PostgreSQL's
    # planner prefers a scan of so small a table whatever the query says.)
    if backend != "sqlite":
        pytest.skip("the plan of a 40-row table on PostgreSQL says nothing")
    append_many(sessions, 40, per_transaction=40)
    statements: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "ledger_nodes" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        with transaction(sessions) as session:
            repository.get_nodes(session, [(5, 0), (3, 4), (1, 18), (1, 19), (0, 39)])
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) == 1
    statement, parameters = statements[0]
    with engine.connect() as connection:
        plan = " ".join(str(row) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
    assert "SCAN ledger_nodes" not in plan
    assert "USING INDEX" in plan


def test_the_append_statement_is_compiled_once_whatever_the_number_of_new_nodes(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    # Each append completes 0 to 4 subtrees. A statement SQLAlchemy cannot cache
    # ("no key") is compiled again on every append, which cost as much as the append.
    # On PostgreSQL the append is one statement, compiled once for any number of nodes
    # (SQLite's executemany of the nodes compiles once per number of rows, then caches).
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    append_many(sessions, 2, per_transaction=1)  # the statements' first compilation
    with caplog.at_level("INFO", logger="sqlalchemy.engine.Engine"):
        append_many(sessions, 30, per_transaction=1)
    logged = [record.getMessage() for record in caplog.records if record.name == "sqlalchemy.engine.Engine"]
    assert logged, "the engine logged no statement"
    assert not [line for line in logged if "[no key" in line]
    if postgres:
        assert not [line for line in logged if "[generated in" in line]
    with transaction(sessions) as session:
        assert verify_ledger(session, None).entries == 32
        assert len(stored_nodes(session)) == sum(32 >> level for level in range(1, 6))
