"""Console routes of SSO sign-in (``/console/sso/start``, ``/console/sso/callback``) and how they are installed.

The start route records a pending flow and sends the browser to the provider
with a cookie that binds the flow to this browser (SameSite=Lax: the
provider's redirect back is a cross-site top-level navigation). The callback
consumes the flow before anything else, redeems the code outside any
transaction (the provider may be slow), checks the ID token, then opens the
session in one transaction with its ledger event.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse

from gateway.console.guards import session_token, set_session_cookie
from gateway.console.rendering import CONSOLE_PREFIX, redirect, render
from gateway.console.schemas import SignInMethod
from gateway.console.service import end_session
from gateway.console.sso import service
from gateway.console.sso.errors import ProviderRefused, SsoError, SsoFlowInvalid, SsoNotConfigured
from gateway.console.sso.provider import OidcClient, OidcConfig
from gateway.node import Node, node_from, node_of

log = logging.getLogger("gateway.console.sso")

SSO_PREFIX: Final = f"{CONSOLE_PREFIX}/sso"
FLOW_COOKIE: Final = "mou_console_sso"
CALLBACK_PATH: Final = f"{SSO_PREFIX}/callback"

router = APIRouter(prefix=SSO_PREFIX, include_in_schema=False)
NodeDep = Annotated[Node, Depends(node_of)]


def oidc_client(request: Request) -> OidcClient | None:
    """Return the node's OpenID Connect client, or None when SSO is not configured."""
    client: OidcClient | None = getattr(request.app.state, "oidc", None)
    return client


def _base_url(request: Request) -> str:
    configured = node_from(request).settings.oidc_redirect_uri
    if configured:
        return configured.split(CALLBACK_PATH, 1)[0].rstrip("/")
    return str(request.base_url).rstrip("/")


def redirect_uri(request: Request) -> str:
    """Return the callback URL registered at the provider."""
    return node_from(request).settings.oidc_redirect_uri or f"{_base_url(request)}{CALLBACK_PATH}"


def local_signin_allowed(request: Request, username: str | None = None) -> bool:
    """Return whether password + TOTP sign-in is open on this node (for ``username``, when given)."""
    settings = node_from(request).settings
    if not settings.console_local_signin:
        return False
    if username is None or not settings.console_local_accounts:
        return True
    allowed = {name.strip().lower() for name in settings.console_local_accounts}
    return username.strip().lower() in allowed


def login_page_context(request: Request, next_path: str) -> dict[str, Any]:
    """Return what the sign-in page shows about SSO and local sign-in."""
    settings = node_from(request).settings
    client = oidc_client(request)
    return {
        "sso_name": (settings.oidc_display_name or client.config.issuer) if client else None,
        "sso_start": f"{SSO_PREFIX}/start?{urlencode({'next': next_path})}" if client else None,
        "local_signin": local_signin_allowed(request),
        "local_limited": bool(settings.console_local_accounts),
    }


def logout_location(request: Request, method: SignInMethod | None) -> str | None:
    """Return the provider's end-session URL for an SSO session, when the provider offers one."""
    client = oidc_client(request)
    if client is None or method is not SignInMethod.OIDC:
        return None
    return client.end_session_url(post_logout_redirect_uri=f"{_base_url(request)}{CONSOLE_PREFIX}/login?bye=1")


@router.get("/start", response_model=None)
def start(request: Request, node: NodeDep, next: str | None = None) -> Response:
    """Send the browser to the identity provider (authorization code flow, PKCE, state, nonce)."""
    from gateway.console.signin import safe_next  # the sign-in routes import this module

    client = oidc_client(request)
    if client is None:
        raise SsoNotConfigured("agency sign-in is not set up on this node", reason="not_configured")
    with node.transaction() as session:
        started = service.start_flow(
            session, client, next_path=safe_next(next), redirect_uri=redirect_uri(request), now=node.now()
        )
    response = redirect(started.url)
    response.set_cookie(
        FLOW_COOKIE,
        started.browser_token,
        max_age=service.FLOW_SECONDS,
        path=SSO_PREFIX,
        httponly=True,
        samesite="lax",
        secure=node.settings.agency_tls,
    )
    return response


@router.get("/callback", response_model=None)
def callback(
    request: Request,
    node: NodeDep,
    state: str = "",
    code: str = "",
    iss: str | None = None,
    error: str | None = None,
) -> Response:
    """Finish the sign-in the provider sent back: check state, code, ID token, groups; open the session."""
    client = oidc_client(request)
    if client is None:
        raise SsoNotConfigured("agency sign-in is not set up on this node", reason="not_configured")
    with node.transaction() as session:
        flow = service.take_flow(
            session, state=state, browser_token=request.cookies.get(FLOW_COOKIE, ""), now=node.now()
        )
    if iss is not None and iss != client.config.issuer:  # RFC 9207: an answer from another provider
        raise SsoFlowInvalid("the sign-in answer names another identity provider", reason="iss_mismatch")
    if error is not None:
        raise ProviderRefused(f"the identity provider refused the sign-in ({error[:64]})", reason=f"auth_{error[:32]}")
    if not code or len(code) > 2048:
        raise SsoFlowInvalid("the identity provider's answer carries no code", reason="code_missing")
    raw = client.exchange_code(code=code, redirect_uri=redirect_uri(request), code_verifier=flow.code_verifier)
    token = client.verify_id_token(raw, nonce=flow.nonce, now=node.now())
    policy: service.SsoPolicy = request.app.state.sso_policy
    admission = service.admit(token, policy)
    with node.transaction() as session:
        end_session(session, session_token(request))  # no session fixation
        opened = service.sign_in(session, token, admission, policy, node.now(), cipher=request.app.state.seed_cipher)
    response = redirect(flow.next_path)
    set_session_cookie(response, node, opened.token)
    response.delete_cookie(FLOW_COOKIE, path=SSO_PREFIX)
    return response


async def _sso_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SsoError)
    log.warning("SSO sign-in refused: %s (%s)", exc.reason, exc.detail)
    page: HTMLResponse = render(
        request,
        "sso_refused.html",
        {
            "title_key": f"error.{exc.slug}",
            "detail": exc.detail,
            "reason": exc.reason,
            "status": exc.status,
            "retry": f"{SSO_PREFIX}/start" if oidc_client(request) is not None else None,
            "local_signin": local_signin_allowed(request),
        },
        status_code=exc.status,
    )
    page.delete_cookie(FLOW_COOKIE, path=SSO_PREFIX)
    return page


def install_sso(app: FastAPI) -> None:
    """Add SSO sign-in to the console; raises ConfigurationError for unusable OIDC settings."""
    node: Node = app.state.node
    config = OidcConfig.from_settings(node.settings)
    app.state.oidc = OidcClient(config) if config is not None else None
    if config is not None:
        issuer = urlsplit(config.issuer)
        app.state.console_form_targets = (f"{issuer.scheme}://{issuer.netloc}",)
    app.state.sso_policy = service.SsoPolicy.from_settings(node.settings)
    app.include_router(router)
    app.add_exception_handler(SsoError, _sso_refused)
