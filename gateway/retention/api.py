"""Agency API for retention: records due for review, legal holds, running the retention job."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.clients.schemas import ADMIN, RECORDS_READ, ApiPrincipal
from gateway.edge import Originator, require_scope
from gateway.node import Node, node_of
from gateway.problems import problem_responses
from gateway.records.states import Direction
from gateway.retention.scheduler import run_retention_pass
from gateway.retention.service import (
    REASON_MAX,
    DeletedBody,
    HeldRecord,
    ReviewDue,
    SentNotice,
    place_legal_hold,
    release_legal_hold,
    retention_counts,
    review_due,
)

router = APIRouter(tags=["retention"], responses=problem_responses(401, 403, 404, 409, 422, 429))

Admin = Annotated[ApiPrincipal, Depends(require_scope(ADMIN))]
Reader = Annotated[ApiPrincipal, Depends(require_scope(RECORDS_READ))]
NodeDep = Annotated[Node, Depends(node_of)]


class LegalHoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A blank reason passes here and is refused by the service with its own problem type.
    reason: str = Field(max_length=REASON_MAX, description="Why the record must be kept (case, court order).")


class ReviewDueList(BaseModel):
    """Records past their review date that have not expired yet, expiring soonest first."""

    as_of: datetime
    review_due: int = Field(description="How many records are past their review date.")
    expired_held: int = Field(description="How many expired records a legal hold keeps.")
    items: list[ReviewDue]


class LegalHoldChange(BaseModel):
    """The copies of a record a legal hold was placed on or released from."""

    legal_hold: Literal["placed", "released"]
    record_id: str
    directions: list[Direction]
    reason: str | None
    by: str | None
    at: datetime | None


class RetentionRun(BaseModel):
    """What a retention run did: bodies deleted, records kept by a hold, deletion notices sent."""

    as_of: datetime
    deleted: list[DeletedBody]
    held: list[HeldRecord]
    notices: list[SentNotice]
    errors: list[str]


def _who(principal: ApiPrincipal) -> str:
    return f"client:{principal.client_id}"


@router.get("/v1/retention/review-due")
def get_review_due(principal: Reader, node: NodeDep, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> ReviewDueList:
    """Records past their review date that have not expired yet, expiring soonest first."""
    with node.transaction() as session:
        items = review_due(session, node, limit=limit)
        counts = retention_counts(session, node)
    return ReviewDueList(as_of=node.now(), review_due=counts.review_due, expired_held=counts.expired_held, items=items)


@router.post("/v1/records/{record_id}/legal-hold")
def post_legal_hold(
    principal: Admin, node: NodeDep, record_id: str, request: LegalHoldRequest, originator: Originator = None
) -> LegalHoldChange:
    """Keep the record at this node past its expiry until the hold is released."""
    with node.transaction() as session:
        change = place_legal_hold(
            session, node, record_id, reason=request.reason, actor=_who(principal), originator=originator
        )
    return LegalHoldChange(legal_hold="placed", **change.as_dict())


@router.delete("/v1/records/{record_id}/legal-hold")
def delete_legal_hold(
    principal: Admin, node: NodeDep, record_id: str, originator: Originator = None
) -> LegalHoldChange:
    """Release the legal hold; an expired record's body is deleted at the next retention run."""
    with node.transaction() as session:
        change = release_legal_hold(session, node, record_id, actor=_who(principal), originator=originator)
    return LegalHoldChange(legal_hold="released", **change.as_dict())


@router.post("/v1/retention/run")
def post_retention_run(principal: Admin, node: NodeDep) -> RetentionRun:
    """Run the retention job now: delete expired bodies, keep held records, send deletion notices."""
    report = run_retention_pass(node, actor=_who(principal))
    return RetentionRun(
        as_of=report.as_of, deleted=report.deleted, held=report.held, notices=report.notices, errors=report.errors
    )
