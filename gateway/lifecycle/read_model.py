"""What the agency API and the console show of a record's dissemination (pydantic models only)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.records.read_model import DeliveryState
from gateway.records.schemas import RecordType
from gateway.records.states import DeliveryStatus


class ReadModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HolderState(StrEnum):
    """What a party holds of a record, as far as this originator can tell."""

    CURRENT = "current"  # the latest version
    OUTDATED = "outdated"  # an earlier version
    PENDING = "pending"  # nothing confirmed yet, or a retraction not yet applied
    RETRACTED = "retracted"  # it applied the retraction
    DELETED = "deleted"  # it sent a deletion notice


class Route(ReadModel):
    """How a party got the record; a direct route carries neither ``via`` nor ``consent``."""

    route: Literal["direct", "onward"]
    via: str | None = Field(
        default=None, exclude_if=lambda v: v is None, description="The party that forwarded it (onward)."
    )
    consent: str | None = Field(
        default=None, exclude_if=lambda v: v is None, description="The originator's consent record (onward)."
    )


class Application(ReadModel):
    """A recipient's signed statement that it applied a correction or retraction."""

    outcome: str = Field(description="applied | not_held")
    applied_at: str | None
    acknowledgement_id: str | None


class VersionDelivery(ReadModel):
    record_id: str | None
    record_type: RecordType | None
    delivery: DeliveryStatus | None = Field(description="None when it was never sent to this party.")
    delivered_at: datetime | None
    application: Application | None
    lagging: bool = Field(description="An instruction not applied within the deadline.")


class Holder(ReadModel):
    party: str
    route: Route
    holds: str | None = Field(description="The version this party holds, as far as is known.")
    state: HolderState
    lagging: bool
    deletion_notice: str | None
    versions: list[VersionDelivery]


class Dissemination(ReadModel):
    """Every party this node's record went to, the version each holds, and who lags behind."""

    record_id: str
    current_version: str | None
    retracted_by: str | None
    contested_by: str | None
    holders: list[Holder]


class Laggard(ReadModel):
    """A correction or retraction a recipient has not acknowledged as applied within the deadline."""

    instruction_id: str | None
    instruction_type: RecordType | None
    record_id: str | None
    party: str
    issued_at: datetime
    delivery: DeliveryStatus | None
    hours_overdue: float


class LaggardList(ReadModel):
    items: list[Laggard]


class Forwarded(ReadModel):
    """A received record queued for a third party, with the originator's consent."""

    record_id: str
    delivery: DeliveryState
