"""The one read model of a stored record and its deliveries, shared by the agency API and the console.

Pydantic models only (built by ``gateway.records.views``): the OpenAPI
document shows them as they are, and a response that breaks them fails
the schema tests instead of reaching a partner's integrator.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.records.schemas import RecordType
from gateway.records.states import DeliveryStatus, Direction, RecordStatus, Verification


class ReadModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetentionState(StrEnum):
    """Where a record stands in its retention."""

    OK = "ok"
    REVIEW_DUE = "review_due"
    EXPIRED = "expired"
    HELD = "held"  # under legal hold
    DELETED = "deleted"  # body deleted (retraction or retention)


class TermsVersionRef(ReadModel):
    id: str | None
    version: int | None


class LegalHold(ReadModel):
    reason: str | None
    by: str | None
    at: datetime | None


class LifecycleState(ReadModel):
    """What later records and retention did to a record."""

    superseded_by: str | None = Field(description="The correction that replaced it.")
    retracted_by: str | None = Field(description="The retraction that withdrew it.")
    contested_by: str | None = Field(description="An open discrepancy report about it.")
    refers_to: str | None = Field(description="The record a lifecycle record is about.")
    received_via: str | None = Field(description='"onward" for a record shared onward with consent.')
    retention: RetentionState
    body_deleted_at: datetime | None
    body_deleted_reason: str | None = Field(description="retraction | retention")
    legal_hold: LegalHold | None


class RecordSummary(ReadModel):
    """A record as lists show it."""

    record_id: str | None = Field(description="None only for a received record too broken to name one.")
    direction: Direction
    record_type: RecordType | None
    originator_party: str | None
    peer_party: str | None = Field(description="The mTLS peer that delivered a received record.")
    recipients: list[str]
    purpose: str | None
    handling: str | None
    terms: TermsVersionRef
    flight_number: str | None
    offence_category: str | None
    created_at: datetime | None
    stored_at: datetime
    review_due: datetime | None
    expires_at: datetime | None
    verification: Verification
    status: RecordStatus
    answered_by: str | None = Field(
        description="For an outgoing record: the partner whose acknowledgement set its status (the latest)."
    )
    lifecycle: LifecycleState
    url: str = Field(description="Its agency API path (a received record's names its originator).")


class RecordPage(ReadModel):
    items: list[RecordSummary]
    next_cursor: int | None = Field(description="Pass as ?cursor= for the next (older) page; None on the last.")


class ReceiptSummary(ReadModel):
    """The signed receipt a recipient answered a delivery with."""

    jws: str
    verdict: str | None = Field(description="accepted | rejected")
    reason_code: str | None
    ledger_index: int | None


class DeliveryState(ReadModel):
    """One record to one recipient, as the outbox drives it."""

    delivery_id: int
    recipient: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="Set while pending.")
    last_error: str | None
    delivered_at: datetime | None
    receipt: ReceiptSummary | None


class VerificationResult(ReadModel):
    result: Verification
    reason_code: str | None
    detail: str | None
    signer_kid: str | None
    signer_subject: str | None
    signer_fingerprint_sha256: str | None


class ReceiptIssued(ReadModel):
    """The receipt this node signed for a received record."""

    jws: str | None
    ledger_index: int | None


class RecordDetail(RecordSummary):
    """A record with its signed document, verification, receipts and deliveries.

    ``verification`` is the full result here (a summary carries only its value).
    """

    envelope: dict[str, Any] | None = Field(description="Every signed field but the body; kept after body deletion.")
    body: dict[str, Any] | None = Field(description="The type-specific body; None when invalid or deleted.")
    jws: str = Field(description="The compact JWS as received or signed; empty after body deletion.")
    jws_sha256: str
    verification: VerificationResult  # type: ignore[assignment]
    receipt_issued: ReceiptIssued | None
    deliveries: list[DeliveryState]
    actionable: bool = Field(
        description="False while a received record the terms put under human review awaits an officer's answer."
    )
