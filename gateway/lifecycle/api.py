"""Agency API for the record lifecycle: corrections, retractions, onward sharing, discrepancies.

Who may amend what: a correction or retraction changes what an agency told
its partners, so it needs a client of the agency that issued the record (the
record's ``originator.agency``) or a client with the admin scope; any other
client gets a 403 problem (``not-issuing-agency``). Legal holds need the
admin scope (retention API).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.orm import Session

from gateway.clients.errors import NotIssuingAgency
from gateway.clients.schemas import ADMIN, RECORDS_READ, RECORDS_WRITE, ApiPrincipal
from gateway.clients.service import same_agency
from gateway.edge import NodeDep, Originator, require_scope, transact
from gateway.exchange.outgoing import Submission
from gateway.lifecycle.dissemination import dissemination, laggards
from gateway.lifecycle.drafts import own_record
from gateway.lifecycle.issuing import Issuer, Operation, issue
from gateway.lifecycle.onward import forward_onward
from gateway.lifecycle.operations import (
    ACKNOWLEDGEMENT,
    CORRECTION,
    DISCREPANCY_REPORT,
    DISCREPANCY_RESPONSE,
    ONWARD_CONSENT,
    ONWARD_REQUEST,
    RETRACTION,
)
from gateway.lifecycle.read_model import Dissemination, Forwarded, LaggardList
from gateway.lifecycle.schemas import (
    AcknowledgementRequest,
    ConsentRequest,
    CorrectionRequest,
    DiscrepancyAnswer,
    DiscrepancyRequest,
    ForwardRequest,
    OnwardRequest,
    RetractionRequest,
    SubmissionResponse,
)
from gateway.node import Node
from gateway.problems import problem_responses
from gateway.records import repository
from gateway.records.documents import envelope_of
from gateway.records.read_model import DeliveryState
from gateway.records.views import delivery_view

LIFECYCLE_TAG = "record lifecycle"
router = APIRouter(responses=problem_responses(400, 401, 403, 404, 409, 422, 429))

Writer = Annotated[ApiPrincipal, Depends(require_scope(RECORDS_WRITE))]
Reader = Annotated[ApiPrincipal, Depends(require_scope(RECORDS_READ))]


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


# -- one route serves every operation of the table --------------------------------


@dataclass(frozen=True)
class Route:
    """Where the agency API serves one lifecycle operation (202 with the issued record)."""

    path: str
    operation: Operation[Any]
    request: type[BaseModel]
    name: str  # the route's name, hence its OpenAPI operationId and summary
    doc: str
    id_name: str = "record_id"  # the path parameter naming the held record
    tag: str = LIFECYCLE_TAG


ROUTES = (
    Route(
        "/v1/records/{record_id}/acknowledgements",
        ACKNOWLEDGEMENT,
        AcknowledgementRequest,
        "post_acknowledgement",
        "Accept, query or reject a received record: signs an acknowledgement back to its originator.",
        tag="records",
    ),
    Route(
        "/v1/records/{record_id}/corrections",
        CORRECTION,
        CorrectionRequest,
        "post_correction",
        "Correct this node's record: a signed correction goes to every party that holds it.",
    ),
    Route(
        "/v1/records/{record_id}/retractions",
        RETRACTION,
        RetractionRequest,
        "post_retraction",
        "Retract this node's record everywhere it went; every holder deletes its body.",
    ),
    Route(
        "/v1/records/{record_id}/onward-requests",
        ONWARD_REQUEST,
        OnwardRequest,
        "post_onward_request",
        "Ask the originator of a received record for consent to share it with a third party.",
    ),
    Route(
        "/v1/records/{request_id}/consent",
        ONWARD_CONSENT,
        ConsentRequest,
        "post_consent",
        "As originator, grant or refuse a received onward-sharing request.",
        id_name="request_id",
    ),
    Route(
        "/v1/records/{record_id}/discrepancies",
        DISCREPANCY_REPORT,
        DiscrepancyRequest,
        "post_discrepancy",
        "Report that a received record looks wrong; it is contested until the originator answers.",
    ),
    Route(
        "/v1/records/{report_id}/discrepancy-response",
        DISCREPANCY_RESPONSE,
        DiscrepancyAnswer,
        "post_discrepancy_response",
        "As originator, answer a discrepancy report.",
        id_name="report_id",
    ),
)


def run_operation(
    node: Node,
    principal: ApiPrincipal,
    operation: Operation[Any],
    record_id: str,
    request: Any,
    originator: str | None = None,
) -> SubmissionResponse:
    """Issue ``operation`` for an agency client in one transaction and shape the 202 answer.

    Raises NotIssuingAgency (an amendment by another agency's client) and the
    errors of the operation.
    """

    def work(session: Session) -> tuple[Submission, list[DeliveryState]]:
        agency = node.settings.agency
        if operation.issuing_agency_only:
            agency = authorize_amendment(session, principal, record_id, agency)
        issuer = Issuer(_who(principal), request.officer_ref, agency)
        submission = issue(session, node, operation, record_id, request, issuer, originator=originator)
        return submission, [delivery_view(d) for d in repository.deliveries_of(session, submission.record.pk)]

    submission, deliveries = transact(node, work)
    record = submission.record
    node.wake_delivery()
    node.telemetry.signed(node, record.record_type, replayed=submission.replayed)
    return SubmissionResponse.of(record, deliveries)


def _serve(route: Route) -> None:
    """Add ``route`` to the router: its path parameter, body model and scope declared, as if written out."""
    operation = route.operation

    def endpoint(principal: ApiPrincipal, node: Node, request: BaseModel, **named: str | None) -> SubmissionResponse:
        record_id = named[route.id_name] or ""
        return run_operation(node, principal, operation, record_id, request, named.get("originator"))

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter(
            "principal", keyword, annotation=Annotated[ApiPrincipal, Depends(require_scope(operation.scope))]
        ),
        inspect.Parameter("node", keyword, annotation=NodeDep),
        inspect.Parameter(route.id_name, keyword, annotation=str),
        inspect.Parameter("request", keyword, annotation=route.request),
    ]
    if operation.names_originator:
        parameters.append(inspect.Parameter("originator", keyword, annotation=Originator, default=None))
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=SubmissionResponse)  # type: ignore[attr-defined]
    router.add_api_route(
        route.path,
        endpoint,
        methods=["POST"],
        status_code=202,
        response_model=SubmissionResponse,
        name=route.name,
        description=route.doc,
        tags=[route.tag],
    )


for _route in ROUTES:
    _serve(_route)


@router.post("/v1/records/{record_id}/onward", status_code=202, tags=[LIFECYCLE_TAG])
def post_forward(
    principal: Writer, node: NodeDep, record_id: str, request: ForwardRequest, originator: Originator = None
) -> Forwarded:
    """Share a received record onward; only with the originator's granted consent."""
    view = transact(
        node,
        lambda session: delivery_view(
            forward_onward(
                session, node, record_id, originator=originator, third_party=request.third_party, actor=_who(principal)
            )
        ),
    )
    node.wake_delivery()
    return Forwarded(record_id=record_id, delivery=view)


@router.get("/v1/records/{record_id}/dissemination", tags=[LIFECYCLE_TAG])
def get_dissemination(principal: Reader, node: NodeDep, record_id: str) -> Dissemination:
    """Every party this node's record went to, the version each holds, and who lags behind."""
    with node.transaction() as session:
        return dissemination(session, node, record_id)


@router.get("/v1/lifecycle/laggards", tags=[LIFECYCLE_TAG])
def get_laggards(principal: Reader, node: NodeDep) -> LaggardList:
    """Corrections and retractions a recipient has not acknowledged as applied within the deadline."""
    with node.transaction() as session:
        return LaggardList(items=laggards(session, node))
