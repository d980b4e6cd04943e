"""Per-minute rate limits: per partner (mTLS peer party) and per API client, answered 429 + Retry-After."""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
import pytest

from gateway.app import create_agency_app
from gateway.clients.service import create_client
from gateway.node import Node
from gateway.observability.metrics import render_metrics
from gateway.observability.ratelimit import TokenBucketLimiter
from tests.observability.conftest import BuildNode, sample
from tests.support.exchange import (
    example_draft,
    partner_client,
    party_certificate,
    post_jws,
    signed_record,
    start_node,
    stop_node,
)
from tests.support.nodes import OPERATIONS_HEADERS
from tests.support.pki import TestPKI

pytestmark = pytest.mark.anyio

RATE_LIMITED = "https://mou-gateway.example/problems/rate-limited"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(6, clock=clock)  # one request per 10 s, bursts of 6
    assert [limiter.acquire("a") for _ in range(6)] == [0.0] * 6
    assert limiter.acquire("a") == pytest.approx(10.0)
    assert limiter.acquire("b") == 0.0  # another key has its own bucket
    clock.now += 9.0
    assert limiter.acquire("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.acquire("a") == 0.0
    clock.now += 3600
    assert [limiter.acquire("a") for _ in range(7)][-2:] == [0.0, pytest.approx(10.0)]  # never more than 6 saved


def test_token_bucket_forgets_idle_keys_past_its_bound() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(60, clock=clock, max_keys=100)
    for index in range(100):
        limiter.acquire(f"address:{index}")
    clock.now += 120  # all buckets full again: nothing worth keeping
    limiter.acquire("address:new")
    assert len(limiter._buckets) == 1


def _client(node: Node) -> tuple[str, str]:
    with node.transaction() as session:
        return create_client(session, "rate test", ["records:read"], node.now())


async def _token(client: httpx.AsyncClient, client_id: str, secret: str) -> str:
    response = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_api_clients_are_limited_by_client_id_with_429_and_retry_after(build_test_node: BuildNode) -> None:
    node = build_test_node(rate_limit_client_per_minute=4)
    first, second = _client(node), _client(node)
    transport = httpx.ASGITransport(app=create_agency_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as anonymous:
        # Token requests carry no bearer token: limited by address (2 of its 4 used here).
        first_token, second_token = await _token(anonymous, *first), await _token(anonymous, *second)
    for token in (first_token, second_token):
        assert token
    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost", headers={"Authorization": f"Bearer {first_token}"}
    ) as one:
        statuses = [(await one.get("/v1/records")).status_code for _ in range(4)]
        refused = await one.get("/v1/records")
        assert (await one.get("/healthz")).status_code == 200  # probes are never limited
        assert (await one.get("/metrics", headers=OPERATIONS_HEADERS)).status_code == 200
    assert statuses == [200, 200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["Retry-After"] == "15"  # 60 s / 4 requests
    problem = refused.json()
    assert problem["type"] == RATE_LIMITED
    assert problem["status"] == 429
    assert problem["detail"] == "more than 4 requests per minute from this client"
    assert problem["correlation_id"] == refused.headers["X-Correlation-ID"]

    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost", headers={"Authorization": f"Bearer {second_token}"}
    ) as two:
        assert (await two.get("/v1/records")).status_code == 200  # its own allowance
    assert sample(render_metrics(node).decode(), "mou_gateway_rate_limited_total", listener="agency") == 1.0


async def test_requests_without_a_valid_token_are_limited_by_address(build_test_node: BuildNode) -> None:
    node = build_test_node(rate_limit_client_per_minute=3)
    transport = httpx.ASGITransport(app=create_agency_app(node), client=("192.0.2.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        statuses = [
            (await client.get("/v1/records", headers={"Authorization": f"Bearer forged-{n}"})).status_code
            for n in range(3)
        ]
        refused = await client.get("/v1/records")
    assert statuses == [401, 401, 401]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "20"
    assert refused.json()["detail"] == "more than 3 requests per minute from this address"
    other = httpx.ASGITransport(app=transport.app, client=("192.0.2.8", 50000))
    async with httpx.AsyncClient(transport=other, base_url="http://localhost") as client:
        assert (await client.get("/v1/records")).status_code == 401  # another address is not limited


def test_partners_are_limited_by_their_mtls_party(pki: TestPKI, database_url: str, tmp_path: Path) -> None:
    co = start_node(pki, "CO", database_url, tmp_path, rate_limit_partner_per_minute=3)
    try:
        with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as pa:
            started = time.monotonic()
            accepted = [
                post_jws(pa, signed_record(pki, "PA", example_draft("removal_manifest")).jws).status_code
                for _ in range(3)
            ]
            refused = post_jws(pa, signed_record(pki, "PA", example_draft("removal_manifest")).jws)
            elapsed = time.monotonic() - started
        with partner_client(pki, co.partner_url, party_certificate(pki, "US"), "CO", tmp_path) as us:
            other_party = post_jws(us, signed_record(pki, "US", example_draft("criminal_network_flag")).jws)
        assert accepted == [201, 201, 201]
        assert refused.status_code == 429
        # One token every 20 s: the wait is 20 s less what refilled while the requests ran.
        assert 20 - math.ceil(elapsed) <= int(refused.headers["Retry-After"]) <= 20
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == RATE_LIMITED
        assert refused.json()["detail"] == "more than 3 requests per minute from this party"
        assert other_party.status_code == 201  # US has its own allowance
        text = render_metrics(co.node).decode()
        assert sample(text, "mou_gateway_rate_limited_total", listener="partner") == 1.0
        assert sample(text, "mou_gateway_records_in_total", record_type="removal_manifest", verdict="accepted") == 3.0
    finally:
        stop_node(co)


async def test_zero_turns_the_limit_off(build_test_node: BuildNode) -> None:
    node = build_test_node(rate_limit_client_per_minute=0)
    transport = httpx.ASGITransport(app=create_agency_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        statuses = {(await client.get("/v1/records")).status_code for _ in range(50)}
    assert statuses == {401}
