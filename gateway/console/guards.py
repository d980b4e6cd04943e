"""FastAPI dependencies that guard console pages: session, password change, role, CSRF.

Every route of the console's page router depends on ``csrf_checked``, which
depends on ``signed_in``: no page is served without a live session, and no
POST is accepted without the session's CSRF token. FastAPI resolves
``signed_in`` once per request, however many dependencies use it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Final

from fastapi import Depends, Request, Response

from gateway.console import service
from gateway.console.errors import (
    CsrfRejected,
    ForbiddenAction,
    LoginRequired,
    PasswordChangeRequired,
)
from gateway.console.schemas import OfficerPrincipal, Role
from gateway.node import Node, node_from

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD: Final = "csrf_token"


def session_cookie_name(node: Node) -> str:
    """Return the session cookie's name; ``__Host-`` binds it to this origin over HTTPS."""
    return "__Host-mou_console" if node.settings.agency_tls else "mou_console"


def set_session_cookie(response: Response, node: Node, token: str) -> None:
    """Put the session token in an HttpOnly, SameSite=Strict cookie (Secure under TLS)."""
    response.set_cookie(
        session_cookie_name(node),
        token,
        path="/",
        httponly=True,
        samesite="strict",
        secure=node.settings.agency_tls,
    )


def clear_session_cookie(response: Response, node: Node) -> None:
    response.delete_cookie(
        session_cookie_name(node),
        path="/",
        httponly=True,
        samesite="strict",
        secure=node.settings.agency_tls,
    )


def session_token(request: Request) -> str | None:
    return request.cookies.get(session_cookie_name(node_from(request)))


def signed_in(request: Request) -> OfficerPrincipal:
    """Return the officer of the request's live session; raises LoginRequired."""
    node = node_from(request)
    with node.transaction() as session:
        officer = service.resolve_session(session, session_token(request), node.now())
    if officer is None:
        raise LoginRequired("sign in to use the console")
    return officer


SignedIn = Annotated[OfficerPrincipal, Depends(signed_in)]


async def csrf_checked(request: Request, officer: SignedIn) -> None:
    """Refuse any unsafe request whose form lacks this session's CSRF token (CsrfRejected)."""
    if request.method in SAFE_METHODS:
        return
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if not isinstance(token, str) or not hmac.compare_digest(token.encode("utf-8"), officer.csrf_token.encode("utf-8")):
        raise CsrfRejected("the form did not carry this session's token; reload the page and retry")


def current_officer(officer: SignedIn) -> OfficerPrincipal:
    """Return the signed-in officer once they have replaced a one-time password."""
    if officer.password_change_required:
        raise PasswordChangeRequired("choose your own password first")
    return officer


CurrentOfficer = Annotated[OfficerPrincipal, Depends(current_officer)]


def require_role(needed: Role) -> Callable[[OfficerPrincipal], OfficerPrincipal]:
    """Return a dependency giving the current officer if their role allows ``needed``.

    The dependency raises ForbiddenAction (a 403 page) otherwise.
    """

    def officer_with_role(officer: CurrentOfficer) -> OfficerPrincipal:
        if not officer.can(needed):
            raise ForbiddenAction(f"this needs the {needed.value} role; you are {officer.role.value}")
        return officer

    return officer_with_role


Reviewer = Annotated[OfficerPrincipal, Depends(require_role(Role.REVIEWER))]
Admin = Annotated[OfficerPrincipal, Depends(require_role(Role.ADMIN))]
