"""Onward sharing: a recipient passes a record to a third party only with the originator's signed consent.

The recipient asks (``onward_sharing_request``), the originator answers
(``onward_sharing_consent``, granted or refused), and only a granted consent
lets the gateway forward the originator's own signed bytes, together with the
consent, to the third party. Handling codes the terms forbid (H3) are never
shared onward, whatever anyone signs.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.orm import Session

from gateway.errors import InputError
from gateway.exchange.outgoing import queue_delivery
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.lifecycle import repository
from gateway.lifecycle.drafts import own_record, received_record, require_body
from gateway.lifecycle.errors import OnwardConsentMissingError, OnwardSharingForbiddenError, WrongRecordTypeError
from gateway.lifecycle.issuing import Operation, Plan, no_effect, to_sender
from gateway.lifecycle.schemas import ConsentRequest, OnwardRequest
from gateway.node import Node
from gateway.records.documents import signed_document
from gateway.records.kinds import SHAREABLE_TYPES
from gateway.records.models import Delivery, StoredRecord
from gateway.records.schemas import RecordType
from gateway.records.states import RecordStatus
from gateway.terms.sharing import forbidden_handling
from gateway.trust.parties import require_known_party


def _refuse_forbidden(node: Node, record: StoredRecord) -> None:
    if record.handling in forbidden_handling(node):
        raise OnwardSharingForbiddenError(
            f"record {record.record_id} has handling {record.handling}: the terms forbid sharing it onward"
        )


def _plan_request(session: Session, node: Node, held: StoredRecord, args: OnwardRequest) -> Plan:
    """Ask the originator of a received record for consent to pass it to a third party.

    Raises RecordWithdrawnError, OnwardSharingForbiddenError, WrongRecordTypeError,
    InputError (a party that already holds it).
    """
    record_id = held.record_id or ""
    require_body(held)
    _refuse_forbidden(node, held)
    if held.record_type not in SHAREABLE_TYPES:
        raise WrongRecordTypeError(
            f"record {record_id} is a {held.record_type}; only flags, manifests, confirmations and their "
            "corrections are shared onward"
        )
    if args.third_party in {node.party, held.originator_party, *held.recipients.split(",")}:
        raise InputError(f"{args.third_party} already holds record {record_id} or is its originator")
    body = {
        "requested_record_id": record_id,
        "requested_jws_sha256": held.jws_sha256,
        "third_party": args.third_party,
        "purpose": args.purpose,
        "justification": args.justification,
    }
    return to_sender(held, body, {"third_party": args.third_party})


def _known_third_party(node: Node, args: OnwardRequest) -> None:
    require_known_party(node.bundle, args.third_party, what="third party")


ONWARD_REQUEST: Final = Operation[OnwardRequest](
    issues=RecordType.ONWARD_SHARING_REQUEST,
    find=received_record,
    check=_known_third_party,
    plan=_plan_request,
    effect=no_effect,
    event=AuditEvent.ONWARD_REQUESTED,
    issued_as="request",
    names_originator=True,
)


def _plan_consent(session: Session, node: Node, request: StoredRecord, args: ConsentRequest) -> Plan:
    """As originator, grant or refuse a received onward-sharing request.

    Raises WrongRecordTypeError, NotOriginatorError, OnwardSharingForbiddenError
    (granting an H3 record), RecordWithdrawnError.
    """
    request_id = request.record_id or ""
    granted = args.decision == "granted"
    if request.record_type != RecordType.ONWARD_SHARING_REQUEST.value:
        raise WrongRecordTypeError(f"record {request_id} is a {request.record_type}, not an onward_sharing_request")
    asked: dict[str, Any] = require_body(request)["body"]
    target = own_record(session, str(asked["requested_record_id"]))
    if granted:
        require_body(target)
        _refuse_forbidden(node, target)
    body = {
        "request_record_id": request_id,
        "consented_record_id": target.record_id,
        "consented_jws_sha256": target.jws_sha256,
        "requester": request.originator_party,
        "third_party": asked["third_party"],
        "decision": "granted" if granted else "refused",
        **({"comment": args.comment} if args.comment else {}),
    }
    return to_sender(
        request,
        body,
        {"requester": body["requester"], "third_party": body["third_party"]},
        about=target,
        subject=target.record_id or "",
        event=AuditEvent.ONWARD_CONSENTED if granted else AuditEvent.ONWARD_REFUSED,
    )


def _request_answered(session: Session, node: Node, plan: Plan, args: ConsentRequest, issued: str, actor: str) -> None:
    plan.held.status = RecordStatus.ANSWERED


ONWARD_CONSENT: Final = Operation[ConsentRequest](
    issues=RecordType.ONWARD_SHARING_CONSENT,
    find=received_record,
    plan=_plan_consent,
    effect=_request_answered,
    event=AuditEvent.ONWARD_CONSENTED,
    issued_as="consent",
)


def consent_for(session: Session, held: StoredRecord, third_party: str, requester: str) -> StoredRecord | None:
    """The originator's granted consent to pass ``held`` (these exact bytes) from ``requester`` to ``third_party``."""
    for consent in repository.about(session, "in", [held.record_id or ""], [RecordType.ONWARD_SHARING_CONSENT.value]):
        body = (signed_document(consent) or {}).get("body") or {}
        if (
            consent.originator_party == held.originator_party
            and body.get("decision") == "granted"
            and body.get("third_party") == third_party
            and body.get("requester") == requester
            and body.get("consented_jws_sha256") == held.jws_sha256
        ):
            return consent
    return None


def forward_onward(
    session: Session, node: Node, record_id: str, *, originator: str | None = None, third_party: str, actor: str
) -> Delivery:
    """Queue the originator's signed record ``record_id`` for ``third_party``, with the consent.

    Returns the delivery (the same one when asked again). Raises NotHeldError,
    RecordWithdrawnError, OnwardSharingForbiddenError, OnwardConsentMissingError,
    RecordIdAmbiguousError.
    """
    require_known_party(node.bundle, third_party, what="third party")
    held = received_record(session, record_id, originator)
    require_body(held)
    _refuse_forbidden(node, held)
    consent = consent_for(session, held, third_party, node.party)
    if consent is None:
        raise OnwardConsentMissingError(
            f"{held.originator_party} has not consented to pass record {record_id} to {third_party}",
            hint="send an onward-sharing request to the originator first",
        )
    existing = repository.delivery_to(session, held.pk, third_party)
    if existing is not None:
        return existing
    now = node.now()
    delivery = queue_delivery(session, node, held.pk, third_party, now, consent_record_pk=consent.pk)
    append_event(
        session,
        AuditEvent.ONWARD_FORWARDED,
        actor=actor,
        subject=record_id,
        at=now,
        detail={"third_party": third_party, "consent": consent.record_id},
    )
    return delivery
