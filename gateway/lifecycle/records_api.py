"""Agency API for records (agency listener): submit drafts, read records, acknowledge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response
from sqlalchemy.orm import Session

from gateway.clients.errors import NotIssuingAgency
from gateway.clients.schemas import ADMIN, RECORDS_READ, RECORDS_WRITE, ApiPrincipal
from gateway.clients.service import same_agency
from gateway.edge import Originator, require_scope, transact
from gateway.errors import InputError
from gateway.exchange.outgoing import Submission, submit_draft
from gateway.ledger.access import get_record
from gateway.lifecycle.schemas import SubmissionResponse
from gateway.node import Node, node_of
from gateway.problems import problem_responses
from gateway.records import repository
from gateway.records.documents import effective_type
from gateway.records.identity import PartyCode
from gateway.records.models import StoredRecord
from gateway.records.read_model import DeliveryState, RecordDetail, RecordPage
from gateway.records.schemas import RecordType
from gateway.records.states import DeliveryStatus, Direction, RecordStatus
from gateway.records.views import delivery_view, record_detail, record_summary
from gateway.trust.parties import require_known_party

router = APIRouter(
    prefix="/v1/records", tags=["records"], responses=problem_responses(400, 401, 403, 404, 409, 422, 429)
)

Writer = Annotated[ApiPrincipal, Depends(require_scope(RECORDS_WRITE))]
Reader = Annotated[ApiPrincipal, Depends(require_scope(RECORDS_READ))]
NodeDep = Annotated[Node, Depends(node_of)]


def _submit_once_per_key(
    node: Node, draft: dict[str, Any], actor: str, idempotency_key: str | None
) -> tuple[Submission, list[DeliveryState]]:
    """Run submit_draft in its own transaction; returns the submission and its deliveries.

    Two concurrent requests with one Idempotency-Key (or one chosen record_id)
    both find it unused; the loser's insert then violates a unique constraint,
    and the retry finds the winner's row: it replays it or refuses the draft
    with a problem (never a 500 quoting the statement).
    """

    def work(session: Session) -> tuple[Submission, list[DeliveryState]]:
        submission = submit_draft(session, node, draft, actor=actor, idempotency_key=idempotency_key)
        return submission, [delivery_view(d) for d in repository.deliveries_of(session, submission.record.pk)]

    return transact(node, work)


def _authorize_originator(principal: ApiPrincipal, draft: dict[str, Any], party: str) -> None:
    # A client of one agency must not put words in another agency's mouth: the
    # draft's originator.agency is the agency that may later amend the record.
    # Clients made before agencies existed (none set) keep submitting; they
    # cannot amend anything until `gateway clients set-agency`.
    if principal.agency is None or principal.allows(ADMIN):
        return
    originator = draft.get("originator")
    if not isinstance(originator, dict) or originator.get("party") != party:
        return  # another party's name, or no originator: the draft's validation answers that (422)
    claimed = originator.get("agency")
    if claimed is not None and not same_agency(principal.agency, claimed):
        raise NotIssuingAgency(
            f"the draft names the agency {claimed!r} as originator; this client acts for {principal.agency!r}",
            hint="submit drafts in your own agency's name, or use a client with the admin scope",
        )


@router.post("", status_code=202, response_model=SubmissionResponse)
def submit(
    principal: Writer,
    node: NodeDep,
    response: Response,
    draft: Annotated[dict[str, Any], Body(description="A record draft (see schemas/examples).")],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> SubmissionResponse:
    """Validate, sign, store and queue a record draft for delivery to its recipients."""
    _authorize_originator(principal, draft, node.party)
    submission, deliveries = _submit_once_per_key(node, draft, f"client:{principal.client_id}", idempotency_key)
    record = submission.record
    node.wake_delivery()
    node.telemetry.signed(node, record.record_type, replayed=submission.replayed)
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/records/{record.record_id}"
    return SubmissionResponse.of(record, deliveries)


@router.get("")
def list_records(
    principal: Reader,
    node: NodeDep,
    direction: Direction | None = None,
    record_type: RecordType | None = None,
    party: PartyCode | None = None,
    delivery_status: DeliveryStatus | None = None,
    status: RecordStatus | None = None,
    since: datetime | None = None,
    cursor: int | None = Query(default=None, ge=1, le=2**63 - 1),  # a primary key: BIGINT at most
    limit: int = Query(default=50, ge=1, le=200),
) -> RecordPage:
    """List records newest first; ``next_cursor`` pages on."""
    if since is not None and since.tzinfo is None:
        raise InputError("since must carry a UTC offset, e.g. 2026-01-01T00:00:00Z")
    if party is not None:
        require_known_party(node.bundle, party)
    flt = repository.RecordFilter(
        direction=direction,
        record_type=record_type,
        party=party,
        delivery_status=delivery_status,
        status=status,
        since=since,
        after_pk=cursor,
    )
    with node.transaction() as session:
        rows = repository.page(session, flt, limit + 1)
        items = [record_summary(r, node.now()) for r in rows[:limit]]
        next_cursor = rows[limit - 1].pk if len(rows) > limit else None
    return RecordPage(items=items, next_cursor=next_cursor)


@router.get("/{record_id}")
def read_record(principal: Reader, node: NodeDep, record_id: str, originator: Originator = None) -> RecordDetail:
    """Return a record: envelope, body, JWS, verification, deliveries and receipts.

    A record is identified by its originator and its id; when several
    originators hold ``record_id`` here and none is named, the answer is a 409
    problem listing them.
    """
    with node.transaction() as session:
        stored = get_record(session, record_id, originator, actor=f"client:{principal.client_id}", now=node.now())
        deliveries = repository.deliveries_of(session, stored.pk)
        return record_detail(stored, deliveries, node.now(), actionable=is_actionable(node, stored))


def is_actionable(node: Node, stored: StoredRecord) -> bool:
    """A received record the terms put under human review is not actionable until an officer answered it."""
    if stored.direction != "in" or stored.verification != "valid":
        return stored.direction == "out"
    current = node.terms.current(node.now()) if node.terms is not None else None
    # A received correction of a flag needs the same review as the flag it replaces.
    needs_review = current is not None and effective_type(stored) in {
        t.value for t in current.terms.human_review_required
    }
    return not needs_review or stored.status != "new"
