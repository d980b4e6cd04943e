"""Console routes for signing in and out and changing one's password.

The login form is protected against cross-site posting before any session
exists with a double-submit token: a random value in a SameSite=Strict cookie
that the form must echo.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse

from gateway.console import service
from gateway.console.errors import WeakPassword
from gateway.console.guards import (
    SignedIn,
    clear_session_cookie,
    csrf_checked,
    session_token,
    set_session_cookie,
)
from gateway.console.rendering import CONSOLE_PREFIX, redirect, render
from gateway.console.sso.api import local_signin_allowed, login_page_context, logout_location
from gateway.console.sso.service import session_method
from gateway.node import Node, node_from, node_of

LOGIN_COOKIE: Final = "mou_console_login"
LOGIN_PATH: Final = f"{CONSOLE_PREFIX}/login"
HOME_PATH: Final = f"{CONSOLE_PREFIX}/inbox"

public_router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)
session_router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False, dependencies=[Depends(csrf_checked)])

NodeDep = Annotated[Node, Depends(node_of)]
FormText = Annotated[str, Form()]


def safe_next(value: str | None) -> str:
    """Return ``value`` if it is a console page of this origin, else the inbox (no open redirect)."""
    if (
        not value
        or len(value) > 500
        or not value.startswith(CONSOLE_PREFIX + "/")
        or value.startswith(("//", LOGIN_PATH, f"{CONSOLE_PREFIX}/logout"))
        or "\\" in value
    ):
        return HOME_PATH
    return value


def _login_page(
    request: Request,
    *,
    next_path: str,
    error: str | None = None,
    notice: str | None = None,
    username: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {
            "login_token": token,
            "next": next_path,
            "error": error,
            "notice": notice,
            "username": username,
            **login_page_context(request, next_path),
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path=LOGIN_PATH,
        httponly=True,
        samesite="strict",
        secure=node_from(request).settings.agency_tls,
    )
    return response


@public_router.get("/login", response_model=None)
def login_form(
    request: Request,
    node: NodeDep,
    next: str | None = None,
    bye: str | None = None,
    expired: str | None = None,
) -> Response:
    """Show the sign-in form (or go to the console when already signed in)."""
    with node.transaction() as session:
        officer = service.resolve_session(session, session_token(request), node.now())
    if officer is not None:
        return redirect(safe_next(next))
    notice = "login.signed_out" if bye else "login.expired" if expired else None
    return _login_page(request, next_path=safe_next(next), notice=notice)


@public_router.post("/login", response_model=None)
def login(
    request: Request,
    node: NodeDep,
    username: FormText = "",
    password: FormText = "",
    code: FormText = "",
    login_token: FormText = "",
    next: FormText = "",
) -> Response:
    """Check password and TOTP code; on success open a session and go to ``next``."""
    next_path = safe_next(next)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not login_token or not hmac.compare_digest(login_token.encode(), cookie.encode()):
        return _login_page(request, next_path=next_path, error="login.form_expired", status_code=400)
    if not local_signin_allowed(request, username):
        # Break-glass only: the node's policy, not the account, decides (nothing checked, nothing learnt).
        return _login_page(request, next_path=next_path, error="login.local_refused", status_code=403)
    source = request.client.host if request.client else None
    # Three steps: the slow argon2 check runs with no transaction open.
    with node.transaction() as session:
        throttled = service.check_throttle(session, username, source, node.now())
        candidate = service.find_candidate(session, username, cipher=request.app.state.seed_cipher)
    if throttled is not None:
        page = _login_page(
            request, next_path=next_path, error="login.throttled", username=candidate.username, status_code=429
        )
        page.headers["Retry-After"] = str(throttled.retry_after_seconds(node.now()))
        return page
    factors = service.check_factors(candidate, password, code, node.now())
    with node.transaction() as session:
        service.end_session(session, session_token(request))  # no session fixation
        outcome = service.complete_login(session, candidate, factors, node.now(), remote_addr=source)
    if outcome.opened is None:
        return _login_page(
            request,
            next_path=next_path,
            error="login.failed",
            username=candidate.username,
            status_code=401,
        )
    response = redirect(next_path)
    set_session_cookie(response, node, outcome.opened.token)
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    return response


@session_router.post("/logout", response_model=None)
def logout(request: Request, node: NodeDep, officer: SignedIn) -> Response:
    """End the session and return to the sign-in page."""
    with node.transaction() as session:
        method = session_method(session, session_token(request))
        service.end_session(session, session_token(request))
    # An SSO session also ends at the provider when it offers RP-initiated logout.
    response = redirect(logout_location(request, method) or f"{LOGIN_PATH}?bye=1")
    clear_session_cookie(response, node)
    return response


@session_router.get("/password")
def password_form(request: Request, officer: SignedIn) -> HTMLResponse:
    """Show the password change form (the only page open before a one-time password is replaced)."""
    return render(
        request,
        "password.html",
        {"min_length": service.PASSWORD_MIN_LENGTH, "error": None},
        officer=officer,
    )


@session_router.post("/password", response_model=None)
def change_password(
    request: Request,
    node: NodeDep,
    officer: SignedIn,
    current: FormText = "",
    new: FormText = "",
    repeated: FormText = "",
) -> Response:
    """Replace the officer's password; other sessions of the officer end."""
    token = session_token(request) or ""
    try:
        with node.transaction() as session:
            service.change_password(session, officer.officer_pk, current, new, repeated, keep_token=token)
    except WeakPassword as exc:
        return render(
            request,
            "password.html",
            {"min_length": service.PASSWORD_MIN_LENGTH, "error": exc.detail},
            officer=officer,
            status_code=400,
        )
    return redirect(HOME_PATH)
