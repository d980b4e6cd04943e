"""Turning console pages into responses: Jinja2 (autoescaped), language, security headers.

The console sends no script at all, so its Content-Security-Policy allows
none; styles come from one static file. Every console response carries the
same headers (``install_security_headers``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.console.i18n import LANGUAGES, pick_language, translator
from gateway.console.schemas import OfficerPrincipal
from gateway.node import node_from

PACKAGE_DIR: Final = Path(__file__).resolve().parent
TEMPLATES_DIR: Final = PACKAGE_DIR / "templates"
STATIC_DIR: Final = PACKAGE_DIR / "static"
CONSOLE_PREFIX: Final = "/console"
STATIC_PREFIX: Final = f"{CONSOLE_PREFIX}/static/"
LANG_COOKIE: Final = "mou_console_lang"

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'none'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}


def when(value: object) -> str:
    """Jinja filter: a datetime or RFC 3339 string as ``YYYY-MM-DD HH:MM:SS UTC``."""
    if value is None or value == "":
        return "—"
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value  # a date or free text: shown as it is
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def build_templates() -> Jinja2Templates:
    """Return the console's templates; autoescaping is on for every template."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    return Jinja2Templates(env=environment)


def templates_of(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.console_templates
    return templates


def language_of(request: Request) -> str:
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def link_with(request: Request, **changes: str | int | None) -> str:
    """Return this page's path and query with ``changes`` applied (None removes a parameter)."""
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    officer: OfficerPrincipal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a console page for ``officer`` in the request's language."""
    language = language_of(request)
    node = node_from(request)
    current = node.terms.current(node.now()) if node.terms is not None else None
    full = {
        "officer": officer,
        "party": node.party,
        # The footer names the memorandum in force now, not a fixed PA-CO-US text.
        "memorandum": f"{current.terms.title} ({current.terms.terms_id} v{current.terms.version})" if current else None,
        "lang": language,
        "t": translator(language),
        "lang_links": [(code, link_with(request, lang=code)) for code in LANGUAGES],
        **context,
    }
    response = templates_of(request).TemplateResponse(request, template, full, status_code=status_code)
    remember_language(request, response)
    return response


def remember_language(request: Request, response: Response) -> None:
    """Keep an explicit ``?lang=`` choice in a cookie for the next pages."""
    requested = request.query_params.get("lang")
    if requested in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE,
            requested,
            max_age=365 * 24 * 3600,
            path=CONSOLE_PREFIX,
            httponly=True,
            samesite="strict",
            secure=node_from(request).settings.agency_tls,
        )


def redirect(location: str) -> RedirectResponse:
    """Return a 303 See Other to a console path (after a POST, or to the login page)."""
    return RedirectResponse(location, status_code=303)


class ConsoleHeadersMiddleware:
    """Pure ASGI middleware: the console's security headers on every response under ``/console``.

    The agency listener serves the API beside the console; a BaseHTTPMiddleware
    here cost every API request a task group and memory streams, for headers
    only console pages carry. Other paths pass straight through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        # Sign-out of an SSO session is a form POST redirected on to the provider, and CSP's
        # form-action governs that redirect too: the provider's origin is allowed (console.sso).
        targets: tuple[str, ...] = getattr(scope["app"].state, "console_form_targets", ()) if "app" in scope else ()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if targets:
                    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
                        "form-action 'self'", "form-action 'self' " + " ".join(targets)
                    )
                if path.startswith(STATIC_PREFIX):  # the stylesheet may be cached
                    headers["Cache-Control"] = "public, max-age=3600"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI) -> None:
    """Add the console's security headers to every response under ``/console``."""
    app.add_middleware(ConsoleHeadersMiddleware)
