"""The two ASGI apps of a node: partner listener and agency listener, never mixed."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Final

from fastapi import Depends, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import __version__
from gateway.body_guard import BodyGuardMiddleware
from gateway.console.seeds import SeedCipher
from gateway.ledger.status import ledger_status
from gateway.lifecycle.dissemination import laggards
from gateway.node import Node
from gateway.observability.access import OperationsAccess, load_operations_token, require_operations_token
from gateway.observability.certificates import certificate_checks
from gateway.observability.doctor import live_flows
from gateway.observability.middleware import install_observability
from gateway.observability.revocation import crl_checks
from gateway.problems import install_problem_handlers
from gateway.trust.token_keys import key_status
from gateway.vault.token_kek import kek_status

log = logging.getLogger("gateway.app")

HSTS: Final = "max-age=31536000"  # one year (RFC 6797); no includeSubDomains: other hosts are not ours


class CorrelationMiddleware:
    """Pure ASGI middleware: a correlation id per request, and the headers every response carries.

    (Starlette's BaseHTTPMiddleware costs a task group and memory streams per
    request; this sits on the hot path of every record received.) ``hsts``
    adds Strict-Transport-Security, for a listener that serves browsers over TLS.
    """

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = Headers(scope=scope).get("x-correlation-id", "")
        # Accept a caller's id only if it is a plain hex/uuid token (it ends up in logs).
        try:
            correlation_id = uuid.UUID(supplied).hex if supplied else uuid.uuid4().hex
        except ValueError:
            correlation_id = uuid.uuid4().hex
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Correlation-ID"] = correlation_id
                headers.setdefault("Cache-Control", "no-store")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if self.hsts:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _with_correlation_ids(app: FastAPI, *, hsts: bool = False) -> None:
    app.add_middleware(CorrelationMiddleware, hsts=hsts)


def create_partner_app(node: Node) -> FastAPI:
    """The partner listener's app: only ``/v1/exchange/*``, behind mutual TLS."""
    from gateway.exchange.api import router as exchange_router
    from gateway.exchange.intake import ReceiveIntake
    from gateway.exchange.trust_api import router as trust_router
    from gateway.ledger.api import router as ledger_router
    from gateway.terms.api import router as terms_router

    app = FastAPI(
        title=f"MOU Gateway {node.party} — partner exchange API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.node = node
    app.state.intake = ReceiveIntake(node)  # group commit of single-record POSTs
    install_problem_handlers(app)
    install_observability(app, node, "partner")  # before the correlation ids: it runs inside them
    _with_correlation_ids(app)
    app.include_router(exchange_router)
    app.include_router(terms_router)
    app.include_router(trust_router)
    app.include_router(ledger_router)
    return app


def readiness(node: Node) -> dict[str, Any]:
    """Return the readiness report: database reachable, keys and certificates in date."""
    checks: dict[str, Any] = {}
    try:
        with node.transaction() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        checks["database"] = f"error: {type(exc).__name__}"
    remaining = node.signing_key.certificate.not_valid_after_utc - node.now()
    checks["signing_certificate_days_left"] = remaining.days
    checks["signing_certificate"] = "ok" if remaining.days > 0 else "expired"
    checks["signing_key"] = key_status(node.signing_key.private_key)  # a token key must still answer
    # Record bodies are sealed on receipt and opened on read: a token-held KEK must still answer too.
    checks["key_encryption_key"] = kek_status(node.vault.kek) if node.vault is not None else "none"
    checks.update(certificate_checks(node))  # tls_certificate(_days_left), certificate_warnings
    checks.update(crl_checks(node))  # crl_freshness, crl_warnings: detail, not readiness
    current = node.terms.current(node.now()) if node.terms is not None else None
    checks["terms"] = f"{current.terms.terms_id} v{current.terms.version}" if current else "none in force"
    mismatches = {p: s.detail for p, s in node.partner_terms.items() if not s.ok}
    checks["partner_terms"] = mismatches or "same as partners (or not yet checked)"
    version, flows = live_flows(node.terms, node.party, node.now()) if node.terms is not None else (None, [])
    # Detail, not readiness: a node without a live flow still answers partners (with refusals).
    checks["live_flows"] = flows or f"none: no flow to or from {node.party} is live in {version or 'any terms'}"
    # Background loops: "ok", or "failing" with the last error (detail, not readiness).
    checks["jobs"] = node.jobs.snapshot()
    try:
        with node.transaction() as session:
            # Detail only: a partner's fork does not stop this node from serving.
            checks["ledger"] = ledger_status(session)
            # Detail only: partners that have not applied a correction or retraction in time.
            checks["lifecycle_laggards"] = len(laggards(session, node))
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        checks["ledger"] = f"error: {type(exc).__name__}"
    return checks


def _encrypt_plain_seeds(node: Node, cipher: SeedCipher) -> None:
    """Encrypt TOTP seeds stored in clear by an older version (migration 0008 has no key to do it)."""
    from gateway.console.service import encrypt_plain_seeds

    try:
        with node.transaction() as session:
            converted = encrypt_plain_seeds(session, cipher)
    except SQLAlchemyError as exc:  # not migrated yet, or the database is down: next start
        log.warning("TOTP seeds not checked for encryption at start: %s", type(exc).__name__)
        return
    if converted:
        log.info("encrypted %d TOTP seeds stored in clear", converted)


def create_agency_app(node: Node) -> FastAPI:
    """The agency listener's app: OAuth token, records API, console, health.

    Raises ConfigurationError for unusable operations-token or TOTP-key settings.
    """
    from gateway.clients.api import router as oauth_router
    from gateway.console.api import install_console
    from gateway.exchange.standing_api import router as standing_router
    from gateway.lifecycle.api import router as lifecycle_router
    from gateway.lifecycle.records_api import router as records_router
    from gateway.observability.api import router as metrics_router
    from gateway.retention.api import router as retention_router

    # /docs and /openapi.json are served below, behind the operations token.
    app = FastAPI(
        title=f"MOU Gateway {node.party} — agency API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.node = node
    app.state.operations = OperationsAccess(load_operations_token(node.settings))
    app.state.seed_cipher = SeedCipher.from_settings(node.settings)
    _encrypt_plain_seeds(node, app.state.seed_cipher)
    install_problem_handlers(app)
    # Innermost: the rate limit (observability) refuses a flood before its bodies are read.
    app.add_middleware(BodyGuardMiddleware, limit=node.settings.agency_body_limit_bytes)
    install_observability(app, node, "agency")  # before the correlation ids: it runs inside them
    _with_correlation_ids(app, hsts=node.settings.agency_tls)
    app.include_router(oauth_router)
    app.include_router(lifecycle_router)  # before records: its paths are more specific
    app.include_router(retention_router)
    app.include_router(standing_router)
    app.include_router(records_router)
    app.include_router(metrics_router)
    install_console(app)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "party": node.party}

    @app.get("/readyz", tags=["operations"])
    def readyz(request: Request, response: Response) -> dict[str, Any]:
        """Return whether the node is ready (200/503); the checks only with the operations token."""
        detail = app.state.operations.presented(request)
        checks = readiness(node)
        ready = (
            checks["database"] == "ok"
            and checks["signing_certificate"] == "ok"
            and checks["signing_key"] == "ok"
            and checks["key_encryption_key"] in ("ok", "none")
            and checks["terms"] != "none in force"
            and checks["tls_certificate"] != "expired"
        )
        response.status_code = 200 if ready else 503
        return {"ready": ready, "checks": checks} if detail else {"ready": ready}

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_operations_token)])
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/openapi-partner.json", include_in_schema=False, dependencies=[Depends(require_operations_token)])
    def partner_openapi_document() -> JSONResponse:
        # The partner listener answers partners only; its contract is published here (and in schemas/).
        from gateway.exchange.openapi import partner_openapi

        return JSONResponse(partner_openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(require_operations_token)])
    def docs() -> HTMLResponse:
        # The page's own fetch of /openapi.json needs the token too (a header-adding proxy or extension).
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    return app
