"""Agency API for the record lifecycle: corrections, retractions, onward sharing, discrepancies.

Who may amend what: a correction or retraction changes what an agency told
its partners, so it needs a client of the agency that issued the record (the
record's ``originator.agency``) or a client with the admin scope; any other
client gets a 403 problem (``not-issuing-agency``). Legal holds need the
admin scope (retention API).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gateway.clients.errors import NotIssuingAgency
from gateway.clients.schemas import ADMIN, RECORDS_READ, RECORDS_WRITE, ApiPrincipal
from gateway.clients.service import same_agency
from gateway.edge import require_scope
from gateway.exchange.outgoing import Submission
from gateway.lifecycle.corrections import correct, retract
from gateway.lifecycle.discrepancies import answer_discrepancy, report_discrepancy
from gateway.lifecycle.dissemination import dissemination, laggards
from gateway.lifecycle.drafts import own_record
from gateway.lifecycle.onward import answer_onward, forward_onward, request_onward
from gateway.lifecycle.read_model import Dissemination, Forwarded, LaggardList
from gateway.lifecycle.records_api import Originator, SubmissionResponse
from gateway.node import Node, node_of
from gateway.problems import problem_responses
from gateway.records import repository
from gateway.records.documents import envelope_of
from gateway.records.identity import PartyCode
from gateway.records.models import Delivery
from gateway.records.views import delivery_view

router = APIRouter(tags=["record lifecycle"], responses=problem_responses(400, 401, 403, 404, 409, 422, 429))

Writer = Annotated[ApiPrincipal, Depends(require_scope(RECORDS_WRITE))]
Reader = Annotated[ApiPrincipal, Depends(require_scope(RECORDS_READ))]
NodeDep = Annotated[Node, Depends(node_of)]
OfficerRef = Annotated[str, Field(default="api", pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CorrectionRequest(Strict):
    reason: Text
    body: dict[str, Any] = Field(description="The full corrected body, of the corrected record's type.")
    officer_ref: OfficerRef = "api"


class RetractionRequest(Strict):
    reason: Literal["wrong_person", "acquitted", "data_inaccurate", "legal_basis_ended"]
    comment: Text | None = None
    officer_ref: OfficerRef = "api"


class OnwardRequest(Strict):
    third_party: PartyCode
    purpose: str = Field(pattern=r"^[a-z][a-z_]{2,63}$")
    justification: Text
    officer_ref: OfficerRef = "api"


class ConsentRequest(Strict):
    decision: Literal["granted", "refused"]
    comment: Text | None = None
    officer_ref: OfficerRef = "api"


class ForwardRequest(Strict):
    third_party: PartyCode


class DiscrepancyRequest(Strict):
    category: Literal["identity_mismatch", "person_not_on_flight", "data_inaccurate", "other"]
    person_ref: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
    details: Text
    officer_ref: OfficerRef = "api"


class DiscrepancyAnswer(Strict):
    outcome: Literal["confirmed_correct", "corrected", "retracted"]
    follow_up_record_id: str | None = Field(default=None, max_length=36)
    comment: Text
    officer_ref: OfficerRef = "api"


def _issue(node: Node, operation: Callable[[Session], Submission]) -> SubmissionResponse:
    """Run one lifecycle operation in its own transaction and shape the 202 answer."""
    with node.transaction() as session:
        submission = operation(session)
        record = submission.record
        deliveries = [delivery_view(d) for d in repository.deliveries_of(session, record.pk)]
    node.wake_delivery()
    node.telemetry.signed(node, record.record_type, replayed=False)
    return SubmissionResponse(
        record_id=record.record_id or "",
        status_url=f"/v1/records/{record.record_id}",
        jws_sha256=record.jws_sha256,
        deliveries=deliveries,
    )


def _who(principal: ApiPrincipal) -> str:
    return f"client:{principal.client_id}"


def authorize_amendment(session: Session, principal: ApiPrincipal, record_id: str, fallback: str) -> str:
    """Return the issuing agency of this node's record ``record_id`` when ``principal`` may amend it.

    The amendment is issued in that agency's name (``fallback`` when the record
    names none), so a correction of a correction stays with the same agency.

    Raises NotIssuingAgency unless the client acts for the record's issuing
    agency or holds the admin scope, and the errors of ``own_record`` (a record
    this node did not originate, or does not hold).
    """
    target = own_record(session, record_id)
    issuer = ((envelope_of(target) or {}).get("originator") or {}).get("agency")
    if not principal.allows(ADMIN) and not same_agency(principal.agency, issuer):
        acting = f"acts for {principal.agency!r}" if principal.agency else "has no agency"
        raise NotIssuingAgency(f"record {record_id} was issued by {issuer!r}; this client {acting}")
    return issuer if isinstance(issuer, str) and issuer.strip() else fallback


@router.post("/v1/records/{record_id}/corrections", status_code=202, response_model=SubmissionResponse)
def post_correction(principal: Writer, node: NodeDep, record_id: str, request: CorrectionRequest) -> SubmissionResponse:
    """Correct this node's record: a signed correction goes to every party that holds it."""

    def operation(session: Session) -> Submission:
        issuer = authorize_amendment(session, principal, record_id, node.settings.agency)
        return correct(
            session,
            node,
            record_id,
            replacement=request.body,
            reason=request.reason,
            actor=_who(principal),
            officer_ref=request.officer_ref,
            agency=issuer,
        )

    return _issue(node, operation)


@router.post("/v1/records/{record_id}/retractions", status_code=202, response_model=SubmissionResponse)
def post_retraction(principal: Writer, node: NodeDep, record_id: str, request: RetractionRequest) -> SubmissionResponse:
    """Retract this node's record everywhere it went; every holder deletes its body."""

    def operation(session: Session) -> Submission:
        issuer = authorize_amendment(session, principal, record_id, node.settings.agency)
        return retract(
            session,
            node,
            record_id,
            reason=request.reason,
            comment=request.comment,
            actor=_who(principal),
            officer_ref=request.officer_ref,
            agency=issuer,
        )

    return _issue(node, operation)


@router.post("/v1/records/{record_id}/onward-requests", status_code=202, response_model=SubmissionResponse)
def post_onward_request(
    principal: Writer, node: NodeDep, record_id: str, request: OnwardRequest, originator: Originator = None
) -> SubmissionResponse:
    """Ask the originator of a received record for consent to share it with a third party."""
    return _issue(
        node,
        lambda session: request_onward(
            session,
            node,
            record_id,
            originator=originator,
            third_party=request.third_party,
            purpose=request.purpose,
            justification=request.justification,
            actor=_who(principal),
            officer_ref=request.officer_ref,
            agency=node.settings.agency,
        ),
    )


@router.post("/v1/records/{request_id}/consent", status_code=202, response_model=SubmissionResponse)
def post_consent(principal: Writer, node: NodeDep, request_id: str, request: ConsentRequest) -> SubmissionResponse:
    """As originator, grant or refuse a received onward-sharing request."""
    return _issue(
        node,
        lambda session: answer_onward(
            session,
            node,
            request_id,
            granted=request.decision == "granted",
            comment=request.comment,
            actor=_who(principal),
            officer_ref=request.officer_ref,
            agency=node.settings.agency,
        ),
    )


@router.post("/v1/records/{record_id}/onward", status_code=202)
def post_forward(
    principal: Writer, node: NodeDep, record_id: str, request: ForwardRequest, originator: Originator = None
) -> Forwarded:
    """Share a received record onward; only with the originator's granted consent."""
    with node.transaction() as session:
        delivery: Delivery = forward_onward(
            session, node, record_id, originator=originator, third_party=request.third_party, actor=_who(principal)
        )
        view = delivery_view(delivery)
    node.wake_delivery()
    return Forwarded(record_id=record_id, delivery=view)


@router.post("/v1/records/{record_id}/discrepancies", status_code=202, response_model=SubmissionResponse)
def post_discrepancy(
    principal: Writer, node: NodeDep, record_id: str, request: DiscrepancyRequest, originator: Originator = None
) -> SubmissionResponse:
    """Report that a received record looks wrong; it is contested until the originator answers."""
    return _issue(
        node,
        lambda session: report_discrepancy(
            session,
            node,
            record_id,
            originator=originator,
            category=request.category,
            person_ref=request.person_ref,
            details=request.details,
            actor=_who(principal),
            officer_ref=request.officer_ref,
            agency=node.settings.agency,
        ),
    )


@router.post("/v1/records/{report_id}/discrepancy-response", status_code=202, response_model=SubmissionResponse)
def post_discrepancy_response(
    principal: Writer, node: NodeDep, report_id: str, request: DiscrepancyAnswer
) -> SubmissionResponse:
    """As originator, answer a discrepancy report."""
    return _issue(
        node,
        lambda session: answer_discrepancy(
            session,
            node,
            report_id,
            outcome=request.outcome,
            follow_up_record_id=request.follow_up_record_id,
            comment=request.comment,
            actor=_who(principal),
            officer_ref=request.officer_ref,
            agency=node.settings.agency,
        ),
    )


@router.get("/v1/records/{record_id}/dissemination")
def get_dissemination(principal: Reader, node: NodeDep, record_id: str) -> Dissemination:
    """Every party this node's record went to, the version each holds, and who lags behind."""
    with node.transaction() as session:
        return dissemination(session, node, record_id)


@router.get("/v1/lifecycle/laggards")
def get_laggards(principal: Reader, node: NodeDep) -> LaggardList:
    """Corrections and retractions a recipient has not acknowledged as applied within the deadline."""
    with node.transaction() as session:
        return LaggardList(items=laggards(session, node))
