"""Acknowledging a received record: an ``acknowledgement`` record signed back to its originator."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from gateway.exchange.outgoing import Submission
from gateway.ledger.events import AuditEvent
from gateway.lifecycle.issuing import Issuer, Operation, Plan, issue, to_sender
from gateway.lifecycle.schemas import AcknowledgementRequest
from gateway.node import Node
from gateway.records import repository
from gateway.records.documents import signed_document
from gateway.records.errors import NotAcknowledgeableError, RecordNotFoundError
from gateway.records.models import StoredRecord
from gateway.records.schemas import RecordType
from gateway.records.service import resolve_record
from gateway.records.states import STATUS_BY_DECISION, Decision, Direction


def _received(session: Session, record_id: str, originator: str | None) -> StoredRecord:
    """Return the received record to acknowledge.

    Raises RecordNotFoundError, RecordIdAmbiguousError (several originators'
    records under that id and none named), NotAcknowledgeableError (it failed verification).
    """
    try:
        return resolve_record(session, record_id, originator, direction="in")
    except RecordNotFoundError:
        if any(
            c.direction == Direction.IN and originator in (None, c.originator_party)
            for c in repository.by_record_id(session, record_id)
        ):
            raise NotAcknowledgeableError(
                f"record {record_id} failed verification; it cannot be acknowledged"
            ) from None
        raise RecordNotFoundError(f"no received record {record_id} at this node") from None


def _plan(session: Session, node: Node, received: StoredRecord, args: AcknowledgementRequest) -> Plan:
    """An acknowledgement goes back to the originator under the terms the record was shared under.

    Raises NotAcknowledgeableError (retracted, body deleted, itself an acknowledgement).
    """
    record_id = received.record_id or ""
    document = signed_document(received)
    if document is None:
        raise NotAcknowledgeableError(f"record {record_id} was retracted or its body deleted; nothing to acknowledge")
    if received.record_type == RecordType.ACKNOWLEDGEMENT:
        raise NotAcknowledgeableError("acknowledgements are not themselves acknowledged")
    now = node.now()
    expires = max(received.expires_at or now, now + timedelta(days=365))
    plan = to_sender(
        received,
        {
            "acknowledges_record_id": record_id,
            "acknowledged_jws_sha256": received.jws_sha256,
            "decision": args.decision.value,
            **({"comment": args.comment} if args.comment else {}),
        },
        {"decision": args.decision.value, "originator": received.originator_party},
    )
    return replace(plan, expires_at=expires, review_due=expires, envelope={"terms": document["terms"]})


def _answered(session: Session, node: Node, plan: Plan, args: AcknowledgementRequest, issued: str, actor: str) -> None:
    plan.held.status = STATUS_BY_DECISION[args.decision]


ACKNOWLEDGEMENT: Final = Operation[AcknowledgementRequest](
    issues=RecordType.ACKNOWLEDGEMENT,
    find=_received,
    plan=_plan,
    effect=_answered,
    event=AuditEvent.RECORD_ACKNOWLEDGED,
    issued_as="acknowledgement",
    names_originator=True,
)


def acknowledge(
    session: Session,
    node: Node,
    record_id: str,
    *,
    originator: str | None = None,
    decision: Decision,
    comment: str | None,
    actor: str,
    officer_ref: str,
    agency: str,
) -> Submission:
    """Sign and queue an acknowledgement of the received record ``record_id`` (of ``originator``).

    Returns the submission of the acknowledgement record. Raises
    RecordNotFoundError, RecordIdAmbiguousError (several originators' records
    under that id and none named), NotAcknowledgeableError (not a valid
    incoming record, or itself an acknowledgement), and the errors of submit_draft.
    """
    args = AcknowledgementRequest.model_construct(decision=decision, comment=comment, officer_ref=officer_ref)
    return issue(
        session, node, ACKNOWLEDGEMENT, record_id, args, Issuer(actor, officer_ref, agency), originator=originator
    )


def apply_incoming_acknowledgement(session: Session, stored: StoredRecord, body: dict[str, Any]) -> None:
    """Mark our outgoing record as acknowledged/queried/rejected by the partner that answered.

    The status says what was decided and ``answered_by`` who decided it; the
    latest answer wins (each one is also in the ledger).
    """
    target = repository.own_copy(session, str(body.get("acknowledges_record_id")))
    if target is None or target.jws_sha256 != body.get("acknowledged_jws_sha256"):
        return
    target.status = STATUS_BY_DECISION[Decision(str(body.get("decision")))]  # the schema allows these three only
    target.answered_by = stored.originator_party
