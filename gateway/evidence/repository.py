"""Every SQL statement of the standing check and of the suspect notices (docs/evidence.md, "Suspect records").

Suspicion and notices are ledger facts, not extra tables: a record is flagged
by its ``records:record:suspected`` entry, an officer reviewed it when a
``records:record:viewed`` or ``records:record:acknowledged`` entry of theirs
precedes that flag, and a notice stays until a ``console:notice:dismissed``
entry of that officer follows it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, aliased

from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.records.models import StoredRecord
from gateway.records.states import Verification

REVIEWED = (AuditEvent.RECORD_VIEWED.value, AuditEvent.RECORD_ACKNOWLEDGED.value)


def judgeable_records(
    session: Session, originators: Collection[str], after_pk: int, limit: int
) -> Sequence[StoredRecord]:
    """Valid records of ``originators`` with a body and a record id, ``pk`` above ``after_pk``, oldest first."""
    if not originators:
        return []
    return session.scalars(
        select(StoredRecord)
        .where(
            StoredRecord.pk > after_pk,
            StoredRecord.originator_party.in_(sorted(originators)),
            StoredRecord.verification == Verification.VALID,
            StoredRecord.record_id.is_not(None),
            StoredRecord.body_deleted_at.is_(None),
            StoredRecord.sealed_jws != "",
        )
        .order_by(StoredRecord.pk)
        .limit(limit)
    ).all()


def flagged(session: Session, record_ids: Sequence[str]) -> set[str]:
    """The ids among ``record_ids`` that already have a ``records:record:suspected`` entry."""
    if not record_ids:
        return set()
    return set(
        session.scalars(
            select(LedgerEntry.subject).where(
                LedgerEntry.event == AuditEvent.RECORD_SUSPECTED.value, LedgerEntry.subject.in_(list(record_ids))
            )
        ).all()
    )


def reviewers(session: Session, record_id: str, before_index: int) -> list[str]:
    """The officer actors (``officer:<username>``) who viewed or answered ``record_id`` before ``before_index``."""
    return sorted(
        session.scalars(
            select(LedgerEntry.actor)
            .distinct()
            .where(
                LedgerEntry.subject == record_id,
                LedgerEntry.event.in_(REVIEWED),
                LedgerEntry.actor.like("officer:%"),
                LedgerEntry.index < before_index,
            )
        ).all()
    )


@dataclass(frozen=True, slots=True)
class SuspectNoticeRow:
    """A record an officer reviewed before it was found suspect, and when it was found."""

    record_id: str
    found_at: datetime
    flag_index: int


def open_notices(session: Session, actor: str, limit: int = 50) -> list[SuspectNoticeRow]:
    """Suspect flags of records ``actor`` reviewed before the flag and has not dismissed since, newest first."""
    flag = aliased(LedgerEntry)
    review = aliased(LedgerEntry)
    dismissal = aliased(LedgerEntry)
    reviewed_before = exists().where(
        review.subject == flag.subject,
        review.actor == actor,
        review.event.in_(REVIEWED),
        review.index < flag.index,
    )
    dismissed_after = exists().where(
        and_(
            dismissal.subject == flag.subject,
            dismissal.actor == actor,
            dismissal.event == AuditEvent.SUSPECT_NOTICE_DISMISSED.value,
            dismissal.index > flag.index,
        )
    )
    rows = session.execute(
        select(flag.subject, flag.at, flag.index)
        .where(flag.event == AuditEvent.RECORD_SUSPECTED.value, reviewed_before, ~dismissed_after)
        .order_by(flag.index.desc())
        .limit(limit)
    ).all()
    return [SuspectNoticeRow(str(subject), at, int(index)) for subject, at, index in rows]
