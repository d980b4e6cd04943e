"""The terms document: who may send what to whom, for how long, under which prohibitions."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)

from gateway.records.bodies import SubjectStatus
from gateway.records.identity import OffenceCategory, PartyCode
from gateway.records.schemas import Handling, RecordType

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
PurposeCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{2,63}$")]
FieldPath = Annotated[str, StringConstraints(pattern=r"^body(\.[a-z_]+)*$")]


class TermsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(TermsModel):
    code: PartyCode = Field(description="ISO 3166-1 alpha-2 code; the party's CA must be in the trust bundle.")
    authority: Annotated[str, StringConstraints(min_length=2, max_length=200)]
    joined_in: int | None = Field(
        default=None,
        ge=1,
        description="The version of these terms that admitted the party (omitted for a founding party). "
        "In that version, flows to or from the party are live only once every party has signed it.",
    )

    @model_serializer(mode="wrap")
    def _founders_unchanged(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Omitted when unset, so the digest (and the signatures) of terms written
        # before parties could join stay what they were.
        data: dict[str, Any] = handler(self)
        if self.joined_in is None:
            data.pop("joined_in", None)
        return data


class Flow(TermsModel):
    """One permitted direction of exchange: from one party to others, for named types and purposes."""

    id: Identifier
    from_party: PartyCode = Field(alias="from")
    to: list[PartyCode] = Field(min_length=1)
    record_types: list[RecordType] = Field(min_length=1)
    purposes: list[PurposeCode] = Field(min_length=1)
    offence_categories: list[OffenceCategory] | None = Field(
        default=None, description="Allowed offence categories; omitted means any."
    )
    minimum_handling: Handling = Field(
        default=Handling.H0, description="Records on this flow must be at least this restrictive."
    )
    fields: list[FieldPath] | None = Field(
        default=None,
        description="Body fields that may be sent (dotted paths; a path allows everything "
        "below it). Omitted means every field of the schema.",
    )
    outside_fields: Literal["strip", "refuse"] = Field(
        default="refuse", description="What happens to a field not in `fields`."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _not_to_self(self) -> Self:
        if self.from_party in self.to:
            raise ValueError(f"flow {self.id}: a party cannot send to itself")
        return self


class Retention(TermsModel):
    record_type: RecordType
    subject_status: SubjectStatus | None = None
    days: int = Field(ge=1, le=36500)


class OnwardSharing(TermsModel):
    requires_originator_consent: bool = True
    forbidden_handling: list[Handling] = Field(default_factory=lambda: [Handling.H3])


class DeletionNotices(TermsModel):
    """Who is told, with a signed deletion notice, when a record's body is deleted at the end of retention."""

    recipients_notify_originator: bool = True
    originator_notifies_recipients: bool = False


class Prohibitions(TermsModel):
    minimum_flag_subject_age: int = Field(default=18, ge=0, le=30)
    no_records_to_nationality_state_with_pending_protection_claim: bool = True


class Signature(TermsModel):
    party: PartyCode
    jws: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$")] = Field(
        description="Detached compact JWS (RFC 7515 appendix F) over the terms digest statement."
    )


class Terms(TermsModel):
    """A version of the MOU data-sharing terms, with the parties' signatures."""

    terms_id: Identifier
    version: int = Field(ge=1)
    title: Annotated[str, StringConstraints(min_length=3, max_length=300)]
    parties: list[Party] = Field(min_length=2)
    effective_from: date
    expires_on: date
    flows: list[Flow] = Field(min_length=1)
    retention: list[Retention] = Field(default_factory=list)
    onward_sharing: OnwardSharing = Field(default_factory=OnwardSharing)
    deletion_notices: DeletionNotices = Field(default_factory=DeletionNotices)
    human_review_required: list[RecordType] = Field(
        default_factory=lambda: [RecordType.CRIMINAL_NETWORK_FLAG],
        description="Received records of these types are not actionable before an officer reviews them.",
    )
    prohibitions: Prohibitions = Field(default_factory=Prohibitions)
    signatures: list[Signature] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.expires_on <= self.effective_from:
            raise ValueError("expires_on must be after effective_from")
        codes = [p.code for p in self.parties]
        if len(set(codes)) != len(codes):
            raise ValueError("parties must not repeat")
        ids = [f.id for f in self.flows]
        if len(set(ids)) != len(ids):
            raise ValueError("flow ids must be unique")
        late = [p.code for p in self.parties if p.joined_in is not None and p.joined_in > self.version]
        if late:
            raise ValueError(f"parties joined in a later version than {self.version}: {late}")
        for flow in self.flows:
            unknown = {flow.from_party, *flow.to} - set(codes)
            if unknown:
                raise ValueError(f"flow {flow.id} names parties not in the terms: {sorted(unknown)}")
        signers = [s.party for s in self.signatures]
        if len(set(signers)) != len(signers):
            raise ValueError("a party may sign only once")
        return self

    def party_codes(self) -> list[str]:
        return [p.code for p in self.parties]

    def admitted_here(self) -> set[str]:
        """Return the parties this version admits (their flows need every party's signature)."""
        return {p.code for p in self.parties if p.joined_in == self.version}

    def signers_needed(self, flow: Flow) -> tuple[str, ...]:
        """Return the parties whose signature of this version makes ``flow`` live.

        The parties to the flow; every party of the version when the flow
        involves a party this version admits (admitting one is everyone's decision).
        """
        parties = (flow.from_party, *flow.to)
        return tuple(self.party_codes()) if self.admitted_here() & set(parties) else parties

    def retention_days(self, record_type: RecordType, subject_status: SubjectStatus | None) -> int | None:
        """Return the retention in days for a type (and status), or None when the terms are silent."""
        specific = [r for r in self.retention if r.record_type is record_type and r.subject_status == subject_status]
        general = [r for r in self.retention if r.record_type is record_type and r.subject_status is None]
        match = specific or general
        return match[0].days if match else None
