"""Type-specific record bodies (wave 1): flags, manifests, confirmations, acknowledgements."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Self
from uuid import UUID

from pydantic import Field, model_validator

from gateway.records.identity import (
    Airport,
    Closed,
    LongText,
    Name,
    OffenceCategory,
    PersonIdentity,
    Reference,
    Sha256Hex,
    ShortText,
    UtcDatetime,
)

# -- criminal_network_flag ---------------------------------------------------


class SubjectStatus(StrEnum):
    SUSPECT = "suspect"
    CHARGED = "charged"
    CONVICTED = "convicted"


class FlagBasis(StrEnum):
    JUDICIAL_DECISION = "judicial_decision"
    PROSECUTORIAL_CHARGE = "prosecutorial_charge"
    POLICE_INTELLIGENCE = "police_intelligence"
    ADMINISTRATIVE_FINDING = "administrative_finding"


class ActionRequested(StrEnum):
    INFORMATION_ONLY = "information_only"
    VERIFY_IDENTITY = "verify_identity"
    NOTIFY_ON_ENTRY = "notify_on_entry"
    REQUEST_INFORMATION = "request_information"
    CONSIDER_INVESTIGATION = "consider_investigation"


class CriminalNetworkFlag(Closed):
    """What one partner learned about a person's role in a criminal network."""

    subject: PersonIdentity
    aliases: list[Name] = Field(default_factory=list, max_length=5)
    subject_status: SubjectStatus
    offence_category: OffenceCategory
    network_name: ShortText | None = None
    role_in_network: Literal["leader", "organizer", "facilitator", "courier", "member", "unknown"]
    basis: FlagBasis
    decision_ref: Reference
    summary_of_facts: LongText
    # 4x4 grading (source reliability A-C/X, information accuracy 1-4) as used
    # by Europol and most police intelligence exchanges.
    source_reliability: Literal["A", "B", "C", "X"]
    information_accuracy: Literal[1, 2, 3, 4]
    linked_record_ids: list[UUID] = Field(default_factory=list, max_length=50)
    action_requested: ActionRequested


# -- removal_manifest --------------------------------------------------------


class GroundsCategory(StrEnum):
    SERIOUS_CRIME = "serious_crime"
    IMMIGRATION_VIOLATION = "immigration_violation"


class RemovalMeasure(StrEnum):
    DEPORTATION = "deportation"
    EXPULSION = "expulsion"
    ASSISTED_RETURN = "assisted_return"


class Flight(Closed):
    flight_number: Reference
    charter: bool
    carrier: ShortText
    departure_airport: Airport
    destination_airport: Airport
    scheduled_departure: UtcDatetime
    scheduled_arrival: UtcDatetime

    @model_validator(mode="after")
    def _arrives_after_departure(self) -> Self:
        if self.scheduled_arrival <= self.scheduled_departure:
            raise ValueError("scheduled_arrival must be after scheduled_departure")
        if self.departure_airport == self.destination_airport:
            raise ValueError("destination_airport must differ from departure_airport")
        return self


class ManifestPerson(Closed):
    person_ref: Reference
    identity: PersonIdentity
    measure: RemovalMeasure
    grounds_category: GroundsCategory
    offence_category: OffenceCategory | None = None
    individual_assessment_ref: Reference
    notified_at: UtcDatetime

    @model_validator(mode="after")
    def _offence_only_for_crime(self) -> Self:
        if self.grounds_category is GroundsCategory.SERIOUS_CRIME and self.offence_category is None:
            raise ValueError("a serious_crime case needs its offence_category")
        if self.grounds_category is GroundsCategory.IMMIGRATION_VIOLATION and self.offence_category is not None:
            raise ValueError("an immigration_violation case carries no offence_category")
        return self


class RemovalManifest(Closed):
    """Advance notice of a removal flight and the people on it."""

    operation_ref: Reference
    flight: Flight
    escorts_count: int = Field(ge=0, le=200)
    people: list[ManifestPerson] = Field(min_length=1, max_length=400)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        refs = [p.person_ref for p in self.people]
        if len(set(refs)) != len(refs):
            raise ValueError("person_ref values must be unique within a manifest")
        for person in self.people:
            if person.notified_at >= self.flight.scheduled_departure:
                raise ValueError(f"{person.person_ref} must be notified before departure (notified_at)")
            person.identity.check_born_before(self.flight.scheduled_departure.date())
        return self


# -- removal_confirmation ----------------------------------------------------


class HandoverStatus(StrEnum):
    HANDED_OVER = "handed_over"
    NOT_BOARDED = "not_boarded"
    REFUSED_ENTRY = "refused_entry"


class HandoverPerson(Closed):
    person_ref: Reference
    status: HandoverStatus
    reason: ShortText | None = None
    entry_ban_years: int | None = Field(default=None, ge=0, le=99)

    @model_validator(mode="after")
    def _reason_when_not_handed_over(self) -> Self:
        if self.status is not HandoverStatus.HANDED_OVER and self.reason is None:
            raise ValueError(f"{self.person_ref}: a reason is required when not handed over")
        return self


class ReceivingAuthority(Closed):
    authority: ShortText
    officer_ref: Reference


class Escort(Closed):
    agency: ShortText
    count: int = Field(ge=1, le=200)


class Incident(Closed):
    at: UtcDatetime
    category: Literal["medical", "security", "refusal", "property", "other"]
    person_ref: Reference | None = None
    description: LongText


class RemovalConfirmation(Closed):
    """Who was actually handed over, when, to whom, with escorts and incidents."""

    manifest_record_id: UUID
    flight_number: Reference
    actual_departure: UtcDatetime
    actual_arrival: UtcDatetime
    handover_airport: Airport
    handed_over_at: UtcDatetime
    handed_over_to: ReceivingAuthority
    escorts: list[Escort] = Field(default_factory=list, max_length=20)
    incidents: list[Incident] = Field(default_factory=list, max_length=100)
    people: list[HandoverPerson] = Field(min_length=1, max_length=400)

    @model_validator(mode="after")
    def _chronology(self) -> Self:
        if self.actual_arrival <= self.actual_departure:
            raise ValueError("actual_arrival must be after actual_departure")
        if self.handed_over_at < self.actual_arrival:
            raise ValueError("handed_over_at cannot precede actual_arrival")
        refs = [p.person_ref for p in self.people]
        if len(set(refs)) != len(refs):
            raise ValueError("person_ref values must be unique within a confirmation")
        return self


# -- acknowledgement ---------------------------------------------------------


class AckDecision(StrEnum):
    ACCEPT = "accept"
    QUERY = "query"
    REJECT = "reject"


class Acknowledgement(Closed):
    """A business answer (accept / query / reject) to a received record."""

    acknowledges_record_id: UUID
    acknowledged_jws_sha256: Sha256Hex
    decision: AckDecision
    comment: LongText | None = None

    @model_validator(mode="after")
    def _comment_when_not_accepted(self) -> Self:
        if self.decision is not AckDecision.ACCEPT and self.comment is None:
            raise ValueError("a query or reject needs a comment (the question or the reason)")
        return self
