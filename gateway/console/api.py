"""The officer console's pages (agency listener, ``/console``) and how they are installed.

Every page route depends on a live session (``guards``); every POST also on
the session's CSRF token. Each request is one transaction, opened here.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from gateway.console import lifecycle_api, review, service
from gateway.console.errors import (
    ActionRefused,
    ConsoleError,
    LoginRequired,
    OfficerNotFound,
    PageNotFound,
    PasswordChangeRequired,
)
from gateway.console.guards import (
    Admin,
    CurrentOfficer,
    Reviewer,
    clear_session_cookie,
    csrf_checked,
    session_token,
)
from gateway.console.record_page import pk_of, record_pk_for, record_response
from gateway.console.rendering import (
    CONSOLE_PREFIX,
    STATIC_DIR,
    STATIC_PREFIX,
    build_templates,
    install_security_headers,
    link_with,
    redirect,
    render,
)
from gateway.console.repository import ACTIONABLE_TYPES
from gateway.console.schemas import InboxQuery
from gateway.console.signin import LOGIN_PATH, public_router, session_router
from gateway.console.sso.api import install_sso
from gateway.edge import transact
from gateway.evidence.suspicion import dismiss_suspect_notice, suspect_notices
from gateway.exchange.errors import DeliveryNotFoundError
from gateway.exchange.worker import retry_delivery
from gateway.node import Node, node_from, node_of
from gateway.problems import correlation_id
from gateway.records.identity import OffenceCategory
from gateway.records.repository import LIFECYCLE_STATES
from gateway.records.schemas import RecordType
from gateway.records.states import DeliveryStatus
from gateway.terms.views import terms_flows, terms_summary
from gateway.trust.crls import crl_freshness

RECORD_TYPES: Final = tuple(t.value for t in RecordType)
OFFENCE_CATEGORIES: Final = tuple(c.value for c in OffenceCategory)
INBOX_STATUSES: Final = ("new", "acknowledged", "queried", "rejected", "invalid")
DELIVERY_STATUSES: Final = tuple(s.value for s in DeliveryStatus)

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False, dependencies=[Depends(csrf_checked)])
NodeDep = Annotated[Node, Depends(node_of)]


def _one_of(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _page(value: str | None) -> int:
    return int(value) if value and value.isdigit() and 0 < int(value) < 100_000 else 1


def partners_of(node: Node) -> tuple[str, ...]:
    return tuple(sorted(p for p in node.bundle.parties if p != node.party))


@router.get("", response_model=None)
def console_home(officer: CurrentOfficer) -> Response:
    return redirect(f"{CONSOLE_PREFIX}/inbox")


@router.get("/inbox")
def inbox(
    request: Request,
    node: NodeDep,
    officer: CurrentOfficer,
    record_type: str | None = None,
    partner: str | None = None,
    offence_category: str | None = None,
    status: str | None = None,
    received_from: str | None = None,
    received_until: str | None = None,
    q: str | None = None,
    lifecycle: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    """Received records, newest first, filtered and paged, with what needs action and lifecycle badges."""
    query = InboxQuery(
        record_type=_one_of(record_type, RECORD_TYPES),
        partner=_one_of(partner, partners_of(node)),
        offence_category=_one_of(offence_category, OFFENCE_CATEGORIES),
        status=_one_of(status, INBOX_STATUSES),
        received_from=_day(received_from),
        received_until=_day(received_until),
        search=(q or "").strip()[:64] or None,
        lifecycle=_one_of(lifecycle, LIFECYCLE_STATES),
        page=_page(page),
    )
    with node.transaction() as session:
        result = review.inbox(session, query, node.now())
        notices = suspect_notices(session, officer.actor)
    return render(
        request,
        "inbox.html",
        {
            "section": "inbox",
            "query": query,
            "page": result,
            "record_types": RECORD_TYPES,
            "actionable_types": ACTIONABLE_TYPES,
            "lifecycle_states": LIFECYCLE_STATES,
            "partners": partners_of(node),
            "offence_categories": OFFENCE_CATEGORIES,
            "statuses": INBOX_STATUSES,
            "page_link": lambda n: link_with(request, page=n),
            "suspect_notices": notices,
        },
        officer=officer,
    )


@router.post("/notices/{record_id}/dismiss", response_model=None)
def dismiss_notice(node: NodeDep, officer: CurrentOfficer, record_id: str) -> Response:
    """Dismiss this officer's notice that a record they reviewed is now suspect (a ledger event)."""
    with node.transaction() as session:
        dismiss_suspect_notice(session, officer.actor, record_id[:64], node.now())
    return redirect(f"{CONSOLE_PREFIX}/inbox")


@router.get("/records/{record_ref}")
def record(
    request: Request,
    node: NodeDep,
    officer: CurrentOfficer,
    record_ref: str,
    done: str | None = None,
) -> HTMLResponse:
    """One record, by its record id or its number here: content, verification, actions, custody timeline."""
    return record_response(request, node, officer, record_pk_for(node, record_ref), done=done)


@router.post("/records/{record_pk}/answer", response_model=None)
def answer(
    node: NodeDep,
    officer: Reviewer,
    record_pk: str,
    decision: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Acknowledge, query or reject a received record (reviewer or admin)."""
    pk = pk_of(record_pk)
    transact(node, lambda session: review.answer_record(session, node, officer, pk, decision, comment))
    node.wake_delivery()
    return redirect(f"{CONSOLE_PREFIX}/records/{pk}?done={decision}")


@router.get("/outbox")
def outbox(
    request: Request,
    node: NodeDep,
    officer: CurrentOfficer,
    delivery_status: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    """Records signed here, per-recipient delivery status and receipts; dead deliveries."""
    status = _one_of(delivery_status, DELIVERY_STATUSES)
    with node.transaction() as session:
        result = review.outbox_page(session, status, _page(page), node.now())
    return render(
        request,
        "outbox.html",
        {
            "section": "outbox",
            "page": result,
            "delivery_status": status,
            "delivery_statuses": DELIVERY_STATUSES,
            "page_link": lambda n: link_with(request, page=n),
        },
        officer=officer,
    )


@router.post("/deliveries/{delivery_pk}/retry", response_model=None)
def retry(node: NodeDep, officer: Admin, delivery_pk: str) -> Response:
    """Queue a dead delivery again (admin)."""
    try:
        retry_delivery(node, pk_of(delivery_pk, "delivery"), actor=officer.actor)
    except DeliveryNotFoundError as exc:
        raise ActionRefused(exc.detail) from exc
    return redirect(f"{CONSOLE_PREFIX}/outbox")


@router.get("/ledger")
def ledger(request: Request, node: NodeDep, officer: CurrentOfficer) -> HTMLResponse:
    """The node's audit ledger: tree size and latest events (checkpoints: not yet)."""
    with node.transaction() as session:
        result = review.ledger_page(session)
    # The trust bundle's CRLs beside the witnesses: a stale one stops TLS with its party.
    crls = crl_freshness(node.bundle, node.now())
    return render(request, "ledger.html", {"section": "ledger", "ledger": result, "crls": crls}, officer=officer)


@router.get("/terms")
def terms(request: Request, node: NodeDep, officer: CurrentOfficer) -> HTMLResponse:
    """The terms this node holds: versions, signatures, live flows, and partners' versions."""
    return render(
        request,
        "terms.html",
        {
            "section": "terms",
            "versions": terms_summary(node),
            "flows": terms_flows(node),
            "partners": sorted(node.partner_terms.values(), key=lambda s: s.party),
        },
        officer=officer,
    )


@router.get("/officers")
def officers(request: Request, node: NodeDep, officer: Admin) -> HTMLResponse:
    """Officer accounts with their lock state (admin)."""
    with node.transaction() as session:
        accounts = service.list_officers(session)
    return render(
        request,
        "officers.html",
        {"section": "officers", "officers": accounts, "now": node.now()},
        officer=officer,
    )


@router.post("/officers/{username}/{change}", response_model=None)
def change_officer(node: NodeDep, officer: Admin, username: str, change: str) -> Response:
    """Unlock, disable or enable an officer (admin; nobody disables themself)."""
    if change not in ("unlock", "disable", "enable"):
        raise PageNotFound(f"no such change {change[:20]!r}")
    # Officer names are looked up normalised (service._officer): compare the same form,
    # or "/officers/O-ADMIN/disable" would disable "o-admin" themself.
    if service.normalised_username(username) == officer.username and change == "disable":
        raise ActionRefused("you cannot disable your own account")
    try:
        with node.transaction() as session:
            if change == "unlock":
                service.unlock_officer(session, username, node.now())
            else:
                service.set_disabled(session, username, change == "disable", node.now())
    except OfficerNotFound as exc:
        raise PageNotFound(exc.detail) from exc
    return redirect(f"{CONSOLE_PREFIX}/officers")


# -- installation -----------------------------------------------------------------------


async def _login_required(request: Request, exc: Exception) -> Response:
    params: dict[str, str] = {}
    if request.method == "GET":
        params["next"] = link_with(request)
    if session_token(request):
        params["expired"] = "1"
    response = redirect(LOGIN_PATH + (f"?{urlencode(params)}" if params else ""))
    clear_session_cookie(response, node_from(request))
    return response


async def _password_change_required(request: Request, exc: Exception) -> Response:
    return redirect(f"{CONSOLE_PREFIX}/password")


async def _console_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleError)
    return render(
        request,
        "error.html",
        {
            "title_key": f"error.{exc.slug}",
            "detail": exc.detail,
            "status": exc.status,
            "correlation_id": correlation_id(request),
            "back": f"{CONSOLE_PREFIX}/inbox",
        },
        status_code=exc.status,
    )


def install_console(app: FastAPI) -> None:
    """Add the console to the agency app: pages, static CSS, error pages, security headers."""
    app.state.console_templates = build_templates()
    app.mount(STATIC_PREFIX.rstrip("/"), StaticFiles(directory=STATIC_DIR), name="console-static")
    app.include_router(public_router)
    app.include_router(session_router)
    app.include_router(router)
    app.include_router(lifecycle_api.router)
    install_sso(app)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PasswordChangeRequired, _password_change_required)
    app.add_exception_handler(ConsoleError, _console_error)
    install_security_headers(app)
