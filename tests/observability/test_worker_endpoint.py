"""``gateway worker``'s own /metrics and /healthz (worker_metrics_port)."""

from __future__ import annotations

import socket

import httpx

from gateway.observability.exposition import start_worker_endpoint
from tests.observability.conftest import BuildNode, sample
from tests.support.nodes import OPERATIONS_HEADERS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_worker_endpoint_is_off_by_default(build_test_node: BuildNode) -> None:
    assert start_worker_endpoint(build_test_node()) is None


def test_worker_endpoint_serves_the_nodes_metrics_and_health(build_test_node: BuildNode) -> None:
    node = build_test_node(worker_metrics_port=_free_port(), agency_host="127.0.0.1")
    server = start_worker_endpoint(node)
    assert server is not None
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        metrics = httpx.get(f"{base}/metrics", headers=OPERATIONS_HEADERS, timeout=10)
        health = httpx.get(f"{base}/healthz", timeout=10)
        missing = httpx.get(f"{base}/other", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert metrics.status_code == 200
    assert sample(metrics.text, "mou_gateway_database_up") == 1.0
    assert sample(metrics.text, "mou_gateway_delivery_attempts_total", partner="CO", outcome="delivered") == 0.0
    assert health.json() == {"status": "ok", "party": "PA", "role": "worker"}
    assert missing.status_code == 404


def test_worker_readyz_shows_a_failing_job(build_test_node: BuildNode) -> None:
    from sqlalchemy.exc import OperationalError

    node = build_test_node(worker_metrics_port=_free_port(), agency_host="127.0.0.1")
    server = start_worker_endpoint(node)
    assert server is not None
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert httpx.get(f"{base}/readyz", timeout=10).json() == {"ready": True}
        job = node.jobs.job("delivery worker")
        job.failed(OperationalError("SELECT 1", {}, ConnectionError("connection refused")))
        bare = httpx.get(f"{base}/readyz", timeout=10)
        detailed = httpx.get(f"{base}/readyz", headers=OPERATIONS_HEADERS, timeout=10)
        job.succeeded()
        again = httpx.get(f"{base}/readyz", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert bare.status_code == 503
    assert bare.json() == {"ready": False}  # no detail without the operations token
    state = detailed.json()["checks"]["jobs"]["delivery worker"]
    assert state["state"] == "failing"
    assert state["failures"] == 1
    assert state["last_error"].startswith("Database unavailable: the database did not answer (ConnectionError)")
    assert again.status_code == 200
