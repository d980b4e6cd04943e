"""The console's record-lifecycle actions (POST forms) and the lifecycle page.

Like every console page these need a live session and, for a POST, the
session's CSRF token (``guards.csrf_checked``); reviewers act on records,
only admins place or release legal holds. Each action is one transaction; when
the domain refuses it (a GatewayError), the record page shows why, with the
error's status, and nothing was changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from gateway.console import lifecycle
from gateway.console.errors import PageNotFound
from gateway.console.guards import Admin, CurrentOfficer, Reviewer, csrf_checked
from gateway.console.record_page import pk_of, record_response
from gateway.console.rendering import CONSOLE_PREFIX, redirect, render
from gateway.console.schemas import OfficerPrincipal
from gateway.errors import GatewayError
from gateway.node import Node, node_of

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False, dependencies=[Depends(csrf_checked)])
NodeDep = Annotated[Node, Depends(node_of)]
Field = Annotated[str, Form()]

Action = Callable[[Session, int], object]


def _act(
    request: Request, node: Node, officer: OfficerPrincipal, record_pk: str, done: str, action: Action
) -> Response:
    """Run ``action`` on the record in one transaction; on success go back to the record with a notice."""
    pk = pk_of(record_pk)
    try:
        with node.transaction() as session:
            action(session, pk)
    except PageNotFound:
        raise
    except GatewayError as exc:  # refused by the console, the lifecycle rules or the terms: shown on the page
        return record_response(request, node, officer, pk, error=exc)
    node.wake_delivery()
    return redirect(f"{CONSOLE_PREFIX}/records/{pk}?done={done}")


@router.post("/records/{record_pk}/retract", response_model=None)
def retract(
    request: Request, node: NodeDep, officer: Reviewer, record_pk: str, reason: Field = "", comment: Field = ""
) -> Response:
    """Retract this node's record everywhere it went (reviewer or admin)."""
    return _act(
        request,
        node,
        officer,
        record_pk,
        "retracted",
        lambda s, pk: lifecycle.retract_record(s, node, officer, pk, reason=reason, comment=comment),
    )


@router.post("/records/{record_pk}/discrepancy", response_model=None)
def report_discrepancy(
    request: Request,
    node: NodeDep,
    officer: Reviewer,
    record_pk: str,
    category: Field = "",
    person_ref: Field = "",
    details: Field = "",
) -> Response:
    """Tell the originator a received record looks wrong; it is contested until answered."""
    return _act(
        request,
        node,
        officer,
        record_pk,
        "reported",
        lambda s, pk: lifecycle.report(s, node, officer, pk, category=category, person_ref=person_ref, details=details),
    )


@router.post("/records/{record_pk}/onward-request", response_model=None)
def request_onward(
    request: Request,
    node: NodeDep,
    officer: Reviewer,
    record_pk: str,
    third_party: Field = "",
    purpose: Field = "",
    justification: Field = "",
) -> Response:
    """Ask the originator's consent to share a received record with a third party."""
    return _act(
        request,
        node,
        officer,
        record_pk,
        "onward_requested",
        lambda s, pk: lifecycle.ask_onward(
            s, node, officer, pk, third_party=third_party, purpose=purpose, justification=justification
        ),
    )


@router.post("/records/{record_pk}/consent", response_model=None)
def answer_onward_request(
    request: Request, node: NodeDep, officer: Reviewer, record_pk: str, decision: Field = "", comment: Field = ""
) -> Response:
    """Grant or refuse a received onward-sharing request (a refusal needs its reason)."""
    return _act(
        request,
        node,
        officer,
        record_pk,
        "granted" if decision == "granted" else "refused",
        lambda s, pk: lifecycle.answer_request(s, node, officer, pk, decision=decision, comment=comment),
    )


@router.post("/records/{record_pk}/discrepancy-answer", response_model=None)
def answer_discrepancy(
    request: Request, node: NodeDep, officer: Reviewer, record_pk: str, outcome: Field = "", comment: Field = ""
) -> Response:
    """Answer a received discrepancy report; the reported record is no longer contested."""
    return _act(
        request,
        node,
        officer,
        record_pk,
        "answered",
        lambda s, pk: lifecycle.answer_report(s, node, officer, pk, outcome=outcome, comment=comment),
    )


@router.post("/records/{record_pk}/share-onward", response_model=None)
def share_onward(
    request: Request, node: NodeDep, officer: Reviewer, record_pk: str, third_party: Field = ""
) -> Response:
    """Forward a received record to a third party the originator consented to."""
    return _act(
        request,
        node,
        officer,
        record_pk,
        "forwarded",
        lambda s, pk: lifecycle.share_onward(s, node, officer, pk, third_party=third_party),
    )


@router.post("/records/{record_pk}/hold", response_model=None)
def place_hold(request: Request, node: NodeDep, officer: Admin, record_pk: str, reason: Field = "") -> Response:
    """Put a record on legal hold: retention keeps its body until released (admin)."""
    return _act(
        request,
        node,
        officer,
        record_pk,
        "held",
        lambda s, pk: lifecycle.place_hold(s, node, officer, pk, reason=reason),
    )


@router.post("/records/{record_pk}/release", response_model=None)
def release_hold(request: Request, node: NodeDep, officer: Admin, record_pk: str) -> Response:
    """Release a record's legal hold (admin)."""
    return _act(
        request, node, officer, record_pk, "released", lambda s, pk: lifecycle.release_hold(s, node, officer, pk)
    )


@router.get("/lifecycle")
def lifecycle_overview(request: Request, node: NodeDep, officer: CurrentOfficer) -> HTMLResponse:
    """Corrections and retractions not applied in time, open discrepancies, legal holds, reviews due."""
    with node.transaction() as session:
        page = lifecycle.lifecycle_page(session, node)
    return render(request, "lifecycle.html", {"section": "lifecycle", "page": page}, officer=officer)
