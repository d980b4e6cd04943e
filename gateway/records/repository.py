"""Every SQL statement of the records domain."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from gateway.records.at_rest import sealed_columns
from gateway.records.models import Delivery, IdempotencyKey, StoredRecord
from gateway.records.schemas import RecordType
from gateway.records.states import DeliveryStatus, Direction, RecordStatus, Verification


def add(session: Session, record: StoredRecord) -> StoredRecord:
    session.add(record)
    session.flush()
    return record


_RECORDS = cast(Table, StoredRecord.__table__)
_INSERT_RECORDS = insert(_RECORDS)
# Python-side column defaults, applied by hand: one executemany needs the same keys in every row.
_ROW_DEFAULTS: dict[str, Any] = {
    column.key: column.default.arg if isinstance(column.default, ScalarElementColumnDefault) else None
    for column in _RECORDS.columns
    if not column.primary_key
}


def add_many(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert record rows in one Core executemany (no ORM objects are built).

    For the receive path's plain rows: building an ORM object per received
    record cost more than verifying it.
    """
    if rows:
        sealed = sealed_columns(session, rows)  # bodies sealed at rest, like the ORM path's
        session.connection().execute(_INSERT_RECORDS, [_ROW_DEFAULTS | row for row in sealed])


class PriorCopy(NamedTuple):
    """The columns of an earlier row that receiving a record needs (not the whole record)."""

    record_id: str | None
    accepted_record_id: str | None
    originator_party: str | None
    direction: str
    record_type: str | None
    peer_party: str | None
    jws_sha256: str
    verification: str
    receipt_jws: str | None
    refers_to: str | None


# One round trip for what receiving a batch must know about earlier rows: the
# same bytes already received (replays), the same record_id already accepted
# (replay, conflict, or an id this node originated), and corrections or retractions that arrived before the
# record they name. Each OR term is one column with an index of its own, so
# the plan does not depend on statistics (SQLite: MULTI-INDEX OR; PostgreSQL:
# BitmapOr); the direction is checked on the few rows found. Only the columns
# needed are read: this runs for every received record.
# A Core statement on the table, run on the session's connection: the ORM's
# statement compilation and result processing cost more than the query here.
_INBOUND_RELATED = select(*(_RECORDS.c[name] for name in PriorCopy._fields)).where(
    or_(
        _RECORDS.c.jws_sha256.in_(bindparam("digests", expanding=True)),
        _RECORDS.c.accepted_record_id.in_(bindparam("ids", expanding=True)),
        _RECORDS.c.refers_to.in_(bindparam("refs", expanding=True)),
    )
)


def inbound_related(session: Session, digests: Collection[str], record_ids: Collection[str]) -> list[PriorCopy]:
    """Rows with one of ``digests`` or accepted ``record_ids``, or referring to one of ``record_ids``.

    Both directions: an outgoing row under one of ``record_ids`` is an id this node originated.
    """
    if not digests and not record_ids:
        return []
    ids = list(record_ids)
    session.flush()  # rows this transaction added through the ORM count too (session.execute would autoflush)
    rows = session.connection().execute(_INBOUND_RELATED, {"digests": list(digests), "ids": ids, "refs": ids})
    return [PriorCopy(*row) for row in rows]


def inbound_by_digest(session: Session, jws_sha256: str, peer_party: str) -> StoredRecord | None:
    """Return what ``peer_party`` already delivered with exactly these bytes, if anything."""
    return session.scalars(
        select(StoredRecord).where(
            StoredRecord.direction == "in",
            StoredRecord.jws_sha256 == jws_sha256,
            StoredRecord.peer_party == peer_party,
        )
    ).one_or_none()


def accepted_copy(session: Session, originator: str, record_id: str) -> StoredRecord | None:
    """The valid record ``record_id`` of ``originator`` (unique: a record's identity is both)."""
    return session.scalars(
        select(StoredRecord).where(
            StoredRecord.accepted_record_id == record_id, StoredRecord.originator_party == originator
        )
    ).one_or_none()


def own_copy(session: Session, record_id: str) -> StoredRecord | None:
    """This node's own (outgoing) valid record ``record_id``; unique, since its originator is this node."""
    return session.scalars(
        select(StoredRecord).where(StoredRecord.accepted_record_id == record_id, StoredRecord.direction == "out")
    ).one_or_none()


def accepted_copies(session: Session, record_id: str, originator: str | None = None) -> Sequence[StoredRecord]:
    """Every valid record under ``record_id`` (of ``originator`` when given), oldest first."""
    stmt = select(StoredRecord).where(StoredRecord.accepted_record_id == record_id)
    if originator is not None:
        stmt = stmt.where(StoredRecord.originator_party == originator)
    return session.scalars(stmt.order_by(StoredRecord.pk)).all()


def id_held(session: Session, record_id: str) -> bool:
    """Whether any valid record, of any originator, holds ``record_id`` here."""
    return session.scalar(select(exists().where(StoredRecord.accepted_record_id == record_id))) or False


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
    """The one filter of stored records: the agency API's list and the console's inbox both use it."""

    direction: Direction | None = None
    record_type: RecordType | str | None = None
    party: str | None = None  # originator, mTLS peer or a recipient
    partner: str | None = None  # the party that sent it: originator or mTLS peer
    delivery_status: DeliveryStatus | None = None  # at least one delivery in this status
    status: RecordStatus | None = None
    verification: Verification | None = None
    offence_category: str | None = None
    since: datetime | None = None  # stored at or after
    until: datetime | None = None  # stored before
    search: str | None = None  # a record id's start or part of a flight number
    lifecycle: str | None = None  # one of LIFECYCLE_STATES (valid records only)
    now: datetime | None = None  # the node's clock, for review_due / expired
    after_pk: int | None = None  # cursor: records older than this pk


# What later records and retention did to a record, as filters name it.
LIFECYCLE_STATES = ("superseded", "retracted", "contested", "review_due", "expired", "held", "deleted")


def lifecycle_condition(state: str, now: datetime) -> ColumnElement[bool]:
    """Return the SQL condition of a record in lifecycle ``state`` at ``now`` (as retention_state decides)."""
    if state == "superseded":
        return StoredRecord.superseded_by.is_not(None)
    if state == "retracted":
        return StoredRecord.retracted_by.is_not(None)
    if state == "contested":
        return StoredRecord.contested_by.is_not(None)
    if state == "deleted":
        return StoredRecord.body_deleted_at.is_not(None)
    kept = StoredRecord.body_deleted_at.is_(None)
    if state == "held":
        return and_(kept, StoredRecord.legal_hold_at.is_not(None))
    free = and_(kept, StoredRecord.legal_hold_at.is_(None))
    expired = and_(StoredRecord.expires_at.is_not(None), StoredRecord.expires_at <= now)
    if state == "expired":
        return and_(free, expired)
    if state == "review_due":
        live = or_(StoredRecord.expires_at.is_(None), StoredRecord.expires_at > now)
        return and_(free, live, StoredRecord.review_due.is_not(None), StoredRecord.review_due <= now)
    raise ValueError(f"unknown lifecycle state {state!r}")


def record_conditions(flt: RecordFilter) -> list[ColumnElement[bool]]:
    """Return the SQL conditions of ``flt`` (all must hold)."""
    conditions: list[ColumnElement[bool]] = []
    if flt.direction:
        conditions.append(StoredRecord.direction == flt.direction)
    if flt.record_type:
        conditions.append(StoredRecord.record_type == flt.record_type)
    if flt.status:
        conditions.append(StoredRecord.status == flt.status)
    if flt.verification:
        conditions.append(StoredRecord.verification == flt.verification)
    if flt.offence_category:
        conditions.append(StoredRecord.offence_category == flt.offence_category)
    if flt.since is not None:
        conditions.append(StoredRecord.stored_at >= flt.since)
    if flt.until is not None:
        conditions.append(StoredRecord.stored_at < flt.until)
    if flt.after_pk is not None:
        conditions.append(StoredRecord.pk < flt.after_pk)
    if flt.party:
        conditions.append(
            (StoredRecord.originator_party == flt.party)
            | (StoredRecord.peer_party == flt.party)
            | StoredRecord.recipients.contains(flt.party, autoescape=True)
        )
    if flt.partner:
        conditions.append((StoredRecord.originator_party == flt.partner) | (StoredRecord.peer_party == flt.partner))
    if flt.search and flt.search.strip():
        needle = flt.search.strip()
        conditions.append(
            StoredRecord.record_id.startswith(needle.lower(), autoescape=True)
            | StoredRecord.flight_number.contains(needle.upper(), autoescape=True)
        )
    if flt.delivery_status:
        conditions.append(exists().where(Delivery.record_pk == StoredRecord.pk, Delivery.status == flt.delivery_status))
    if flt.lifecycle:
        now = flt.now or datetime.now(UTC)
        conditions += [StoredRecord.verification == Verification.VALID, lifecycle_condition(flt.lifecycle, now)]
    return conditions


def page(session: Session, flt: RecordFilter, limit: int) -> Sequence[StoredRecord]:
    """Return up to ``limit`` records matching ``flt``, newest first (keyset paging on pk)."""
    stmt = select(StoredRecord).where(*record_conditions(flt)).order_by(StoredRecord.pk.desc()).limit(limit)
    return session.scalars(stmt).all()


def numbered_page(session: Session, flt: RecordFilter, offset: int, limit: int) -> tuple[Sequence[StoredRecord], int]:
    """Return one page of records matching ``flt`` (newest first, from ``offset``) and how many match."""
    conditions = record_conditions(flt)
    total = session.scalar(select(func.count()).select_from(StoredRecord).where(*conditions))
    rows = session.scalars(
        select(StoredRecord).where(*conditions).order_by(StoredRecord.pk.desc()).offset(offset).limit(limit)
    ).all()
    return rows, int(total or 0)


def deliveries_of(session: Session, record_pk: int) -> Sequence[Delivery]:
    return session.scalars(select(Delivery).where(Delivery.record_pk == record_pk).order_by(Delivery.recipient)).all()


def counts(session: Session) -> dict[tuple[str, str], int]:
    """Return record counts keyed by (direction, verification)."""
    rows = session.execute(
        select(StoredRecord.direction, StoredRecord.verification, func.count()).group_by(
            StoredRecord.direction, StoredRecord.verification
        )
    ).all()
    return {(str(d), str(v)): int(n) for d, v, n in rows}


def clear_bodies(session: Session, after_pk: int, limit: int) -> list[tuple[int, str | None, str | None, str, str]]:
    """Rows still holding their JWS in the clear (stored before sealing at rest), after ``after_pk``.

    Returns (pk, originator_party, record_id, jws_sha256, jws) in pk order.
    """
    rows = session.execute(
        select(
            StoredRecord.pk,
            StoredRecord.originator_party,
            StoredRecord.record_id,
            StoredRecord.jws_sha256,
            StoredRecord.sealed_jws,
        )
        .where(StoredRecord.pk > after_pk, StoredRecord.body_key.is_(None), StoredRecord.sealed_jws != "")
        .order_by(StoredRecord.pk)
        .limit(limit)
    ).all()
    return [(row[0], row[1], row[2], row[3], row[4]) for row in rows]


def replace_clear_body(
    session: Session, pk: int, clear: str, sealed: str, key_ref: str, envelope: str | None, facts: str | None
) -> bool:
    """Swap the clear JWS of row ``pk`` for its sealed form, only if it is still that clear JWS.

    Compare-and-set: a node receiving and deleting meanwhile (a body deleted
    between read and write) is never overwritten. Returns whether the row changed.
    """
    result = session.execute(
        update(StoredRecord)
        .where(StoredRecord.pk == pk, StoredRecord.sealed_jws == clear, StoredRecord.body_key.is_(None))
        .values(
            sealed_jws=sealed,
            body_key=key_ref,
            envelope_json=func.coalesce(StoredRecord.envelope_json, envelope),
            body_facts=facts,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
