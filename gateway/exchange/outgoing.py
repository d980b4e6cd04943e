"""Outgoing records: validate a draft under the terms, sign it, store it and queue one delivery per recipient.

Services take a Session and never commit; the caller's transaction makes the
record, its deliveries, its idempotency key and its ledger event one unit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from gateway.exchange import repository as exchange_repository
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.node import Node
from gateway.records import repository as records_repository
from gateway.records.errors import (
    IdempotencyKeyReusedError,
    LifecycleEndpointRequiredError,
    OriginatorMismatchError,
    RecordIdInUseError,
)
from gateway.records.kinds import LIFECYCLE_TYPES
from gateway.records.models import Delivery, IdempotencyKey, StoredRecord
from gateway.records.schemas import Record
from gateway.records.service import outgoing_row
from gateway.records.signing import SignedRecord, sign_record
from gateway.records.states import DeliveryStatus
from gateway.terms.errors import TermsViolationError
from gateway.trust.canonical import canonicalize
from gateway.trust.parties import is_party_code, require_known_parties


@dataclass(frozen=True)
class Submission:
    record: StoredRecord
    replayed: bool


def _request_digest(draft: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonicalize(dict(draft))).hexdigest()


def prepare_outgoing(node: Node, draft: Mapping[str, Any], now: datetime) -> Record:
    """Return the record to sign for ``draft`` under the terms in force.

    Raises SchemaViolationError (invalid draft) or TermsViolationError (the
    terms do not allow it, or the node holds no terms).
    """
    if node.terms is None:
        raise TermsViolationError("terms_not_in_force", "this node holds no MOU terms; nothing may be sent")
    return node.terms.prepare_outgoing(draft, now)


def _require_known_recipients(node: Node, draft: Mapping[str, Any]) -> None:
    # Before the terms: "no flow to XX" would hide that XX is no party at all.
    # Values not shaped like a party code are the schema's to refuse (422).
    recipients = draft.get("recipients")
    if isinstance(recipients, list):
        require_known_parties(node.bundle, [r for r in recipients if is_party_code(r)], what="recipient")


def submit_draft(
    session: Session,
    node: Node,
    draft: Mapping[str, Any],
    *,
    actor: str,
    idempotency_key: str | None = None,
    lifecycle: bool = False,
) -> Submission:
    """Validate, sign and store a draft and queue one delivery per recipient.

    Returns the stored record (``replayed`` when the Idempotency-Key was seen
    with the same draft). Raises SchemaViolationError, OriginatorMismatchError,
    IdempotencyKeyReusedError, RecordIdInUseError (the draft names an id a
    record of any originator holds here).
    """
    now = node.now()
    request_digest = _request_digest(draft)
    if idempotency_key is not None:
        seen = records_repository.idempotency_key(session, actor, idempotency_key)
        if seen is not None:
            if seen.request_sha256 != request_digest:
                raise IdempotencyKeyReusedError(
                    f"Idempotency-Key {idempotency_key!r} was used for another draft",
                    hint="use a new key for a new record",
                )
            stored = records_repository.by_pk(session, seen.record_pk)
            assert stored is not None  # FK guarantees it
            return Submission(stored, replayed=True)
    if not lifecycle and draft.get("record_type") in LIFECYCLE_TYPES:
        raise LifecycleEndpointRequiredError(
            f"a {draft.get('record_type')} is issued through its own operation, not as a free draft",
            hint="use POST /v1/records/{id}/corrections, /retractions, /onward-requests, /discrepancies …",
        )
    _require_known_recipients(node, draft)
    record = prepare_outgoing(node, draft, now)
    if record.originator.party != node.party:
        raise OriginatorMismatchError(
            f"originator.party is {record.originator.party} but this node signs for {node.party}"
        )
    if draft.get("record_id") is not None and records_repository.id_held(session, str(record.record_id)):
        # Any originator's: this node's ids stay unique here, so its own records
        # are never ambiguous (a partner's record under one of them is refused).
        raise RecordIdInUseError(f"record id {record.record_id} is already held at this node")
    signed = sign_record(record, node.signing_key)
    stored = store_outgoing(session, node, signed, actor=actor, now=now)
    if idempotency_key is not None:
        records_repository.add_idempotency_key(
            session,
            IdempotencyKey(
                client_id=actor,
                key=idempotency_key,
                request_sha256=request_digest,
                record_pk=stored.pk,
                created_at=now,
            ),
        )
    return Submission(stored, replayed=False)


def queue_delivery(
    session: Session, node: Node, record_pk: int, recipient: str, now: datetime, *, consent_record_pk: int | None = None
) -> Delivery:
    """Queue a stored record for ``recipient``: the worker's next round sends it (the outbox's one writer).

    ``consent_record_pk`` names the originator's consent when the record is passed on to a third party.
    """
    delivery = Delivery(
        record_pk=record_pk,
        recipient=recipient,
        status=DeliveryStatus.PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        deadline_at=now + timedelta(seconds=node.settings.delivery_deadline_seconds),
        consent_record_pk=consent_record_pk,
    )
    return exchange_repository.add_delivery(session, delivery)


def store_outgoing(session: Session, node: Node, signed: SignedRecord, *, actor: str, now: datetime) -> StoredRecord:
    """Store a record signed here, its deliveries and its ledger event (one unit)."""
    stored = records_repository.add(session, outgoing_row(node, signed, now))
    for recipient in signed.record.recipients:
        queue_delivery(session, node, stored.pk, recipient, now)
    append_event(
        session,
        AuditEvent.RECORD_CREATED,
        actor=actor,
        subject=str(signed.record.record_id),
        at=now,
        detail={"jws_sha256": signed.jws_sha256, "recipients": list(signed.record.recipients)},
    )
    return stored
