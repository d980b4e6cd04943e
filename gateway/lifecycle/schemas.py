"""What an agency or an officer asks of each lifecycle operation (pydantic request models).

The JSON API parses these from the request body; the console builds them
from its forms after checking the fields itself (its own messages). The
service reads every field but ``officer_ref``, which names who signs and
travels in ``issuing.Issuer``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.records.identity import PartyCode
from gateway.records.read_model import DeliveryState

if TYPE_CHECKING:
    from gateway.records.models import StoredRecord
from gateway.records.states import Decision

OfficerRef = Annotated[str, Field(default="api", pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcknowledgementRequest(Strict):
    decision: Decision
    comment: str | None = Field(default=None, max_length=2000)
    officer_ref: str = Field(default="api", pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


class CorrectionRequest(Strict):
    reason: Text
    body: dict[str, Any] = Field(description="The full corrected body, of the corrected record's type.")
    officer_ref: OfficerRef = "api"


RetractionReasonCode = Literal["wrong_person", "acquitted", "data_inaccurate", "legal_basis_ended"]


class RetractionRequest(Strict):
    reason: RetractionReasonCode
    comment: Text | None = None
    officer_ref: OfficerRef = "api"


class OnwardRequest(Strict):
    third_party: PartyCode
    purpose: str = Field(pattern=r"^[a-z][a-z_]{2,63}$")
    justification: Text
    officer_ref: OfficerRef = "api"


ConsentDecision = Literal["granted", "refused"]
DiscrepancyCategoryCode = Literal["identity_mismatch", "person_not_on_flight", "data_inaccurate", "other"]
DiscrepancyOutcomeCode = Literal["confirmed_correct", "corrected", "retracted"]


class ConsentRequest(Strict):
    decision: ConsentDecision
    comment: Text | None = None
    officer_ref: OfficerRef = "api"


class ForwardRequest(Strict):
    third_party: PartyCode


class DiscrepancyRequest(Strict):
    category: DiscrepancyCategoryCode
    person_ref: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
    details: Text
    officer_ref: OfficerRef = "api"


class DiscrepancyAnswer(Strict):
    outcome: DiscrepancyOutcomeCode
    follow_up_record_id: str | None = Field(default=None, max_length=36)
    comment: Text
    officer_ref: OfficerRef = "api"


class SubmissionResponse(BaseModel):
    """The 202 answer to a draft or a lifecycle operation: the signed record and its deliveries."""

    record_id: str
    status_url: str
    jws_sha256: str
    deliveries: list[DeliveryState]

    @classmethod
    def of(cls, record: StoredRecord, deliveries: list[DeliveryState]) -> SubmissionResponse:
        """Return the answer for the record signed here, ``record``, and its deliveries."""
        return cls(
            record_id=record.record_id or "",
            status_url=f"/v1/records/{record.record_id}",
            jws_sha256=record.jws_sha256,
            deliveries=deliveries,
        )
