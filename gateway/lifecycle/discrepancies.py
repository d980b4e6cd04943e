"""Discrepancy reports: a recipient contests a record; it stays contested until the originator answers."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gateway.errors import InputError
from gateway.exchange.outgoing import Submission
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.lifecycle import repository
from gateway.lifecycle.drafts import draft_about, own_record, received_record, require_body, submit
from gateway.lifecycle.errors import WrongRecordTypeError
from gateway.node import Node
from gateway.records.kinds import INSTRUCTION_TYPES
from gateway.records.models import StoredRecord
from gateway.records.schemas import RecordType
from gateway.records.states import RecordStatus


def report_discrepancy(
    session: Session,
    node: Node,
    record_id: str,
    *,
    originator: str | None = None,
    category: str,
    person_ref: str | None,
    details: str,
    actor: str,
    officer_ref: str,
    agency: str,
) -> Submission:
    """Tell the originator that the received record ``record_id`` looks wrong; marks it contested.

    Raises NotHeldError, RecordIdAmbiguousError and the errors of submit_draft.
    """
    held = received_record(session, record_id, originator)
    body: dict[str, Any] = {
        "reported_record_id": record_id,
        "reported_jws_sha256": held.jws_sha256,
        "category": category,
        "details": details,
        **({"person_ref": person_ref} if person_ref else {}),
    }
    draft = draft_about(
        node,
        held,
        RecordType.DISCREPANCY_REPORT,
        [held.originator_party or ""],
        body,
        officer_ref=officer_ref,
        agency=agency,
    )
    submission = submit(session, node, draft, actor=actor)
    held.contested_by = submission.record.record_id
    append_event(
        session,
        AuditEvent.RECORD_CONTESTED,
        actor=actor,
        subject=record_id,
        at=node.now(),
        detail={"report": submission.record.record_id, "category": category},
    )
    return submission


def answer_discrepancy(
    session: Session,
    node: Node,
    report_id: str,
    *,
    outcome: str,
    follow_up_record_id: str | None,
    comment: str,
    actor: str,
    officer_ref: str,
    agency: str,
) -> Submission:
    """As originator, answer the discrepancy report ``report_id``; the record is no longer contested.

    Raises NotHeldError, WrongRecordTypeError, NotOriginatorError, InputError
    (a follow-up that is not this node's correction or retraction of the record).
    """
    report = received_record(session, report_id)
    if report.record_type != RecordType.DISCREPANCY_REPORT.value:
        raise WrongRecordTypeError(f"record {report_id} is a {report.record_type}, not a discrepancy_report")
    reported = str(require_body(report)["body"]["reported_record_id"])
    target = own_record(session, reported)
    if follow_up_record_id is not None:
        _check_follow_up(session, target, follow_up_record_id)
    body: dict[str, Any] = {
        "report_record_id": report_id,
        "reported_record_id": reported,
        "outcome": outcome,
        "comment": comment,
        **({"follow_up_record_id": follow_up_record_id} if follow_up_record_id else {}),
    }
    draft = draft_about(
        node,
        target,
        RecordType.DISCREPANCY_RESPONSE,
        [report.originator_party or ""],
        body,
        officer_ref=officer_ref,
        agency=agency,
    )
    submission = submit(session, node, draft, actor=actor)
    if target.contested_by == report_id:
        target.contested_by = None
    report.status = RecordStatus.ANSWERED
    append_event(
        session,
        AuditEvent.DISCREPANCY_ANSWERED,
        actor=actor,
        subject=reported,
        at=node.now(),
        detail={"report": report_id, "response": submission.record.record_id, "outcome": outcome},
    )
    return submission


def _check_follow_up(session: Session, target: StoredRecord, follow_up: str) -> None:
    row = repository.valid_copy(session, "out", follow_up)
    refers = {target.record_id, target.superseded_by}
    if row is None or row.record_type not in INSTRUCTION_TYPES or row.refers_to not in refers:
        raise InputError(f"{follow_up} is not this node's correction or retraction of record {target.record_id}")


def apply_report(session: Session, node: Node, report: StoredRecord) -> None:
    """At the originator: mark the reported record contested until answered."""
    target = repository.valid_copy(session, "out", report.refers_to or "")
    if target is not None:
        target.contested_by = report.record_id
        append_event(
            session,
            AuditEvent.RECORD_CONTESTED,
            actor=f"party:{report.originator_party}",
            subject=target.record_id or "",
            at=node.now(),
            detail={"report": report.record_id},
        )


def apply_response(session: Session, node: Node, response: StoredRecord) -> None:
    """At the reporter: the originator answered, so the record is no longer contested."""
    report = repository.valid_copy(session, "out", response.refers_to or "")
    if report is None or report.refers_to is None:
        return
    held = repository.valid_copy(session, "in", report.refers_to, response.originator_party)
    if held is not None and held.contested_by == report.record_id:
        held.contested_by = None
        append_event(
            session,
            AuditEvent.DISCREPANCY_ANSWERED,
            actor=f"party:{response.originator_party}",
            subject=held.record_id or "",
            at=node.now(),
            detail={"report": report.record_id, "response": response.record_id},
        )
