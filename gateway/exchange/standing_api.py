"""``GET /v1/records/{record_id}/standing``: is a stored record still valid, valid when received, or suspect?"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from gateway.clients.schemas import RECORDS_READ, ApiPrincipal
from gateway.edge import require_scope
from gateway.ledger.access import get_record
from gateway.node import Node, node_of
from gateway.problems import problem_responses
from gateway.records import repository
from gateway.records.identity import PartyCode
from gateway.records.standing import record_standing
from gateway.trust.longterm import Standing

router = APIRouter(prefix="/v1/records", tags=["records"], responses=problem_responses(401, 403, 404, 409))
Reader = Annotated[ApiPrincipal, Depends(require_scope(RECORDS_READ))]
NodeDep = Annotated[Node, Depends(node_of)]


class RevokedLink(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str
    serial: str
    reason: str
    revoked_at: datetime
    invalidity_date: datetime | None


class RecordStanding(BaseModel):
    """The standing of a stored record judged now, after docs/evidence.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    record_id: str
    originator: str | None
    standing: Standing | None  # None: failed when received, body deleted, or no accepted receipt yet
    reason: str
    received_at: datetime | None
    judged_at: datetime
    revoked: RevokedLink | None


@router.get("/{record_id}/standing", response_model=RecordStanding)
def read_standing(
    principal: Reader,
    node: NodeDep,
    record_id: str,
    originator: Annotated[
        PartyCode | None, Query(description="The record's originator, when several used the id.")
    ] = None,
) -> RecordStanding:
    """Return whether the record is valid now, valid when received, suspect or invalid, and why."""
    now = node.now()
    with node.transaction() as session:
        stored = get_record(session, record_id, originator, actor=f"client:{principal.client_id}", now=now)
        verdict = record_standing(stored, repository.deliveries_of(session, stored.pk), node.bundle, now)
    if verdict is None:
        return RecordStanding(
            record_id=record_id,
            originator=stored.originator_party,
            standing=None,
            reason="not judged: it failed verification when received, its body was deleted, or no receipt yet",
            received_at=None,
            judged_at=now,
            revoked=None,
        )
    link = verdict.revocation
    return RecordStanding(
        record_id=record_id,
        originator=stored.originator_party,
        standing=verdict.standing,
        reason=verdict.reason,
        received_at=verdict.proven_at,
        judged_at=now,
        revoked=RevokedLink(
            subject=link.subject,
            serial=f"{link.serial:x}",
            reason=link.reason.name,
            revoked_at=link.revoked_at,
            invalidity_date=link.invalidity_date,
        )
        if link is not None
        else None,
    )
