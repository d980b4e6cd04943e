"""RFC 9457 problem+json for every error, with a correlation id and no stack trace."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from gateway.errors import PROBLEM_BASE, GatewayError

log = logging.getLogger("gateway.problems")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of the gateway is answered."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    correlation_id: str


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring these statuses as problem+json (for integrators' tooling)."""
    return {
        status: {"description": "Problem details (RFC 9457)", "content": {PROBLEM_MEDIA_TYPE: {"schema": _SCHEMA}}}
        for status in statuses
    }


_SCHEMA = Problem.model_json_schema()


def correlation_id(request: Request) -> str:
    """Return the request's correlation id (set by the middleware), creating one if absent."""
    existing = getattr(request.state, "correlation_id", None)
    if isinstance(existing, str):
        return existing
    value = uuid.uuid4().hex
    request.state.correlation_id = value
    return value


def problem_response(
    request: Request,
    *,
    status: int,
    type_uri: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """Return a problem+json response carrying the correlation id."""
    cid = correlation_id(request)
    body: dict[str, Any] = {
        "type": type_uri,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": f"urn:uuid:{uuid.UUID(cid)}",
        "correlation_id": cid,
        **(extra or {}),
    }
    return JSONResponse(
        body,
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"X-Correlation-ID": cid, **(headers or {})},
    )


async def send_problem(
    scope: Scope, receive: Receive, send: Send, error: GatewayError, headers: dict[str, str] | None = None
) -> None:
    """Answer ``error`` as problem+json from ASGI middleware (outside FastAPI's exception handlers)."""
    response = problem_response(
        Request(scope),
        status=error.status,
        type_uri=error.type_uri(),
        title=error.title,
        detail=error.detail,
        headers=headers,
    )
    await response(scope, receive, send)


_HTTP_SLUGS = {
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("rate-limited", "Too many requests"),
}


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        extra = getattr(exc, "extra", None)
        return problem_response(
            request,
            status=exc.status,
            type_uri=exc.type_uri(),
            title=exc.title,
            detail=exc.detail,
            headers=headers,
            extra=extra,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors()[:5]:
            location = ".".join(str(item) for item in error.get("loc", ()))
            parts.append(f"{location}: {error.get('msg', 'invalid')}")
        return problem_response(
            request,
            status=422,
            type_uri=PROBLEM_BASE + "request-validation",
            title="Request validation failed",
            detail="; ".join(parts) or "invalid request",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
        return problem_response(
            request,
            status=exc.status_code,
            type_uri=PROBLEM_BASE + slug,
            title=title,
            detail=str(exc.detail),
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        # A lost connection, a database restart, a deadlock victim: the
        # transaction was rolled back (or its commit never confirmed), and
        # every write path is idempotent, so the client should simply retry.
        # Only the driver's error class is logged: the message can quote SQL
        # parameters, i.e. record contents.
        log.warning(
            "database error %s; answered 503",
            type(exc.orig).__name__,
            extra={"correlation_id": correlation_id(request)},
        )
        return problem_response(
            request,
            status=503,
            type_uri=PROBLEM_BASE + "database-unavailable",
            title="Database unavailable",
            detail="the database did not complete this request; retry it "
            "(the same record bytes, or the same Idempotency-Key, are never stored twice)",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(StatementError)
    async def statement_failed(request: Request, exc: StatementError) -> JSONResponse:
        # Any other failed statement (an IntegrityError that a retry did not
        # resolve, ...). Its message and traceback quote the SQL and its
        # parameters, i.e. record contents: only the class names are logged,
        # and handling it here keeps the server from logging the traceback.
        cid = correlation_id(request)
        log.error(
            "database statement failed: %s (%s)",
            type(exc).__name__,
            type(exc.orig).__name__,
            extra={"correlation_id": cid},
        )
        return problem_response(
            request,
            status=500,
            type_uri=PROBLEM_BASE + "internal",
            title="Internal error",
            detail=f"the gateway failed to handle this request; quote correlation id {cid}",
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        cid = correlation_id(request)
        log.error("unhandled error", exc_info=exc, extra={"correlation_id": cid})
        return problem_response(
            request,
            status=500,
            type_uri=PROBLEM_BASE + "internal",
            title="Internal error",
            detail=f"the gateway failed to handle this request; quote correlation id {cid}",
        )
