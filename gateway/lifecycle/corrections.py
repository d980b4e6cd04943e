"""Corrections and retractions: issued by the originator only, applied by every holder.

The originator signs a ``correction`` (a full replacement that ``supersedes``
the old version) or a ``retraction`` (with a reason) and sends it to every
party that was sent the record, onward parties included. Each holder marks
its copy superseded, or deletes a retracted record's body, and answers with a
signed ``application_acknowledgement``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy.orm import Session

from gateway.exchange.outgoing import Submission
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.lifecycle import repository
from gateway.lifecycle.drafts import draft_about, find_own, holders, lineage, require_body, submit_automatic
from gateway.lifecycle.erasure import delete_body
from gateway.lifecycle.errors import AlreadySupersededError, RecordWithdrawnError, WrongRecordTypeError
from gateway.lifecycle.issuing import Issuer, Operation, Plan, issue
from gateway.lifecycle.schemas import CorrectionRequest, RetractionReasonCode, RetractionRequest
from gateway.node import Node
from gateway.records.bodies import SubjectStatus
from gateway.records.documents import effective_type
from gateway.records.kinds import CORRECTABLE_TYPES
from gateway.records.models import StoredRecord
from gateway.records.schemas import RecordType
from gateway.records.signing import parse_rfc3339, rfc3339
from gateway.records.states import DeliveryStatus
from gateway.terms.errors import TermsViolationError


def _plan_correction(session: Session, node: Node, target: StoredRecord, args: CorrectionRequest) -> Plan:
    """A correction replaces the whole body and goes to every party that holds the record.

    Raises RecordWithdrawnError, AlreadySupersededError, WrongRecordTypeError,
    TermsViolationError (retention_exceeded).
    """
    record_id = target.record_id or ""
    document = require_body(target)
    if target.superseded_by is not None:
        raise AlreadySupersededError(
            f"record {record_id} was already corrected by {target.superseded_by}",
            hint=f"correct the latest version, {target.superseded_by}",
        )
    replaced = effective_type(target)
    replaced_type = replaced.value if replaced is not None else str(target.record_type)
    if replaced_type not in CORRECTABLE_TYPES:
        raise WrongRecordTypeError(f"a {target.record_type} cannot be corrected; only flags, manifests, confirmations")
    recipients = holders(session, target)
    return Plan(
        held=target,
        about=target,
        recipients=recipients,
        body={
            "corrected_jws_sha256": target.jws_sha256,
            "reason": args.reason,
            "replacement": {"record_type": replaced_type, "body": args.body},
        },
        subject=record_id,
        detail={"recipients": recipients},
        expires_at=_corrected_expiry(session, node, target, replaced_type, args.body, document),
        review_due=parse_rfc3339(document["review_due"]),
        supersedes=record_id,
    )


def _superseded(session: Session, node: Node, plan: Plan, args: CorrectionRequest, issued: str, actor: str) -> None:
    plan.held.superseded_by = issued


CORRECTION: Final = Operation[CorrectionRequest](
    issues=RecordType.CORRECTION,
    find=find_own,
    plan=_plan_correction,
    effect=_superseded,
    event=AuditEvent.RECORD_CORRECTED,
    issued_as="correction",
    issuing_agency_only=True,
)


def correct(
    session: Session,
    node: Node,
    record_id: str,
    *,
    replacement: dict[str, Any],
    reason: str,
    actor: str,
    officer_ref: str,
    agency: str,
) -> Submission:
    """Issue a correction of this node's record ``record_id`` to everyone who holds it.

    ``replacement`` is the full corrected body. Returns the correction's
    submission. Raises NotOriginatorError, NotHeldError, RecordWithdrawnError,
    AlreadySupersededError, WrongRecordTypeError and the errors of submit_draft.
    """
    args = CorrectionRequest.model_construct(reason=reason, body=replacement, officer_ref=officer_ref)
    return issue(session, node, CORRECTION, record_id, args, Issuer(actor, officer_ref, agency))


def _corrected_expiry(
    session: Session,
    node: Node,
    target: StoredRecord,
    replaced_type: str,
    replacement: dict[str, Any],
    document: dict[str, Any],
) -> datetime:
    """When a correction of ``target`` expires: no later than the corrected version, nor than the
    terms allow for what the replacement now says (a charged subject now only a suspect), counted
    from when the record was first shared.

    Raises TermsViolationError (retention_exceeded) when that time has already passed.
    """
    expires = parse_rfc3339(document["expires_at"])
    current = node.terms.current(node.now()) if node.terms is not None else None
    if current is None:
        return expires  # submit_draft refuses to send without terms
    status = replacement.get("subject_status") if replaced_type == RecordType.CRIMINAL_NETWORK_FLAG.value else None
    try:
        subject_status = SubjectStatus(status) if status is not None else None
    except ValueError:
        return expires  # the schema check of the draft names the bad value
    days = current.terms.retention_days(RecordType(replaced_type), subject_status)
    first = lineage(session, "out", target)[0]
    if days is None or first.created_at is None:
        return expires
    limit = first.created_at + timedelta(days=days)
    if limit <= node.now():
        raise TermsViolationError(
            "retention_exceeded",
            f"record {first.record_id} was first shared at {rfc3339(first.created_at)}; as corrected it may be "
            f"kept {days} days, until {rfc3339(limit)}, which has passed: retract it instead",
        )
    return min(expires, limit)


def cancel_pending(session: Session, row: StoredRecord, *, actor: str, now: datetime) -> None:
    """Cancel deliveries of ``row`` not yet made: a withdrawn body must not go out any more."""
    for delivery in repository.deliveries_of(session, [row.pk]):
        if delivery.status == DeliveryStatus.PENDING:
            delivery.status = DeliveryStatus.CANCELLED
            delivery.lease_until = None
            append_event(
                session,
                AuditEvent.DELIVERY_CANCELLED,
                actor=actor,
                subject=row.record_id or f"delivery:{delivery.pk}",
                at=now,
                detail={"delivery": delivery.pk, "recipient": delivery.recipient},
            )


def _plan_retraction(session: Session, node: Node, target: StoredRecord, args: RetractionRequest) -> Plan:
    """A retraction withdraws every version of the record from every party any version went to.

    Raises RecordWithdrawnError (already retracted).
    """
    record_id = target.record_id or ""
    if target.retracted_by is not None:
        raise RecordWithdrawnError(f"record {record_id} was already retracted by {target.retracted_by}")
    versions = lineage(session, "out", target)
    recipients: list[str] = []
    for version in versions:
        recipients += [p for p in holders(session, version) if p not in recipients]
    body: dict[str, Any] = {
        "retracted_record_id": record_id,
        "retracted_jws_sha256": target.jws_sha256,
        "reason": args.reason,
        **({"comment": args.comment} if args.comment else {}),
    }
    return Plan(
        held=target,
        about=target,
        recipients=recipients,
        body=body,
        subject=record_id,
        detail={"reason": args.reason, "recipients": recipients},
        rows=tuple(versions),
    )


def _withdrawn(session: Session, node: Node, plan: Plan, args: RetractionRequest, issued: str, actor: str) -> None:
    """Every local version loses its body (unless on legal hold) and its pending deliveries."""
    now = node.now()
    for version in plan.rows:
        version.retracted_by = issued
        cancel_pending(session, version, actor=actor, now=now)
        delete_body(session, version, reason="retraction", actor=actor, now=now)


RETRACTION: Final = Operation[RetractionRequest](
    issues=RecordType.RETRACTION,
    find=find_own,
    plan=_plan_retraction,
    effect=_withdrawn,
    event=AuditEvent.RECORD_RETRACTED,
    issued_as="retraction",
    issuing_agency_only=True,
)


def retract(
    session: Session,
    node: Node,
    record_id: str,
    *,
    reason: str,
    comment: str | None,
    actor: str,
    officer_ref: str,
    agency: str,
) -> Submission:
    """Retract this node's record ``record_id`` (every version of it) everywhere it went.

    The local copies lose their bodies (unless on legal hold) and their pending
    deliveries are cancelled. Returns the retraction's submission. Raises
    NotOriginatorError, NotHeldError, RecordWithdrawnError and the errors of submit_draft.
    """
    args = RetractionRequest.model_construct(
        reason=cast(RetractionReasonCode, reason), comment=comment, officer_ref=officer_ref
    )
    return issue(session, node, RETRACTION, record_id, args, Issuer(actor, officer_ref, agency))


# -- at a recipient ------------------------------------------------------------


def _held_lineage(session: Session, record_id: str, originator: str) -> list[StoredRecord]:
    """Every version of ``record_id`` this node received from ``originator``, oldest first.

    A later correction may be all this node got (it can overtake the record, and a
    party the originator consented to receives corrections whether or not the
    record was ever forwarded to it), so the lineage is also found from there.
    """
    target = repository.valid_copy(session, "in", record_id, originator)
    if target is None:
        later = repository.about(session, "in", [record_id], [RecordType.CORRECTION.value])
        target = next((c for c in later if c.originator_party == originator), None)
    if target is None or target.originator_party != originator:
        return []
    return lineage(session, "in", target)


def _retraction_of(session: Session, record_id: str, originator: str) -> str | None:
    """The id of a retraction of ``record_id`` this node received from ``originator``, if any."""
    retractions = repository.about(session, "in", [record_id], [RecordType.RETRACTION.value])
    return next((r.record_id for r in retractions if r.originator_party == originator), None)


def apply_correction(session: Session, node: Node, correction: StoredRecord) -> None:
    """Mark the corrected copy superseded (if held) and acknowledge the application.

    A correction of a record already retracted here loses its body at once.
    """
    originator = correction.originator_party or ""
    target = repository.valid_copy(session, "in", correction.supersedes or "", originator)
    applied = target is not None and target.originator_party == originator
    if target is not None and applied:
        target.superseded_by = correction.record_id
        append_event(
            session,
            AuditEvent.RECORD_SUPERSEDED,
            actor=f"party:{originator}",
            subject=target.record_id or "",
            at=node.now(),
            detail={"correction": correction.record_id},
        )
    # A retraction of the lineage arrived first, whether or not the corrected version ever did.
    retracted_by = target.retracted_by if target is not None and applied else None
    retracted_by = retracted_by or _retraction_of(session, correction.supersedes or "", originator)
    deleted = False
    if retracted_by is not None:
        correction.retracted_by = retracted_by
        deleted = delete_body(session, correction, reason="retraction", actor="lifecycle", now=node.now())
    acknowledge_application(session, node, correction, applied=applied, body_deleted=deleted)


def apply_retraction(session: Session, node: Node, retraction: StoredRecord) -> None:
    """Delete the bodies of every held version of the retracted record and acknowledge it."""
    versions = _held_lineage(session, retraction.refers_to or "", retraction.originator_party or "")
    deleted = False
    if versions:
        now = node.now()
        for version in versions:
            version.retracted_by = retraction.record_id
            cancel_pending(session, version, actor="lifecycle", now=now)  # e.g. a forward onward not yet made
            deleted = delete_body(session, version, reason="retraction", actor="lifecycle", now=now) or deleted
        append_event(
            session,
            AuditEvent.RECORD_RETRACTED,
            actor=f"party:{retraction.originator_party}",
            subject=retraction.refers_to or "",
            at=now,
            detail={"retraction": retraction.record_id, "body_deleted": deleted},
        )
    acknowledge_application(session, node, retraction, applied=bool(versions), body_deleted=deleted)


def apply_late_arrival(session: Session, node: Node, arrived: StoredRecord) -> None:
    """A record that arrives after its correction or retraction is marked at once."""
    apply_late_arrivals(session, node, [arrived])


def apply_late_arrivals(session: Session, node: Node, arrived: list[StoredRecord]) -> None:
    """``apply_late_arrival`` for many records with one query (a received batch)."""
    # Keyed by (originator, id): a batch may hold two originators' records under one id.
    by_id = {(row.originator_party, row.record_id): row for row in arrived if row.record_id}
    kinds = [RecordType.CORRECTION.value, RecordType.RETRACTION.value]
    for instruction in repository.about(session, "in", [record_id for _, record_id in by_id], kinds):
        target = by_id.get((instruction.originator_party, instruction.refers_to or ""))
        if target is None:
            continue
        if instruction.record_type == RecordType.CORRECTION.value:
            target.superseded_by = instruction.record_id
            if instruction.retracted_by is not None:  # retracted through the later version
                target.retracted_by = instruction.retracted_by
                delete_body(session, target, reason="retraction", actor="lifecycle", now=node.now())
        else:
            target.retracted_by = instruction.record_id
            delete_body(session, target, reason="retraction", actor="lifecycle", now=node.now())


def acknowledge_application(
    session: Session, node: Node, instruction: StoredRecord, *, applied: bool, body_deleted: bool
) -> None:
    """Send the originator a signed application acknowledgement for ``instruction``."""
    now = node.now()
    body = {
        "instruction_record_id": instruction.record_id,
        "instruction_jws_sha256": instruction.jws_sha256,
        "instruction_type": instruction.record_type,
        "outcome": "applied" if applied else "not_held",
        "applied_at": rfc3339(now),
        "body_deleted": body_deleted,
    }
    draft = draft_about(
        node,
        instruction,
        RecordType.APPLICATION_ACKNOWLEDGEMENT,
        [instruction.originator_party or ""],
        body,
        officer_ref="gateway:lifecycle",
        agency=node.settings.agency,
    )
    submit_automatic(session, node, draft, actor="lifecycle")
