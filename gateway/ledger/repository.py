"""Every SQL statement of the ledger domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.db import is_postgres
from gateway.ledger.models import Checkpoint, LedgerEntry, LedgerHead, LedgerNode

HEAD_ID = 1


def lock_head(session: Session) -> LedgerHead:
    """Return the head row, locked for this transaction (created on first use).

    On PostgreSQL ``FOR UPDATE`` serializes appenders; on SQLite the
    transaction already holds the database write lock (BEGIN IMMEDIATE).
    """
    stmt = select(LedgerHead).where(LedgerHead.id == HEAD_ID)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    head = session.scalars(stmt).one_or_none()
    if head is None:
        head = LedgerHead(id=HEAD_ID, size=0)
        session.add(head)
        session.flush()
        if is_postgres(session):
            head = session.scalars(stmt).one()
    return head


def tree_size(session: Session) -> int:
    size = session.scalar(select(LedgerHead.size).where(LedgerHead.id == HEAD_ID))
    return int(size or 0)


def set_size(session: Session, size: int) -> None:
    session.execute(update(LedgerHead).where(LedgerHead.id == HEAD_ID).values(size=size))


def add_entry(session: Session, entry: LedgerEntry) -> None:
    session.add(entry)


def get_node(session: Session, level: int, index: int) -> bytes | None:
    return session.scalar(
        select(LedgerNode.hash).where(LedgerNode.level == level, LedgerNode.index == index)
    )


def put_node(session: Session, level: int, index: int, digest: bytes) -> None:
    session.add(LedgerNode(level=level, index=index, hash=digest))


def entries(session: Session, start: int = 0, stop: int | None = None) -> Sequence[LedgerEntry]:
    stmt = select(LedgerEntry).where(LedgerEntry.index >= start).order_by(LedgerEntry.index)
    if stop is not None:
        stmt = stmt.where(LedgerEntry.index < stop)
    return session.scalars(stmt).all()


def entries_for_subject(session: Session, subject: str) -> Sequence[LedgerEntry]:
    return session.scalars(
        select(LedgerEntry).where(LedgerEntry.subject == subject).order_by(LedgerEntry.index)
    ).all()


def latest_checkpoint(session: Session, origin: str) -> Checkpoint | None:
    return session.scalars(
        select(Checkpoint).where(Checkpoint.origin == origin).order_by(Checkpoint.pk.desc()).limit(1)
    ).first()
