"""The listeners' operations middleware: log context, rate limit, request metrics, access log.

It sits just inside the correlation-id middleware of :mod:`gateway.app`, so
the id it puts in the log context is the one the caller gets back.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.exchange.errors import PeerCertificateRequiredError
from gateway.node import Node
from gateway.observability.errors import RateLimitedError
from gateway.observability.logging import correlation_id_var
from gateway.observability.metrics import metrics_of
from gateway.observability.ratelimit import ClientIdentities, TokenBucketLimiter, bearer_token
from gateway.problems import send_problem

Listener = Literal["agency", "partner"]

access_log = logging.getLogger("gateway.access")

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Probes and scrapes: never rate limited, logged only at DEBUG.
OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class ObservabilityMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware): cheap, and context variables reach the route."""

    def __init__(self, app: ASGIApp, *, node: Node, listener: Listener) -> None:
        self.app = app
        self.node = node
        self.listener = listener
        self.metrics = metrics_of(node)
        settings = node.settings
        per_minute = (
            settings.rate_limit_partner_per_minute if listener == "partner" else settings.rate_limit_client_per_minute
        )
        self.limiter = TokenBucketLimiter(per_minute) if per_minute > 0 else None
        self.identities = ClientIdentities(node) if listener == "agency" else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.get("state") or {}
        context = correlation_id_var.set(state.get("correlation_id"))
        started = time.perf_counter()
        status = 500  # unless the app answers: an exception escaping it becomes a 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            refusal = await self._rate_limit(scope)
            if refusal is None:
                await self.app(scope, receive, send_observed)
            else:
                self.metrics.rate_limited.labels(self.listener).inc()
                await self._refuse(scope, receive, send_observed, refusal)
        finally:
            self._observe(scope, status, time.perf_counter() - started)
            correlation_id_var.reset(context)

    # -- rate limit ----------------------------------------------------------

    async def _rate_limit(self, scope: Scope) -> RateLimitedError | None:
        if self.limiter is None or scope.get("path") in OPERATIONS_PATHS:
            return None
        key = await self._caller(scope)
        wait = self.limiter.acquire(key)
        if wait <= 0:
            return None
        who = key.split(":", 1)[0]
        return RateLimitedError(
            f"more than {int(self.limiter.capacity)} requests per minute from this {who}",
            retry_after_seconds=wait,
        )

    async def _caller(self, scope: Scope) -> str:
        """Return the rate-limit key: ``party:XX``, ``client:ID`` or ``address:IP``."""
        request = Request(scope)
        if self.listener == "partner":
            from gateway.edge import peer_party  # the one rule for who a peer is

            try:
                return f"party:{peer_party(request, self.node)}"
            except PeerCertificateRequiredError:
                return f"address:{_client_address(scope)}"
        token = bearer_token(request.headers.get("authorization"))
        if token is not None and self.identities is not None:
            known, client_id = self.identities.cached(token)
            if not known:
                client_id = await run_in_threadpool(self.identities.resolve, token)
            if client_id is not None:
                return f"client:{client_id}"
        return f"address:{_client_address(scope)}"

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, error: RateLimitedError) -> None:
        await send_problem(scope, receive, send, error, error.headers)

    # -- metrics and access log ---------------------------------------------

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = _route_label(scope)
        method = str(scope.get("method", ""))
        method_label = method if method in KNOWN_METHODS else "other"  # a label value nobody can invent
        self.metrics.http_requests.labels(self.listener, method_label, route, str(status)).inc()
        self.metrics.http_duration.labels(self.listener, route).observe(seconds)
        path = str(scope.get("path", ""))
        access_log.log(
            logging.DEBUG if path in OPERATIONS_PATHS else logging.INFO,
            "%s %s %d %.1fms",
            method,
            path,
            status,
            seconds * 1000,
            extra={
                "listener": self.listener,
                "method": method,
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
            },
        )


def install_observability(app: FastAPI, node: Node, listener: Listener) -> None:
    """Add the operations middleware to a listener's app.

    Call it before the correlation-id middleware is added: Starlette runs the
    last-added middleware outermost, and this one reads the id that one sets.
    """
    app.add_middleware(ObservabilityMiddleware, node=node, listener=listener)
