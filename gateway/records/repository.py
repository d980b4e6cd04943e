"""Every SQL statement of the records domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from gateway.exchange.models import Delivery
from gateway.records.models import IdempotencyKey, StoredRecord


def add(session: Session, record: StoredRecord) -> StoredRecord:
    session.add(record)
    session.flush()
    return record


def inbound_by_digest(session: Session, jws_sha256: str, peer_party: str) -> StoredRecord | None:
    """Return what ``peer_party`` already delivered with exactly these bytes, if anything."""
    return session.scalars(
        select(StoredRecord).where(
            StoredRecord.direction == "in",
            StoredRecord.jws_sha256 == jws_sha256,
            StoredRecord.peer_party == peer_party,
        )
    ).one_or_none()


def inbound_by_digests(session: Session, digests: set[str], peer_party: str) -> dict[str, StoredRecord]:
    """Return digest → what ``peer_party`` already delivered, for a whole batch at once."""
    if not digests:
        return {}
    rows = session.scalars(
        select(StoredRecord).where(
            StoredRecord.direction == "in",
            StoredRecord.jws_sha256.in_(digests),
            StoredRecord.peer_party == peer_party,
        )
    ).all()
    return {row.jws_sha256: row for row in rows if row.receipt_jws is not None}


def accepted_ids(session: Session, direction: str, record_ids: set[str]) -> set[str]:
    """Return which of ``record_ids`` are already accepted in ``direction``."""
    if not record_ids:
        return set()
    found = session.scalars(
        select(StoredRecord.accepted_record_id).where(
            StoredRecord.direction == direction, StoredRecord.accepted_record_id.in_(record_ids)
        )
    ).all()
    return {str(value) for value in found}


def accepted_by_id(session: Session, direction: str, record_id: str) -> StoredRecord | None:
    return session.scalars(
        select(StoredRecord).where(StoredRecord.direction == direction, StoredRecord.accepted_record_id == record_id)
    ).one_or_none()


def by_record_id(session: Session, record_id: str) -> Sequence[StoredRecord]:
    """Every stored copy of ``record_id`` (outgoing, incoming, rejected), newest first."""
    return session.scalars(
        select(StoredRecord).where(StoredRecord.record_id == record_id).order_by(StoredRecord.pk.desc())
    ).all()


def by_pk(session: Session, pk: int) -> StoredRecord | None:
    return session.get(StoredRecord, pk)


def idempotency_key(session: Session, client_id: str, key: str) -> IdempotencyKey | None:
    return session.scalars(
        select(IdempotencyKey).where(IdempotencyKey.client_id == client_id, IdempotencyKey.key == key)
    ).one_or_none()


def add_idempotency_key(session: Session, entry: IdempotencyKey) -> None:
    session.add(entry)
    session.flush()


@dataclass(frozen=True)
class RecordFilter:
    direction: str | None = None
    record_type: str | None = None
    party: str | None = None
    delivery_status: str | None = None
    status: str | None = None
    since: datetime | None = None
    verification: str | None = None
    offence_category: str | None = None
    search: str | None = None
    after_pk: int | None = None  # cursor: records older than this pk


def _filtered(flt: RecordFilter) -> Select[StoredRecord]:
    stmt = select(StoredRecord)
    if flt.direction:
        stmt = stmt.where(StoredRecord.direction == flt.direction)
    if flt.record_type:
        stmt = stmt.where(StoredRecord.record_type == flt.record_type)
    if flt.party:
        stmt = stmt.where(
            (StoredRecord.originator_party == flt.party)
            | (StoredRecord.peer_party == flt.party)
            | StoredRecord.recipients.contains(flt.party)
        )
    if flt.status:
        stmt = stmt.where(StoredRecord.status == flt.status)
    if flt.verification:
        stmt = stmt.where(StoredRecord.verification == flt.verification)
    if flt.offence_category:
        stmt = stmt.where(StoredRecord.offence_category == flt.offence_category)
    if flt.since:
        stmt = stmt.where(StoredRecord.stored_at >= flt.since)
    if flt.search:
        needle = flt.search.strip()
        stmt = stmt.where(
            StoredRecord.record_id.startswith(needle.lower()) | StoredRecord.flight_number.contains(needle.upper())
        )
    if flt.delivery_status:
        stmt = stmt.where(exists().where(Delivery.record_pk == StoredRecord.pk, Delivery.status == flt.delivery_status))
    if flt.after_pk is not None:
        stmt = stmt.where(StoredRecord.pk < flt.after_pk)
    return stmt


def page(session: Session, flt: RecordFilter, limit: int) -> Sequence[StoredRecord]:
    """Return up to ``limit`` records matching ``flt``, newest first (keyset paging on pk)."""
    return session.scalars(_filtered(flt).order_by(StoredRecord.pk.desc()).limit(limit)).all()


def deliveries_of(session: Session, record_pk: int) -> Sequence[Delivery]:
    return session.scalars(select(Delivery).where(Delivery.record_pk == record_pk).order_by(Delivery.recipient)).all()


def counts(session: Session) -> dict[tuple[str, str], int]:
    """Return record counts keyed by (direction, verification)."""
    from sqlalchemy import func

    rows = session.execute(
        select(StoredRecord.direction, StoredRecord.verification, func.count()).group_by(
            StoredRecord.direction, StoredRecord.verification
        )
    ).all()
    return {(str(d), str(v)): int(n) for d, v, n in rows}
