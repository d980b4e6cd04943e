"""Every SQL statement of the exchange domain (the outbox)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from gateway.db import is_postgres
from gateway.exchange.models import Delivery
from gateway.records.models import StoredRecord


def add_delivery(session: Session, delivery: Delivery) -> Delivery:
    """Add ``delivery`` to the outbox; flushed, so it has its primary key."""
    session.add(delivery)
    session.flush()
    return delivery


def claim_due(session: Session, now: datetime, limit: int) -> Sequence[tuple[Delivery, StoredRecord]]:
    """Return due pending deliveries with their records, locked for this transaction.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets several workers claim disjoint
    rows. SQLite: the transaction holds the write lock, so one claimer at a time.
    """
    stmt = (
        select(Delivery, StoredRecord)
        .join(StoredRecord, StoredRecord.pk == Delivery.record_pk)
        .where(
            Delivery.status == "pending",
            Delivery.next_attempt_at <= now,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
        )
        .order_by(Delivery.next_attempt_at, Delivery.pk)
        .limit(limit)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(of=Delivery, skip_locked=True)
    return [(row[0], row[1]) for row in session.execute(stmt).all()]


def leased_many(session: Session, leases: Mapping[int, datetime]) -> dict[int, Delivery]:
    """Return, by primary key, the deliveries of ``leases`` still pending under exactly their lease.

    One statement for a whole batch (locked on PostgreSQL, in primary key
    order); a delivery whose lease is no longer the one given is left out.
    The jobs of one claim share one lease, so the condition is usually a
    single ``lease_until = … AND pk IN (…)``.
    """
    if not leases:
        return {}
    by_lease: dict[datetime, list[int]] = {}
    for delivery_pk, lease_until in leases.items():
        by_lease.setdefault(lease_until, []).append(delivery_pk)
    stmt = (
        select(Delivery)
        .where(
            Delivery.status == "pending",
            or_(*(and_(Delivery.lease_until == lease, Delivery.pk.in_(pks)) for lease, pks in by_lease.items())),
        )
        .order_by(Delivery.pk)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return {delivery.pk: delivery for delivery in session.scalars(stmt)}


def records_by_pk(session: Session, record_pks: Collection[int]) -> dict[int, StoredRecord]:
    """Return the stored records of ``record_pks`` by primary key (one statement; missing ones left out)."""
    if not record_pks:
        return {}
    stmt = select(StoredRecord).where(StoredRecord.pk.in_(record_pks))
    return {record.pk: record for record in session.scalars(stmt)}


def by_pk(session: Session, delivery_pk: int) -> Delivery | None:
    return session.get(Delivery, delivery_pk)


def listing(session: Session, status: str | None, limit: int) -> Sequence[tuple[Delivery, StoredRecord]]:
    stmt = (
        select(Delivery, StoredRecord)
        .join(StoredRecord, StoredRecord.pk == Delivery.record_pk)
        .order_by(Delivery.pk.desc())
        .limit(limit)
    )
    if status:
        stmt = stmt.where(Delivery.status == status)
    return [(row[0], row[1]) for row in session.execute(stmt).all()]


def count_by_status(session: Session) -> dict[str, int]:
    from sqlalchemy import func

    rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    return {str(status): int(count) for status, count in rows}
