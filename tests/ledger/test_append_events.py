"""append_events (one write per table for a batch) builds exactly the tree append_event builds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.ledger import repository
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry, LedgerNode
from gateway.ledger.service import PendingEvent, append_event, append_events
from tests.support.databases import DatabaseFactory

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def events(count: int) -> list[PendingEvent]:
    return [
        PendingEvent(
            AuditEvent.RECORD_RECEIVED if n % 3 else AuditEvent.RECORD_REJECTED,
            actor=f"party:{'PA' if n % 2 else 'US'}",
            subject=f"record-{n}",
            at=START + timedelta(seconds=n),
            detail={"n": n},
        )
        for n in range(count)
    ]


def ledger_state(url: str) -> tuple[tuple[int, bytes | None], list[bytes], list[tuple[int, int, bytes]]]:
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            head = repository.read_head(session)
            leaves = list(session.scalars(select(LedgerEntry.leaf_hash).order_by(LedgerEntry.index)))
            nodes = [
                (n.level, n.index, n.hash)
                for n in session.scalars(select(LedgerNode).order_by(LedgerNode.level, LedgerNode.index))
            ]
        return head, leaves, nodes
    finally:
        engine.dispose()


def test_batch_append_matches_one_by_one(database_factory: DatabaseFactory) -> None:
    one_by_one, batched = database_factory.fresh_url(), database_factory.fresh_url()
    pending = events(37)

    engine = make_engine(one_by_one)
    with transaction(make_sessionmaker(engine)) as session:
        first = [
            append_event(session, e.event, actor=e.actor, subject=e.subject, at=e.at, detail=e.detail)
            for e in pending[:5]
        ]
        rest = [
            append_event(session, e.event, actor=e.actor, subject=e.subject, at=e.at, detail=e.detail)
            for e in pending[5:]
        ]
    engine.dispose()

    engine = make_engine(batched)
    with transaction(make_sessionmaker(engine)) as session:
        # a single append first, then a batch on top of it: both paths share the head
        start = append_events(session, pending[:5])
        batch = append_events(session, pending[5:])
    engine.dispose()

    assert (start, batch) == (first, rest) == (list(range(5)), list(range(5, 37)))
    expected, actual = ledger_state(one_by_one), ledger_state(batched)
    assert actual[0][0] == 37
    assert actual == expected


def test_empty_batch_appends_nothing(database_factory: DatabaseFactory) -> None:
    url = database_factory.fresh_url()
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        assert append_events(session, []) == []
    engine.dispose()
    assert ledger_state(url)[0][0] == 0
