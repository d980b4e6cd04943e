"""``/metrics`` and ``/healthz`` for ``gateway worker``, which has no listener of its own.

Off unless ``worker_metrics_port`` is set. Serves plain HTTP on the agency
host: keep it on an internal network, like the agency listener. ``/metrics``
needs the operations token, as on the agency listener.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST

from gateway.errors import ConfigurationError, GatewayError
from gateway.node import Node
from gateway.observability.access import OperationsAccess, load_operations_token
from gateway.observability.metrics import render_metrics

log = logging.getLogger("gateway.metrics")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("worker endpoint: " + format, *args)


def worker_endpoint_app(node: Node) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """Return the WSGI app answering ``/metrics``, ``/healthz`` and ``/readyz``.

    Raises ConfigurationError for an unusable operations token setting.
    """
    access = OperationsAccess(load_operations_token(node.settings))

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            try:
                access.require_header(environ.get("HTTP_AUTHORIZATION"), path)
            except GatewayError as exc:
                problem = {"type": exc.type_uri(), "title": exc.title, "status": exc.status, "detail": exc.detail}
                headers = [("Content-Type", "application/problem+json"), *getattr(exc, "headers", {}).items()]
                start_response(f"{exc.status} {exc.title}", headers)
                return [json.dumps(problem).encode()]
            body = render_metrics(node)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [body]
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"status": "ok", "party": node.party, "role": "worker"}).encode()]
        if path == "/readyz":
            # Ready while no background job is failing (a database outage fails the delivery
            # worker's rounds); the jobs' states and last errors only with the operations token.
            ready = not node.jobs.failing()
            report: dict[str, Any] = {"ready": ready}
            try:
                access.require_header(environ.get("HTTP_AUTHORIZATION"), path)
            except GatewayError:
                pass
            else:
                report["checks"] = {"jobs": node.jobs.snapshot()}
            start_response("200 OK" if ready else "503 Service Unavailable", [("Content-Type", "application/json")])
            return [json.dumps(report).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


def start_worker_endpoint(node: Node) -> WSGIServer | None:
    """Serve the worker's endpoint in a daemon thread when ``worker_metrics_port`` is set.

    Returns the server (``shutdown()`` stops it) or None when the port is 0.
    Raises ConfigurationError when the port cannot be bound.
    """
    port = node.settings.worker_metrics_port
    if not port:
        return None
    host = node.settings.agency_host
    try:
        server = make_server(
            host, port, worker_endpoint_app(node), server_class=_ThreadingServer, handler_class=_QuietHandler
        )
    except OSError as exc:
        raise ConfigurationError(f"cannot listen on {host}:{port} for worker metrics: {exc.strerror}") from exc
    threading.Thread(target=server.serve_forever, name=f"{node.party}-worker-metrics", daemon=True).start()
    log.info("worker metrics on http://%s:%d/metrics", host, server.server_port)
    return server
