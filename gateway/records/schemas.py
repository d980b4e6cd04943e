"""The record envelope and the closed record types, as pydantic v2 models.

Every record is an envelope (who, to whom, why, under which terms, until when)
around a type-specific body. All models are closed (``extra="forbid"``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from gateway.records.bodies import (
    Acknowledgement,
    CriminalNetworkFlag,
    RemovalConfirmation,
    RemovalManifest,
)
from gateway.records.identity import Closed, PartyCode, Reference, Sha256Hex, ShortText, UtcDatetime
from gateway.records.lifecycle_bodies import (
    ApplicationAcknowledgement,
    Correction,
    DeletionNotice,
    DiscrepancyReport,
    DiscrepancyResponse,
    OnwardSharingConsent,
    OnwardSharingRequest,
    Retraction,
)


class RecordType(StrEnum):
    CRIMINAL_NETWORK_FLAG = "criminal_network_flag"
    REMOVAL_MANIFEST = "removal_manifest"
    REMOVAL_CONFIRMATION = "removal_confirmation"
    ACKNOWLEDGEMENT = "acknowledgement"
    CORRECTION = "correction"
    RETRACTION = "retraction"
    APPLICATION_ACKNOWLEDGEMENT = "application_acknowledgement"
    DELETION_NOTICE = "deletion_notice"
    ONWARD_SHARING_REQUEST = "onward_sharing_request"
    ONWARD_SHARING_CONSENT = "onward_sharing_consent"
    DISCREPANCY_REPORT = "discrepancy_report"
    DISCREPANCY_RESPONSE = "discrepancy_response"


class Handling(StrEnum):
    H0 = "H0"  # may be shared further within the recipient's authorities
    H1 = "H1"  # recipient's law-enforcement and migration authorities only
    H2 = "H2"  # named unit only
    H3 = "H3"  # do not disseminate further


class Originator(Closed):
    party: PartyCode
    agency: ShortText
    officer_ref: Reference


class TermsRef(Closed):
    id: Reference
    version: int = Field(ge=1)
    sha256: Sha256Hex


Purpose = Annotated[str, Field(pattern=r"^[a-z][a-z_]{2,63}$")]


class EnvelopeBase(Closed):
    record_id: UUID
    schema_version: Literal[1] = 1
    originator: Originator
    # Any number of parties may join a federation (the trust bundle says which);
    # the bound only keeps a hostile record small.
    recipients: list[PartyCode] = Field(min_length=1, max_length=64)
    purpose: Purpose
    legal_basis: ShortText
    handling: Handling
    terms: TermsRef
    created_at: UtcDatetime
    expires_at: UtcDatetime
    review_due: UtcDatetime
    supersedes: UUID | None = None

    @model_validator(mode="after")
    def _envelope_rules(self) -> Self:
        if self.record_id.version != 7:
            raise ValueError("record_id must be a UUIDv7")
        if len(set(self.recipients)) != len(self.recipients):
            raise ValueError("recipients must not repeat")
        if self.originator.party in self.recipients:
            raise ValueError("the originator cannot be a recipient of its own record")
        if self.expires_at <= self.created_at:
            raise ValueError("expires_at must be after created_at")
        if not self.created_at <= self.review_due <= self.expires_at:
            raise ValueError("review_due must lie between created_at and expires_at")
        if self.supersedes == self.record_id:
            raise ValueError("a record cannot supersede itself")
        return self

    @property
    def originator_party(self) -> str:
        return self.originator.party


class CriminalNetworkFlagRecord(EnvelopeBase):
    record_type: Literal[RecordType.CRIMINAL_NETWORK_FLAG]
    body: CriminalNetworkFlag

    @model_validator(mode="after")
    def _no_minors(self) -> Self:
        if self.body.subject.age_on(self.created_at.date()) < 18:
            raise ValueError("a criminal_network_flag may not concern a person under 18")
        return self


class RemovalManifestRecord(EnvelopeBase):
    record_type: Literal[RecordType.REMOVAL_MANIFEST]
    body: RemovalManifest


class RemovalConfirmationRecord(EnvelopeBase):
    record_type: Literal[RecordType.REMOVAL_CONFIRMATION]
    body: RemovalConfirmation


class AcknowledgementRecord(EnvelopeBase):
    record_type: Literal[RecordType.ACKNOWLEDGEMENT]
    body: Acknowledgement


class CorrectionRecord(EnvelopeBase):
    record_type: Literal[RecordType.CORRECTION]
    supersedes: UUID  # required: a correction names the record it corrects
    body: Correction

    @model_validator(mode="after")
    def _names_what_it_corrects(self) -> Self:
        replacement = self.body.replacement
        body = replacement.body
        if isinstance(body, CriminalNetworkFlag) and body.subject.age_on(self.created_at.date()) < 18:
            raise ValueError("a criminal_network_flag may not concern a person under 18")
        return self


class RetractionRecord(EnvelopeBase):
    record_type: Literal[RecordType.RETRACTION]
    body: Retraction


class ApplicationAcknowledgementRecord(EnvelopeBase):
    record_type: Literal[RecordType.APPLICATION_ACKNOWLEDGEMENT]
    body: ApplicationAcknowledgement


class DeletionNoticeRecord(EnvelopeBase):
    record_type: Literal[RecordType.DELETION_NOTICE]
    body: DeletionNotice


class OnwardSharingRequestRecord(EnvelopeBase):
    record_type: Literal[RecordType.ONWARD_SHARING_REQUEST]
    body: OnwardSharingRequest


class OnwardSharingConsentRecord(EnvelopeBase):
    record_type: Literal[RecordType.ONWARD_SHARING_CONSENT]
    body: OnwardSharingConsent


class DiscrepancyReportRecord(EnvelopeBase):
    record_type: Literal[RecordType.DISCREPANCY_REPORT]
    body: DiscrepancyReport


class DiscrepancyResponseRecord(EnvelopeBase):
    record_type: Literal[RecordType.DISCREPANCY_RESPONSE]
    body: DiscrepancyResponse


Record = Annotated[
    CriminalNetworkFlagRecord
    | RemovalManifestRecord
    | RemovalConfirmationRecord
    | AcknowledgementRecord
    | CorrectionRecord
    | RetractionRecord
    | ApplicationAcknowledgementRecord
    | DeletionNoticeRecord
    | OnwardSharingRequestRecord
    | OnwardSharingConsentRecord
    | DiscrepancyReportRecord
    | DiscrepancyResponseRecord,
    Field(discriminator="record_type"),
]
RECORD_ADAPTER: TypeAdapter[Record] = TypeAdapter(Record)
RECORD_CLASSES: dict[RecordType, type[EnvelopeBase]] = {
    RecordType.CRIMINAL_NETWORK_FLAG: CriminalNetworkFlagRecord,
    RecordType.REMOVAL_MANIFEST: RemovalManifestRecord,
    RecordType.REMOVAL_CONFIRMATION: RemovalConfirmationRecord,
    RecordType.ACKNOWLEDGEMENT: AcknowledgementRecord,
    RecordType.CORRECTION: CorrectionRecord,
    RecordType.RETRACTION: RetractionRecord,
    RecordType.APPLICATION_ACKNOWLEDGEMENT: ApplicationAcknowledgementRecord,
    RecordType.DELETION_NOTICE: DeletionNoticeRecord,
    RecordType.ONWARD_SHARING_REQUEST: OnwardSharingRequestRecord,
    RecordType.ONWARD_SHARING_CONSENT: OnwardSharingConsentRecord,
    RecordType.DISCREPANCY_REPORT: DiscrepancyReportRecord,
    RecordType.DISCREPANCY_RESPONSE: DiscrepancyResponseRecord,
}


def describe_validation_error(exc: ValidationError) -> str:
    """Return a compact, human-readable summary of a pydantic ValidationError."""
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        location = ".".join(str(item) for item in error["loc"]) or "record"
        parts.append(f"{location}: {error['msg']}")
    more = exc.error_count() - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def parse_record(document: Any) -> Record:
    """Validate a JSON document as a record; raises ValueError with a readable summary."""
    try:
        return RECORD_ADAPTER.validate_python(document, strict=False)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from exc


def record_json(record: EnvelopeBase) -> dict[str, Any]:
    """Return the record as its JSON document (what gets canonicalized and signed)."""
    return record.model_dump(mode="json", exclude_none=False)


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Receipt(Closed):
    """The receiver's signed statement of what it received and what it decided."""

    receipt_version: Literal[1] = 1
    record_id: UUID | None
    jws_sha256: Sha256Hex
    received_at: UtcDatetime
    receiver: PartyCode
    sender: PartyCode
    verdict: Verdict
    reason_code: Annotated[str, Field(pattern=r"^[a-z_]{2,64}$")] | None = None
    reason: ShortText | None = None
    ledger_index: int | None = Field(default=None, ge=0)

    @property
    def originator_party(self) -> str:
        # The receipt's "originator" is the receiver that signs it.
        return self.receiver
