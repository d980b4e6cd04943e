"""Discrepancy reports: a recipient contests a record; it stays contested until the originator answers."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.orm import Session

from gateway.errors import InputError
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.lifecycle import repository
from gateway.lifecycle.drafts import own_record, received_record, require_body
from gateway.lifecycle.errors import WrongRecordTypeError
from gateway.lifecycle.issuing import Operation, Plan, to_sender
from gateway.lifecycle.schemas import DiscrepancyAnswer, DiscrepancyRequest
from gateway.node import Node
from gateway.records.kinds import INSTRUCTION_TYPES
from gateway.records.models import StoredRecord
from gateway.records.schemas import RecordType
from gateway.records.states import RecordStatus


def _plan_report(session: Session, node: Node, held: StoredRecord, args: DiscrepancyRequest) -> Plan:
    """A discrepancy report tells the originator that the received record looks wrong."""
    record_id = held.record_id or ""
    body: dict[str, Any] = {
        "reported_record_id": record_id,
        "reported_jws_sha256": held.jws_sha256,
        "category": args.category,
        "details": args.details,
        **({"person_ref": args.person_ref} if args.person_ref else {}),
    }
    return to_sender(held, body, {"category": args.category})


def _contested(session: Session, node: Node, plan: Plan, args: DiscrepancyRequest, issued: str, actor: str) -> None:
    plan.held.contested_by = issued


DISCREPANCY_REPORT: Final = Operation[DiscrepancyRequest](
    issues=RecordType.DISCREPANCY_REPORT,
    find=received_record,
    plan=_plan_report,
    effect=_contested,
    event=AuditEvent.RECORD_CONTESTED,
    issued_as="report",
    names_originator=True,
)


def _plan_answer(session: Session, node: Node, report: StoredRecord, args: DiscrepancyAnswer) -> Plan:
    """As originator, answer a received discrepancy report about this node's record.

    Raises WrongRecordTypeError, NotOriginatorError, InputError (a follow-up
    that is not this node's correction or retraction of the record).
    """
    report_id = report.record_id or ""
    if report.record_type != RecordType.DISCREPANCY_REPORT.value:
        raise WrongRecordTypeError(f"record {report_id} is a {report.record_type}, not a discrepancy_report")
    reported = str(require_body(report)["body"]["reported_record_id"])
    target = own_record(session, reported)
    if args.follow_up_record_id is not None:
        _check_follow_up(session, target, args.follow_up_record_id)
    body: dict[str, Any] = {
        "report_record_id": report_id,
        "reported_record_id": reported,
        "outcome": args.outcome,
        "comment": args.comment,
        **({"follow_up_record_id": args.follow_up_record_id} if args.follow_up_record_id else {}),
    }
    return to_sender(report, body, {"report": report_id, "outcome": args.outcome}, about=target, subject=reported)


def _answered(session: Session, node: Node, plan: Plan, args: DiscrepancyAnswer, issued: str, actor: str) -> None:
    """The record is no longer contested by this report, and the report is answered."""
    if plan.about.contested_by == plan.held.record_id:
        plan.about.contested_by = None
    plan.held.status = RecordStatus.ANSWERED


DISCREPANCY_RESPONSE: Final = Operation[DiscrepancyAnswer](
    issues=RecordType.DISCREPANCY_RESPONSE,
    find=received_record,
    plan=_plan_answer,
    effect=_answered,
    event=AuditEvent.DISCREPANCY_ANSWERED,
    issued_as="response",
)


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
