"""Every SQL statement of the oversight report.

Every query counts or selects rows in a half-open period ``[start, end)``;
none returns a column that could hold personal data except the lifecycle rows
whose signed bodies the service reads for codes (outcome, decision, time).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from gateway.exchange.models import Delivery
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.records.kinds import INSTRUCTION_TYPES
from gateway.records.models import StoredRecord

APPLICATION_ACKNOWLEDGEMENT = "application_acknowledgement"
NOTICE_TYPES = (
    "onward_sharing_request",
    "onward_sharing_consent",
    "discrepancy_report",
    "discrepancy_response",
    "deletion_notice",
)


def _stored_in(start: datetime, end: datetime) -> ColumnElement[bool]:
    return (StoredRecord.stored_at >= start) & (StoredRecord.stored_at < end)


def deliveries_by_status(session: Session, start: datetime, end: datetime) -> Sequence[tuple[str, str, str, int]]:
    """(recipient, record type, delivery status, count) of this node's valid records stored in the period."""
    rows = session.execute(
        select(Delivery.recipient, StoredRecord.record_type, Delivery.status, func.count())
        .join(StoredRecord, StoredRecord.pk == Delivery.record_pk)
        .where(StoredRecord.direction == "out", StoredRecord.verification == "valid", _stored_in(start, end))
        .group_by(Delivery.recipient, StoredRecord.record_type, Delivery.status)
    ).all()
    return [(str(r), str(t), str(s), int(n)) for r, t, s, n in rows]


def received_by_verification(
    session: Session, start: datetime, end: datetime
) -> Sequence[tuple[str | None, str | None, str, int]]:
    """(sending peer, record type, valid|invalid, count) of incoming records stored in the period."""
    rows = session.execute(
        select(StoredRecord.peer_party, StoredRecord.record_type, StoredRecord.verification, func.count())
        .where(StoredRecord.direction == "in", _stored_in(start, end))
        .group_by(StoredRecord.peer_party, StoredRecord.record_type, StoredRecord.verification)
    ).all()
    return [(p, t, str(v), int(n)) for p, t, v, n in rows]


def incoming_rejections(
    session: Session, start: datetime, end: datetime
) -> Sequence[tuple[str | None, str | None, int]]:
    """(sending peer, reason code, count) of incoming records this node rejected in the period."""
    rows = session.execute(
        select(StoredRecord.peer_party, StoredRecord.verification_reason, func.count())
        .where(StoredRecord.direction == "in", StoredRecord.verification == "invalid", _stored_in(start, end))
        .group_by(StoredRecord.peer_party, StoredRecord.verification_reason)
    ).all()
    return [(p, r, int(n)) for p, r, n in rows]


def outgoing_rejections(session: Session, start: datetime, end: datetime) -> Sequence[tuple[str, str | None, int]]:
    """(recipient, receipt reason code, count) of deliveries of records stored in the period that partners rejected."""
    rows = session.execute(
        select(Delivery.recipient, Delivery.receipt_reason, func.count())
        .join(StoredRecord, StoredRecord.pk == Delivery.record_pk)
        .where(
            StoredRecord.direction == "out",
            StoredRecord.verification == "valid",
            Delivery.status == "rejected",
            _stored_in(start, end),
        )
        .group_by(Delivery.recipient, Delivery.receipt_reason)
    ).all()
    return [(str(p), r, int(n)) for p, r, n in rows]


def instructions(session: Session, direction: str, start: datetime, end: datetime) -> Sequence[StoredRecord]:
    """Valid corrections and retractions in ``direction`` stored in the period, oldest first."""
    return session.scalars(
        select(StoredRecord)
        .where(
            StoredRecord.direction == direction,
            StoredRecord.verification == "valid",
            StoredRecord.record_type.in_(INSTRUCTION_TYPES),
            _stored_in(start, end),
        )
        .order_by(StoredRecord.pk)
    ).all()


def applications(session: Session, direction: str, instruction_ids: Collection[str]) -> Sequence[StoredRecord]:
    """Valid application acknowledgements in ``direction`` about one of ``instruction_ids`` (any time)."""
    if not instruction_ids:
        return []
    return session.scalars(
        select(StoredRecord)
        .where(
            StoredRecord.direction == direction,
            StoredRecord.verification == "valid",
            StoredRecord.record_type == APPLICATION_ACKNOWLEDGEMENT,
            StoredRecord.refers_to.in_(list(instruction_ids)),
        )
        .order_by(StoredRecord.pk)
    ).all()


def notices(session: Session, start: datetime, end: datetime) -> Sequence[StoredRecord]:
    """Valid onward-sharing and discrepancy records and deletion notices stored in the period."""
    return session.scalars(
        select(StoredRecord)
        .where(
            StoredRecord.verification == "valid",
            StoredRecord.record_type.in_(NOTICE_TYPES),
            _stored_in(start, end),
        )
        .order_by(StoredRecord.pk)
    ).all()


def onward_forwards(session: Session, start: datetime, end: datetime) -> Sequence[tuple[str, int]]:
    """(third party, count) of received records this node queued onward, with consent, in the period."""
    rows = session.execute(
        select(Delivery.recipient, func.count())
        .where(
            Delivery.consent_record_pk.is_not(None),
            Delivery.created_at >= start,
            Delivery.created_at < end,
        )
        .group_by(Delivery.recipient)
    ).all()
    return [(str(p), int(n)) for p, n in rows]


def body_deletions(session: Session, start: datetime, end: datetime) -> Sequence[tuple[str | None, str, int]]:
    """(reason, direction, count) of record bodies deleted in the period.

    ``body_deleted_at`` is the time of the record's ``records:body:deleted``
    ledger event; the ledger keeps only a digest of the event's detail, so the
    reason is read from the record.
    """
    rows = session.execute(
        select(StoredRecord.body_deleted_reason, StoredRecord.direction, func.count())
        .where(StoredRecord.body_deleted_at >= start, StoredRecord.body_deleted_at < end)
        .group_by(StoredRecord.body_deleted_reason, StoredRecord.direction)
    ).all()
    return [(r, str(d), int(n)) for r, d, n in rows]


def _event_in(event: AuditEvent, start: datetime, end: datetime) -> ColumnElement[bool]:
    return (LedgerEntry.event == event.value) & (LedgerEntry.at >= start) & (LedgerEntry.at < end)


def event_count(session: Session, event: AuditEvent, start: datetime, end: datetime) -> int:
    """Number of ledger entries of ``event`` in the period."""
    return int(session.scalar(select(func.count()).select_from(LedgerEntry).where(_event_in(event, start, end))) or 0)


# Actor names carry identifiers (client ids, officer usernames): only their kind leaves the database.
_ACTOR_KIND = case(
    (LedgerEntry.actor.like("client:%"), "client"),
    (LedgerEntry.actor.like("officer:%"), "officer"),
    (LedgerEntry.actor == "cli", "cli"),
    else_="other",
)


def views_by_actor_kind(session: Session, start: datetime, end: datetime) -> Sequence[tuple[str, int, int]]:
    """(actor kind, views, distinct records viewed) of ``records:record:viewed`` entries in the period."""
    kind = _ACTOR_KIND.label("kind")
    rows = session.execute(
        select(kind, func.count(), func.count(func.distinct(LedgerEntry.subject)))
        .where(_event_in(AuditEvent.RECORD_VIEWED, start, end))
        .group_by(kind)
    ).all()
    return [(str(k), int(v), int(d)) for k, v, d in rows]


def distinct_records_viewed(session: Session, start: datetime, end: datetime) -> int:
    """Number of distinct records viewed in the period, by anyone."""
    return int(
        session.scalar(
            select(func.count(func.distinct(LedgerEntry.subject))).where(
                _event_in(AuditEvent.RECORD_VIEWED, start, end)
            )
        )
        or 0
    )


# The ledger subject of a sign-in is signin:<method>:<who>; only the method leaves the database.
_SIGN_IN_METHOD = case(
    (LedgerEntry.subject.like("signin:oidc:%"), "oidc"),
    (LedgerEntry.subject.like("signin:password_totp:%"), "password_totp"),
    else_="other",
)


def sign_ins_by_method(session: Session, start: datetime, end: datetime) -> Sequence[tuple[str, int]]:
    """(method, count) of console sign-ins (``console:officer:signed_in``) in the period."""
    method = _SIGN_IN_METHOD.label("method")
    rows = session.execute(
        select(method, func.count()).where(_event_in(AuditEvent.OFFICER_SIGNED_IN, start, end)).group_by(method)
    ).all()
    return [(str(m), int(n)) for m, n in rows]


def dead_deliveries(session: Session, start: datetime, end: datetime) -> Sequence[tuple[str, int]]:
    """(recipient, count) of deliveries given up (``dead``) whose last attempt falls in the period."""
    rows = session.execute(
        select(Delivery.recipient, func.count())
        .where(Delivery.status == "dead", Delivery.last_attempt_at >= start, Delivery.last_attempt_at < end)
        .group_by(Delivery.recipient)
    ).all()
    return [(str(p), int(n)) for p, n in rows]


def suspects_found(
    session: Session, start: datetime, end: datetime
) -> Sequence[tuple[str, str | None, str | None, int]]:
    """(direction, originator, record type, distinct records) flagged ``records:record:suspected`` in the period.

    The ledger subject is the record id; the valid stored copy under that id
    gives the codes (a refused copy under the same id is not counted).
    """
    rows = session.execute(
        select(
            StoredRecord.direction,
            StoredRecord.originator_party,
            StoredRecord.record_type,
            func.count(func.distinct(LedgerEntry.subject)),
        )
        .select_from(LedgerEntry)
        .join(StoredRecord, (StoredRecord.record_id == LedgerEntry.subject) & (StoredRecord.verification == "valid"))
        .where(_event_in(AuditEvent.RECORD_SUSPECTED, start, end))
        .group_by(StoredRecord.direction, StoredRecord.originator_party, StoredRecord.record_type)
    ).all()
    return [(str(d), o, t, int(n)) for d, o, t, n in rows]
