"""Every SQL statement of retention and legal holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from gateway.records.models import StoredRecord


def _live() -> ColumnElement[bool]:
    """Valid records whose body is still stored (rejected copies are audit material, not retained data)."""
    return and_(StoredRecord.verification == "valid", StoredRecord.body_deleted_at.is_(None))


def expired_batch(session: Session, now: datetime, *, after_pk: int, limit: int) -> Sequence[StoredRecord]:
    """Live records expired at ``now`` with ``pk > after_pk``, oldest first, at most ``limit``.

    The rows are locked (PostgreSQL ``FOR UPDATE SKIP LOCKED``): two nodes
    sharing a database never delete the same body twice, and a run never waits
    for another one. SQLite's up-front write lock serialises runs instead.
    """
    return session.scalars(
        select(StoredRecord)
        .where(_live(), StoredRecord.expires_at <= now, StoredRecord.pk > after_pk)
        .order_by(StoredRecord.pk)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()


def _review_due(now: datetime) -> ColumnElement[bool]:
    return and_(
        _live(),
        StoredRecord.review_due <= now,
        or_(StoredRecord.expires_at.is_(None), StoredRecord.expires_at > now),
    )


def review_due(session: Session, now: datetime, limit: int) -> Sequence[StoredRecord]:
    """Live records past their review date but not yet expired, those expiring soonest first."""
    return session.scalars(
        select(StoredRecord).where(_review_due(now)).order_by(StoredRecord.expires_at, StoredRecord.pk).limit(limit)
    ).all()


def count_review_due(session: Session, now: datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(StoredRecord).where(_review_due(now))) or 0)


def count_expired_held(session: Session, now: datetime) -> int:
    """Live expired records a legal hold keeps."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(StoredRecord)
            .where(_live(), StoredRecord.expires_at <= now, StoredRecord.legal_hold_at.is_not(None))
        )
        or 0
    )


def valid_copies(session: Session, record_id: str) -> Sequence[StoredRecord]:
    """Every valid copy of ``record_id`` at this node (outgoing and incoming), locked for update."""
    return session.scalars(
        select(StoredRecord)
        .where(StoredRecord.record_id == record_id, StoredRecord.verification == "valid")
        .order_by(StoredRecord.pk)
        .with_for_update()
    ).all()
