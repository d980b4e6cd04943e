"""Acknowledging a received record: an ``acknowledgement`` record signed back to its originator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from gateway.exchange.outgoing import Submission, submit_draft
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.node import Node
from gateway.records import repository
from gateway.records.documents import signed_document
from gateway.records.errors import NotAcknowledgeableError, RecordNotFoundError
from gateway.records.models import StoredRecord
from gateway.records.schemas import RecordType
from gateway.records.service import resolve_record
from gateway.records.signing import rfc3339
from gateway.records.states import STATUS_BY_DECISION, Decision, Direction


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
    try:
        received = resolve_record(session, record_id, originator, direction="in")
    except RecordNotFoundError:
        if any(
            c.direction == Direction.IN and originator in (None, c.originator_party)
            for c in repository.by_record_id(session, record_id)
        ):
            raise NotAcknowledgeableError(
                f"record {record_id} failed verification; it cannot be acknowledged"
            ) from None
        raise RecordNotFoundError(f"no received record {record_id} at this node") from None
    document = signed_document(received)
    if document is None:
        raise NotAcknowledgeableError(f"record {record_id} was retracted or its body deleted; nothing to acknowledge")
    if received.record_type == RecordType.ACKNOWLEDGEMENT:
        raise NotAcknowledgeableError("acknowledgements are not themselves acknowledged")
    now = node.now()
    expires = max(received.expires_at or now, now + timedelta(days=365))
    draft: dict[str, Any] = {
        "record_type": "acknowledgement",
        "originator": {"party": node.party, "agency": agency, "officer_ref": officer_ref},
        "recipients": [received.originator_party],
        "purpose": document["purpose"],
        "legal_basis": document["legal_basis"],
        "handling": document["handling"],
        "terms": document["terms"],
        "expires_at": rfc3339(expires),
        "review_due": rfc3339(expires),
        "body": {
            "acknowledges_record_id": record_id,
            "acknowledged_jws_sha256": received.jws_sha256,
            "decision": decision.value,
            **({"comment": comment} if comment else {}),
        },
    }
    submission = submit_draft(session, node, draft, actor=actor)
    received.status = STATUS_BY_DECISION[decision]
    append_event(
        session,
        AuditEvent.RECORD_ACKNOWLEDGED,
        actor=actor,
        subject=record_id,
        at=now,
        detail={
            "decision": decision.value,
            "acknowledgement": submission.record.record_id,
            "originator": received.originator_party,
        },
    )
    return submission


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
