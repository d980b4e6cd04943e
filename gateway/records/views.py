"""Building the read model of stored records (no HTTP here, no SQL); see ``gateway.records.read_model``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from gateway.records.documents import signed_document
from gateway.records.models import Delivery, StoredRecord
from gateway.records.read_model import (
    DeliveryState,
    LegalHold,
    LifecycleState,
    ReceiptIssued,
    ReceiptSummary,
    RecordDetail,
    RecordSummary,
    RetentionState,
    TermsVersionRef,
    VerificationResult,
)
from gateway.records.states import DeliveryStatus, Direction


def record_summary(stored: StoredRecord, now: datetime | None = None) -> RecordSummary:
    """The list view of a record; ``now`` (the node's clock) decides review_due / expired."""
    return RecordSummary(**_summary_fields(stored, now), verification=stored.verification)


def _summary_fields(stored: StoredRecord, now: datetime | None) -> dict[str, object]:
    return {
        "record_id": stored.record_id,
        "direction": stored.direction,
        "record_type": stored.record_type,
        "originator_party": stored.originator_party,
        "peer_party": stored.peer_party,
        "recipients": [p for p in stored.recipients.split(",") if p],
        "purpose": stored.purpose,
        "handling": stored.handling,
        "terms": TermsVersionRef(id=stored.terms_id, version=stored.terms_version),
        "flight_number": stored.flight_number,
        "offence_category": stored.offence_category,
        "created_at": stored.created_at,
        "stored_at": stored.stored_at,
        "review_due": stored.review_due,
        "expires_at": stored.expires_at,
        "status": stored.status,
        "answered_by": stored.answered_by,
        "lifecycle": lifecycle_view(stored, now),
        "url": record_path(stored),
    }


def record_path(stored: StoredRecord) -> str:
    """The agency API path of ``stored``: a received record's names its originator.

    Ids are minted by each originator, so only this node's own ids are sure to
    be unique here; a received one may be shared with another originator's.
    """
    if stored.direction == Direction.IN and stored.originator_party:
        return f"/v1/records/{stored.record_id}?originator={stored.originator_party}"
    return f"/v1/records/{stored.record_id}"


def retention_state(stored: StoredRecord, now: datetime | None = None) -> RetentionState:
    """Where a record stands in its retention: ok, review_due, expired, held or deleted."""
    if stored.body_deleted_at is not None:
        return RetentionState.DELETED
    if stored.legal_hold_at is not None:
        return RetentionState.HELD
    now = now or datetime.now(UTC)
    if stored.expires_at is not None and stored.expires_at <= now:
        return RetentionState.EXPIRED
    if stored.review_due is not None and stored.review_due <= now:
        return RetentionState.REVIEW_DUE
    return RetentionState.OK


def lifecycle_view(stored: StoredRecord, now: datetime | None = None) -> LifecycleState:
    """What later records and retention did to this record."""
    return LifecycleState(
        superseded_by=stored.superseded_by,
        retracted_by=stored.retracted_by,
        contested_by=stored.contested_by,
        refers_to=stored.refers_to,
        received_via=stored.received_via,
        retention=retention_state(stored, now),
        body_deleted_at=stored.body_deleted_at,
        body_deleted_reason=stored.body_deleted_reason,
        legal_hold=(
            LegalHold(reason=stored.legal_hold_reason, by=stored.legal_hold_by, at=stored.legal_hold_at)
            if stored.legal_hold_at is not None
            else None
        ),
    )


def delivery_view(delivery: Delivery) -> DeliveryState:
    return DeliveryState(
        delivery_id=delivery.pk,
        recipient=delivery.recipient,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.status == DeliveryStatus.PENDING else None,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        receipt=(
            ReceiptSummary(
                jws=delivery.receipt_jws,
                verdict=delivery.receipt_verdict,
                reason_code=delivery.receipt_reason,
                ledger_index=delivery.receipt_ledger_index,
            )
            if delivery.receipt_jws
            else None
        ),
    )


def record_detail(
    stored: StoredRecord, deliveries: Sequence[Delivery], now: datetime | None = None, *, actionable: bool
) -> RecordDetail:
    """The full view of a record: signed document, verification, receipts and deliveries."""
    document = signed_document(stored)
    kept = json.loads(stored.envelope_json) if stored.envelope_json else None
    return RecordDetail(
        **_summary_fields(stored, now),
        envelope={k: v for k, v in document.items() if k != "body"} if document else kept,
        body=document.get("body") if document else None,
        jws=stored.jws,
        jws_sha256=stored.jws_sha256,
        verification=VerificationResult(
            result=stored.verification,
            reason_code=stored.verification_reason,
            detail=stored.verification_detail,
            signer_kid=stored.signer_kid,
            signer_subject=stored.signer_subject,
            signer_fingerprint_sha256=stored.signer_fingerprint,
        ),
        receipt_issued=(
            ReceiptIssued(jws=stored.receipt_jws, ledger_index=stored.ledger_index)
            if stored.direction == Direction.IN
            else None
        ),
        deliveries=[delivery_view(d) for d in deliveries],
        actionable=actionable,
    )
