"""Every SQL statement of the record lifecycle."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.exchange.models import Delivery
from gateway.records.errors import RecordIdAmbiguousError
from gateway.records.kinds import INSTRUCTION_TYPES
from gateway.records.models import StoredRecord


def valid_copy(session: Session, direction: str, record_id: str, originator: str | None = None) -> StoredRecord | None:
    """The accepted (valid) copy of ``record_id`` in ``direction`` (of ``originator``), if held.

    This node's own ids are unique here; a received id may be held from several
    originators, and then the copy is never picked silently: raises
    RecordIdAmbiguousError unless ``originator`` is named.
    """
    stmt = select(StoredRecord).where(StoredRecord.direction == direction, StoredRecord.accepted_record_id == record_id)
    if originator is not None:
        stmt = stmt.where(StoredRecord.originator_party == originator)
    rows = session.scalars(stmt).all()
    if len(rows) > 1:
        raise RecordIdAmbiguousError(record_id, (row.originator_party or "?" for row in rows))
    return rows[0] if rows else None


def valid_copies(session: Session, direction: str, record_id: str) -> Sequence[StoredRecord]:
    """Every accepted copy of ``record_id`` in ``direction``, whoever originated it, oldest first."""
    return session.scalars(
        select(StoredRecord)
        .where(StoredRecord.direction == direction, StoredRecord.accepted_record_id == record_id)
        .order_by(StoredRecord.pk)
    ).all()


def about(
    session: Session, direction: str, record_ids: Collection[str], record_types: Collection[str]
) -> Sequence[StoredRecord]:
    """Valid records of ``record_types`` in ``direction`` that refer to one of ``record_ids``, oldest first."""
    if not record_ids:
        return []
    # Filter by the refers_to index only: with direction in the WHERE clause
    # SQLite prefers the (direction, pk) index and scans every incoming record.
    rows = session.scalars(
        select(StoredRecord).where(
            StoredRecord.refers_to.in_(list(record_ids)),
            StoredRecord.record_type.in_(list(record_types)),
        )
    ).all()
    return sorted(
        (r for r in rows if r.direction == direction and r.verification == "valid"),
        key=lambda r: r.pk,
    )


def deliveries_of(session: Session, record_pks: Collection[int]) -> Sequence[Delivery]:
    if not record_pks:
        return []
    return session.scalars(select(Delivery).where(Delivery.record_pk.in_(list(record_pks))).order_by(Delivery.pk)).all()


def delivery_to(session: Session, record_pk: int, recipient: str) -> Delivery | None:
    return session.scalars(
        select(Delivery).where(Delivery.record_pk == record_pk, Delivery.recipient == recipient)
    ).one_or_none()


def instructions_since(session: Session, before: datetime) -> Sequence[StoredRecord]:
    """Outgoing corrections and retractions created before ``before`` (candidates for laggards)."""
    return session.scalars(
        select(StoredRecord)
        .where(
            StoredRecord.direction == "out",
            StoredRecord.record_type.in_(INSTRUCTION_TYPES),
            StoredRecord.created_at <= before,
        )
        .order_by(StoredRecord.pk)
    ).all()
