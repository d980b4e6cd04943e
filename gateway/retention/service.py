"""Retention: delete the bodies of expired records, keep what the audit trail needs, honour legal holds.

A record's ``expires_at`` is where the terms' retention for its type (and
subject status) ends; the terms refused anything longer when it was signed or
received. When it has passed, the body goes: the JWS is emptied, the envelope
and the JWS digest stay (every receipt and ledger entry still names them),
pending deliveries are cancelled, and the terms decide who is sent a signed
deletion notice. A legal hold, placed by an administrator with a reason,
keeps a record past its expiry until it is released.

Services take a Session and never commit: the caller runs one batch per
transaction (see gateway/retention/scheduler.py run_retention_pass).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.lifecycle.corrections import cancel_pending
from gateway.lifecycle.erasure import delete_body
from gateway.lifecycle.errors import NotHeldError, RecordWithdrawnError
from gateway.lifecycle.notices import send_deletion_notice
from gateway.node import Node
from gateway.records.errors import RecordIdAmbiguousError
from gateway.records.kinds import SUBSTANTIVE_TYPES
from gateway.records.lifecycle_bodies import DeletionGround
from gateway.records.models import StoredRecord
from gateway.records.signing import rfc3339
from gateway.records.states import Direction
from gateway.retention import repository
from gateway.retention.errors import LegalHoldExistsError, LegalHoldReasonError, NoLegalHoldError

BATCH_SIZE = 500
REASON_MAX = 500  # the width of records.legal_hold_reason


def _time(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


@dataclass(frozen=True)
class DeletedBody:
    record_id: str
    direction: str
    record_type: str


@dataclass(frozen=True)
class HeldRecord:
    record_id: str
    direction: str
    record_type: str
    expires_at: str | None
    reason: str
    held_by: str | None
    held_at: str | None


@dataclass(frozen=True)
class SentNotice:
    notice_record_id: str
    about_record_id: str
    recipients: list[str]


@dataclass
class RetentionReport:
    """What one retention run (or one batch of it) did."""

    as_of: datetime
    deleted: list[DeletedBody] = field(default_factory=list)
    held: list[HeldRecord] = field(default_factory=list)
    notices: list[SentNotice] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    last_pk: int = 0  # the highest row examined; the next batch starts after it
    exhausted: bool = True  # no expired row after last_pk was left for another batch

    def merge(self, batch: RetentionReport) -> None:
        """Add a later batch of the same run to this report."""
        self.deleted += batch.deleted
        self.held += batch.held
        self.notices += batch.notices
        self.errors += batch.errors
        self.last_pk = max(self.last_pk, batch.last_pk)
        self.exhausted = batch.exhausted

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": rfc3339(self.as_of),
            "deleted": [asdict(d) for d in self.deleted],
            "held": [asdict(h) for h in self.held],
            "notices": [asdict(n) for n in self.notices],
            "errors": list(self.errors),
        }


def run_retention(
    session: Session,
    node: Node,
    *,
    actor: str,
    now: datetime | None = None,
    after_pk: int = 0,
    limit: int = BATCH_SIZE,
) -> RetentionReport:
    """Delete the bodies of at most ``limit`` records expired at ``now`` (rows after ``after_pk``).

    Records on legal hold are kept and reported in ``held``. For substantive
    records (flags, manifests, confirmations, corrections) the deletion
    notices the terms in force require are signed and queued; a notice that
    cannot be sent is reported in ``errors`` and does not stop the deletion.
    Returns the batch's report; ``exhausted`` is False when more rows may follow.
    Raises only on a damaged database (e.g. LedgerStoreError).
    """
    now = now or node.now()
    rows = repository.expired_batch(session, now, after_pk=after_pk, limit=limit)
    report = RetentionReport(as_of=now, last_pk=rows[-1].pk if rows else after_pk, exhausted=len(rows) < limit)
    for row in rows:
        if row.legal_hold_at is not None:
            report.held.append(_held(row))
            continue
        # Pending deliveries first: an emptied JWS must never be sent.
        cancel_pending(session, row, actor=actor, now=now)
        if not delete_body(session, row, reason="retention", actor=actor, now=now):
            continue
        report.deleted.append(DeletedBody(row.record_id or "", row.direction, row.record_type or ""))
        if row.record_type not in SUBSTANTIVE_TYPES:
            continue  # notices about notices would never end
        outcome = send_deletion_notice(
            session, node, row, ground=DeletionGround.RETENTION_EXPIRED, actor=actor, now=now
        )
        if outcome.error is not None:
            report.errors.append(outcome.error)
        elif outcome.notice_record_id is not None:
            report.notices.append(SentNotice(outcome.notice_record_id, row.record_id or "", outcome.recipients))
    return report


def _held(row: StoredRecord) -> HeldRecord:
    return HeldRecord(
        record_id=row.record_id or "",
        direction=row.direction,
        record_type=row.record_type or "",
        expires_at=_time(row.expires_at),
        reason=row.legal_hold_reason or "",
        held_by=row.legal_hold_by,
        held_at=_time(row.legal_hold_at),
    )


@dataclass(frozen=True)
class ReviewDue:
    """A record past its review date: keep it (and justify why) or let it expire."""

    record_id: str
    direction: str
    record_type: str
    originator_party: str | None
    review_due: str | None
    expires_at: str | None
    days_left: int | None
    legal_hold: bool


def review_due(session: Session, node: Node, *, limit: int = BATCH_SIZE) -> list[ReviewDue]:
    """Return live records whose review date has passed but which have not expired, expiring soonest first."""
    now = node.now()
    return [
        ReviewDue(
            record_id=row.record_id or "",
            direction=row.direction,
            record_type=row.record_type or "",
            originator_party=row.originator_party,
            review_due=_time(row.review_due),
            expires_at=_time(row.expires_at),
            days_left=(row.expires_at - now).days if row.expires_at is not None else None,
            legal_hold=row.legal_hold_at is not None,
        )
        for row in repository.review_due(session, now, limit)
    ]


@dataclass(frozen=True)
class RetentionCounts:
    review_due: int
    expired_held: int


def retention_counts(session: Session, node: Node) -> RetentionCounts:
    """Return how many records are due for review and how many expired ones a hold keeps."""
    now = node.now()
    return RetentionCounts(repository.count_review_due(session, now), repository.count_expired_held(session, now))


@dataclass(frozen=True)
class HoldChange:
    """The copies of a record a hold was placed on or released from."""

    record_id: str
    directions: list[Direction]
    reason: str | None
    by: str | None
    at: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _copies(session: Session, record_id: str, originator: str | None) -> list[StoredRecord]:
    # A record is its originator's id: a hold names one originator's record,
    # never whatever another partner filed under the same id.
    rows = [r for r in repository.valid_copies(session, record_id) if originator in (None, r.originator_party)]
    if not rows:
        whose = f" from {originator}" if originator else ""
        raise NotHeldError(f"no valid record {record_id}{whose} at this node")
    originators = {r.originator_party or "?" for r in rows}
    if len(originators) > 1:
        raise RecordIdAmbiguousError(record_id, originators)
    return rows


def place_legal_hold(
    session: Session, node: Node, record_id: str, *, reason: str, actor: str, originator: str | None = None
) -> HoldChange:
    """Put every valid copy of ``record_id`` at this node under a legal hold: retention keeps it.

    Returns the copies held. Raises LegalHoldReasonError (blank or too long a
    reason), NotHeldError (no such record here), RecordIdAmbiguousError
    (several originators used the id here and ``originator`` names none),
    RecordWithdrawnError (its body is already gone) and LegalHoldExistsError
    (already held).
    """
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX:
        raise LegalHoldReasonError(f"the reason must be 1 to {REASON_MAX} characters, got {len(reason)}")
    rows = _copies(session, record_id, originator)
    present = [r for r in rows if r.body_deleted_at is None]
    if not present:
        raise RecordWithdrawnError(f"the body of record {record_id} is already deleted; there is nothing to hold")
    free = [r for r in present if r.legal_hold_at is None]
    if not free:
        raise LegalHoldExistsError(f"record {record_id} is held since {_time(present[0].legal_hold_at)}")
    now = node.now()
    for row in free:
        row.legal_hold_reason = reason
        row.legal_hold_by = actor[:100]
        row.legal_hold_at = now
    directions = [r.direction for r in free]
    # The ledger keeps a digest of the detail only: the reason is provable, not disclosed.
    append_event(
        session,
        AuditEvent.LEGAL_HOLD_PLACED,
        actor=actor,
        subject=record_id,
        at=now,
        detail={"reason": reason, "directions": directions},
    )
    return HoldChange(record_id, directions, reason, actor[:100], rfc3339(now))


def release_legal_hold(
    session: Session, node: Node, record_id: str, *, actor: str, originator: str | None = None
) -> HoldChange:
    """Release the legal hold on every copy of ``record_id``; an expired record goes at the next run.

    Returns the copies released. Raises NotHeldError (no such record here) and
    NoLegalHoldError (not under a hold), RecordIdAmbiguousError as place_legal_hold.
    """
    held = [r for r in _copies(session, record_id, originator) if r.legal_hold_at is not None]
    if not held:
        raise NoLegalHoldError(f"record {record_id} is not under a legal hold")
    now = node.now()
    reason = held[0].legal_hold_reason
    for row in held:
        row.legal_hold_reason = row.legal_hold_by = row.legal_hold_at = None
    directions = [r.direction for r in held]
    append_event(
        session,
        AuditEvent.LEGAL_HOLD_RELEASED,
        actor=actor,
        subject=record_id,
        at=now,
        detail={"reason": reason, "directions": directions},
    )
    return HoldChange(record_id, directions, None, actor[:100], rfc3339(now))
