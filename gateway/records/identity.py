"""Shared building blocks of record bodies: codes, people, travel documents.

People are identified minimally (names, date of birth, nationality, travel
document): the schema, not good intentions, enforces data minimization.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# Re-exported: record models name parties by it; the trust bundle says which parties exist.
from gateway.trust.parties import PartyCode as PartyCode

Country3 = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""ISO 3166-1 alpha-3 country code, as printed on ICAO 9303 travel documents."""
Airport = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""IATA airport code, e.g. PTY (Panama City Tocumen), PAC (Albrook), MDE (Medellín)."""
Reference = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


def _require_utc(value: datetime) -> datetime:
    if value.utcoffset() is None or value.utcoffset() != UTC.utcoffset(None):
        raise ValueError("timestamps must be RFC 3339 in UTC (suffix Z or +00:00)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]


class Closed(BaseModel):
    """Base of every record model: closed, immutable, no coercion surprises."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class OffenceCategory(StrEnum):
    DRUG_TRAFFICKING = "drug_trafficking"
    MIGRANT_SMUGGLING = "migrant_smuggling"
    ENVIRONMENTAL_CRIME = "environmental_crime"


class DocumentType(StrEnum):
    PASSPORT = "passport"
    NATIONAL_ID = "national_id"
    EMERGENCY_TRAVEL_DOCUMENT = "emergency_travel_document"
    SAFE_CONDUCT = "safe_conduct"


class TravelDocument(Closed):
    type: DocumentType
    number: Reference
    issuing_country: Country3
    expires_on: date | None = None


class PersonIdentity(Closed):
    """The minimal identity of a person: enough to match, nothing more."""

    family_names: Name
    given_names: Name
    date_of_birth: date
    sex: Literal["F", "M", "X"] | None = None
    nationality: Country3
    travel_document: TravelDocument | None = None
    protection_claim_pending: bool = Field(
        default=False,
        description="A refugee/asylum claim is pending: the terms forbid sending any "
        "record about this person to their country of nationality.",
    )

    def age_on(self, day: date) -> int:
        """Return the person's age in whole years on ``day``."""
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def check_born_before(self, day: date) -> None:
        if self.date_of_birth > day:
            raise ValueError("date_of_birth lies in the future")
