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
from gateway.console.errors import ForbiddenAction, PageNotFound
from gateway.console.guards import CurrentOfficer, csrf_checked
from gateway.console.record_page import pk_of, record_response
from gateway.console.rendering import CONSOLE_PREFIX, redirect, render
from gateway.console.schemas import ActionForm, OfficerPrincipal
from gateway.edge import transact
from gateway.errors import GatewayError
from gateway.node import Node, node_of

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False, dependencies=[Depends(csrf_checked)])
NodeDep = Annotated[Node, Depends(node_of)]

Action = Callable[[Session, int], object]


def _act(
    request: Request, node: Node, officer: OfficerPrincipal, record_pk: str, done: str, action: Action
) -> Response:
    """Run ``action`` on the record in one transaction; on success go back to the record with a notice."""
    pk = pk_of(record_pk)
    try:
        transact(node, lambda session: action(session, pk))
    except PageNotFound:
        raise
    except GatewayError as exc:  # refused by the console, the lifecycle rules or the terms: shown on the page
        return record_response(request, node, officer, pk, error=exc)
    node.wake_delivery()
    return redirect(f"{CONSOLE_PREFIX}/records/{pk}?done={done}")


@router.post("/records/{record_pk}/{action}", response_model=None)
def act(
    request: Request,
    node: NodeDep,
    officer: CurrentOfficer,
    record_pk: str,
    action: str,
    form: Annotated[ActionForm, Form()],
) -> Response:
    """Take one lifecycle action of the record page (``lifecycle.ACTIONS``): retract, report a
    discrepancy, ask or answer onward sharing, answer a discrepancy, share onward (reviewer or
    admin); place or release a legal hold (admin)."""
    chosen = lifecycle.ACTIONS.get(action)
    if chosen is None:
        raise PageNotFound(f"no action {action[:40]!r} on records")
    if not officer.can(chosen.role):
        raise ForbiddenAction(f"this needs the {chosen.role.value} role; you are {officer.role.value}")
    return _act(
        request, node, officer, record_pk, chosen.done(form), lambda s, pk: chosen.run(s, node, officer, pk, form)
    )


@router.get("/lifecycle")
def lifecycle_overview(request: Request, node: NodeDep, officer: CurrentOfficer) -> HTMLResponse:
    """Corrections and retractions not applied in time, open discrepancies, legal holds, reviews due."""
    with node.transaction() as session:
        page = lifecycle.lifecycle_page(session, node)
    return render(request, "lifecycle.html", {"section": "lifecycle", "page": page}, officer=officer)
