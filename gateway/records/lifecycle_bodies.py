"""Bodies of the lifecycle record types: what happens to a record after it was shared.

Corrections and retractions come only from a record's originator; recipients
answer them with application acknowledgements. Deletion notices report bodies
deleted at the end of retention. Onward sharing needs the originator's signed
consent; a discrepancy report contests a record until the originator answers.
None of these carries personal data beyond what a correction replaces.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, model_validator

from gateway.records.bodies import CriminalNetworkFlag, RemovalConfirmation, RemovalManifest
from gateway.records.identity import Closed, LongText, PartyCode, Reference, Sha256Hex, UtcDatetime

Purpose = Annotated[str, Field(pattern=r"^[a-z][a-z_]{2,63}$")]

# -- correction --------------------------------------------------------------


class FlagReplacement(Closed):
    record_type: Literal["criminal_network_flag"]
    body: CriminalNetworkFlag


class ManifestReplacement(Closed):
    record_type: Literal["removal_manifest"]
    body: RemovalManifest


class ConfirmationReplacement(Closed):
    record_type: Literal["removal_confirmation"]
    body: RemovalConfirmation


Replacement = Annotated[
    FlagReplacement | ManifestReplacement | ConfirmationReplacement, Field(discriminator="record_type")
]


class Correction(Closed):
    """The originator's corrected version of a record (the envelope's ``supersedes`` names it)."""

    corrected_jws_sha256: Sha256Hex
    reason: LongText
    replacement: Replacement


# -- retraction --------------------------------------------------------------


class RetractionReason(StrEnum):
    WRONG_PERSON = "wrong_person"
    ACQUITTED = "acquitted"
    DATA_INACCURATE = "data_inaccurate"
    LEGAL_BASIS_ENDED = "legal_basis_ended"


class Retraction(Closed):
    """The originator withdraws a record: every holder deletes its body and keeps the envelope."""

    retracted_record_id: UUID
    retracted_jws_sha256: Sha256Hex
    reason: RetractionReason
    comment: LongText | None = None


# -- application acknowledgement ----------------------------------------------


class ApplicationOutcome(StrEnum):
    APPLIED = "applied"  # the holder marked its copy superseded / deleted its body
    NOT_HELD = "not_held"  # the holder has no copy of the record (nothing to apply)


class ApplicationAcknowledgement(Closed):
    """A recipient's signed statement that it applied a correction or retraction."""

    instruction_record_id: UUID
    instruction_jws_sha256: Sha256Hex
    instruction_type: Literal["correction", "retraction"]
    outcome: ApplicationOutcome
    applied_at: UtcDatetime
    body_deleted: bool


# -- deletion notice -----------------------------------------------------------


class DeletionGround(StrEnum):
    RETENTION_EXPIRED = "retention_expired"


class DeletionNotice(Closed):
    """A holder's signed notice that it deleted a record's body (the envelope digest stays)."""

    deleted_record_id: UUID
    deleted_jws_sha256: Sha256Hex
    ground: DeletionGround
    deleted_at: UtcDatetime


# -- onward sharing ------------------------------------------------------------


class OnwardSharingRequest(Closed):
    """A recipient asks the originator's consent to pass a record to a third party."""

    requested_record_id: UUID
    requested_jws_sha256: Sha256Hex
    third_party: PartyCode
    purpose: Purpose
    justification: LongText


class ConsentDecision(StrEnum):
    GRANTED = "granted"
    REFUSED = "refused"


class OnwardSharingConsent(Closed):
    """The originator's signed answer to an onward-sharing request."""

    request_record_id: UUID
    consented_record_id: UUID
    consented_jws_sha256: Sha256Hex
    requester: PartyCode
    third_party: PartyCode
    decision: ConsentDecision
    comment: LongText | None = None

    @model_validator(mode="after")
    def _reason_when_refused(self) -> Self:
        if self.decision is ConsentDecision.REFUSED and self.comment is None:
            raise ValueError("a refusal needs a comment (the reason)")
        if self.requester == self.third_party:
            raise ValueError("the third party must differ from the requester")
        return self


# -- discrepancy ---------------------------------------------------------------


class DiscrepancyCategory(StrEnum):
    IDENTITY_MISMATCH = "identity_mismatch"
    PERSON_NOT_ON_FLIGHT = "person_not_on_flight"
    DATA_INACCURATE = "data_inaccurate"
    OTHER = "other"


class DiscrepancyReport(Closed):
    """A recipient tells the originator a record looks wrong; it stays contested until answered."""

    reported_record_id: UUID
    reported_jws_sha256: Sha256Hex
    category: DiscrepancyCategory
    person_ref: Reference | None = None
    details: LongText


class DiscrepancyOutcome(StrEnum):
    CONFIRMED_CORRECT = "confirmed_correct"
    CORRECTED = "corrected"
    RETRACTED = "retracted"


class DiscrepancyResponse(Closed):
    """The originator's answer to a discrepancy report."""

    report_record_id: UUID
    reported_record_id: UUID
    outcome: DiscrepancyOutcome
    follow_up_record_id: UUID | None = None
    comment: LongText

    @model_validator(mode="after")
    def _follow_up(self) -> Self:
        needs = self.outcome is not DiscrepancyOutcome.CONFIRMED_CORRECT
        if needs and self.follow_up_record_id is None:
            raise ValueError("a corrected or retracted outcome names the correction or retraction")
        return self
