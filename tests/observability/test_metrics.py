"""``/metrics`` on the agency listener: named metrics, counted traffic, per-node registries."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import prometheus_client
import pytest

from gateway.db import make_engine, make_sessionmaker
from gateway.observability.metrics import metrics_of, render_metrics, unsafe_record_type
from tests.observability.conftest import BuildNode, sample
from tests.support.databases import DatabaseFactory
from tests.support.exchange import (
    access_token,
    example_draft,
    partner_client,
    party_certificate,
    post_jws,
    signed_record,
    start_node,
    stop_node,
)
from tests.support.nodes import OPERATIONS_HEADERS, Cluster, start_cluster, wait_for
from tests.support.pki import TestPKI

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
NAMED_METRICS = (  # (name on the TYPE line, type)
    ("mou_gateway_records_in_total", "counter"),
    ("mou_gateway_records_signed_total", "counter"),
    ("mou_gateway_records_out_total", "counter"),
    ("mou_gateway_delivery_attempts_total", "counter"),
    ("mou_gateway_dead_letters_total", "counter"),
    ("mou_gateway_receipt_latency_seconds", "histogram"),
    ("mou_gateway_ledger_tree_size", "gauge"),
    ("mou_gateway_ledger_checkpoint_tree_size", "gauge"),
    ("mou_gateway_witness_state", "gauge"),
    ("mou_gateway_witness_alarm", "gauge"),
    ("mou_gateway_certificate_expiry_days", "gauge"),
    ("mou_gateway_deliveries", "gauge"),
    ("mou_gateway_database_up", "gauge"),
    ("mou_gateway_http_requests_total", "counter"),
    ("mou_gateway_http_request_duration_seconds", "histogram"),
    ("mou_gateway_rate_limited_total", "counter"),
)


@pytest.fixture
def cluster(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Cluster]:
    urls = {p: database_factory.fresh_url() for p in ("PA", "CO", "US")}
    running = start_cluster(pki, urls, tmp_path, run_ledger_scheduler=False, terms_check_seconds=0)
    yield running
    running.stop()


async def test_metrics_endpoint_exposes_every_named_metric(agency: httpx.AsyncClient) -> None:
    response = await agency.get("/metrics", headers=OPERATIONS_HEADERS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name, kind in NAMED_METRICS:
        assert f"# TYPE {name} {kind}\n" in response.text, name
    # Known label sets exist at zero before any traffic, so alerts and rate() see them.
    assert (
        sample(response.text, "mou_gateway_records_in_total", record_type="removal_manifest", verdict="accepted") == 0.0
    )
    assert sample(response.text, "mou_gateway_dead_letters_total", partner="CO") == 0.0
    assert sample(response.text, "mou_gateway_database_up") == 1.0
    assert sample(response.text, "mou_gateway_deliveries", partner="US", status="dead") == 0.0


async def test_certificate_days_to_expiry_match_the_certificates(agency: httpx.AsyncClient, pki: TestPKI) -> None:
    text = (await agency.get("/metrics", headers=OPERATIONS_HEADERS)).text
    signing = pki.signing_key("PA").certificate.not_valid_after_utc
    expected = (signing - datetime.now(UTC)).total_seconds() / 86400
    assert sample(text, "mou_gateway_certificate_expiry_days", certificate="signing") == pytest.approx(
        expected, abs=0.01
    )
    assert sample(text, "mou_gateway_certificate_expiry_days", certificate="tls") is not None
    assert sample(text, "mou_gateway_certificate_not_after_timestamp_seconds", certificate="signing") == (
        signing.timestamp()
    )


def test_a_delivered_record_is_counted_on_both_nodes(cluster: Cluster) -> None:
    pa, co = cluster["PA"], cluster["CO"]
    client_id, secret = pa.add_client()
    headers = {"Authorization": f"Bearer {access_token(pa.agency_url, client_id, secret)}"}
    draft = json.loads((EXAMPLES / "removal_manifest.json").read_text())
    response = httpx.post(f"{pa.agency_url}/v1/records", json=draft, headers=headers, timeout=30)
    assert response.status_code == 202, response.text

    def pa_metrics() -> str:
        return httpx.get(f"{pa.agency_url}/metrics", headers=OPERATIONS_HEADERS, timeout=30).text

    wait_for(
        lambda: (
            sample(
                pa_metrics(),
                "mou_gateway_records_out_total",
                record_type="removal_manifest",
                partner="US",
                verdict="accepted",
            )
            == 1.0
        )
    )
    wait_for(
        lambda: (
            sample(
                pa_metrics(),
                "mou_gateway_records_out_total",
                record_type="removal_manifest",
                partner="CO",
                verdict="accepted",
            )
            == 1.0
        )
    )
    sent = pa_metrics()
    assert sample(sent, "mou_gateway_records_signed_total", record_type="removal_manifest") == 1.0
    assert sample(sent, "mou_gateway_delivery_attempts_total", partner="CO", outcome="delivered") == 1.0
    assert sample(sent, "mou_gateway_receipt_latency_seconds_count", partner="CO") == 1.0
    assert sample(sent, "mou_gateway_deliveries", partner="CO", status="pending") == 0.0
    assert (sample(sent, "mou_gateway_ledger_tree_size") or 0) >= 3  # created, sent to CO, sent to US
    assert (
        sample(
            sent, "mou_gateway_http_requests_total", listener="agency", method="POST", route="/v1/records", status="202"
        )
    ) == 1.0

    received = httpx.get(f"{co.agency_url}/metrics", headers=OPERATIONS_HEADERS, timeout=30).text
    assert sample(received, "mou_gateway_records_in_total", record_type="removal_manifest", verdict="accepted") == 1.0
    assert sample(received, "mou_gateway_records_in_total", record_type="removal_manifest", verdict="rejected") == 0.0
    assert (
        sample(
            received,
            "mou_gateway_http_requests_total",
            listener="partner",
            method="POST",
            route="/v1/exchange/records",
            status="201",
        )
        == 1.0
    )


def test_rejected_and_replayed_records_are_counted_once_by_verdict(
    pki: TestPKI, database_url: str, tmp_path: Path
) -> None:
    co = start_node(pki, "CO", database_url, tmp_path)
    try:
        # Signed by US but sent over PA's TLS identity: rejected (peer mismatch), with a receipt.
        record = signed_record(pki, "US", example_draft("criminal_network_flag"))
        with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
            first = post_jws(client, record.jws)
            again = post_jws(client, record.jws)
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.headers["X-Receipt-Verdict"] == "rejected"
        text = render_metrics(co.node).decode()
        assert (
            sample(text, "mou_gateway_records_in_total", record_type="criminal_network_flag", verdict="rejected") == 1.0
        )
        assert (
            sample(text, "mou_gateway_records_in_total", record_type="criminal_network_flag", verdict="accepted") == 0.0
        )
    finally:
        stop_node(co)


def test_each_node_has_its_own_registry_and_the_global_one_stays_empty(build_test_node: BuildNode) -> None:
    pa, co = build_test_node("PA"), build_test_node("CO")
    assert metrics_of(pa) is metrics_of(pa)
    assert metrics_of(pa).registry is not metrics_of(co).registry
    metrics_of(pa).records_signed.labels("removal_manifest").inc()
    assert sample(render_metrics(pa).decode(), "mou_gateway_records_signed_total", record_type="removal_manifest") == 1
    assert sample(render_metrics(co).decode(), "mou_gateway_records_signed_total", record_type="removal_manifest") == 0
    assert "mou_gateway" not in prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()


def test_an_unreadable_database_reports_database_down_not_an_error(build_test_node: BuildNode, tmp_path: Path) -> None:
    node = build_test_node()
    missing = tmp_path / "missing-dir"
    missing.mkdir()
    broken = make_engine(f"sqlite:///{missing / 'gateway.sqlite3'}")
    shutil.rmtree(missing)  # gone after the engine was made (make_engine refuses a missing directory)
    offline = dataclasses.replace(node, engine=broken, sessions=make_sessionmaker(broken))
    try:
        text = render_metrics(offline).decode()
    finally:
        broken.dispose()
    assert sample(text, "mou_gateway_database_up") == 0.0
    assert sample(text, "mou_gateway_ledger_tree_size") is None  # unknown, not reported as 0
    assert sample(text, "mou_gateway_certificate_expiry_days", certificate="signing") is not None


@pytest.mark.parametrize(
    ("jws", "expected"),
    [
        ("", "unknown"),
        ("not a jws", "unknown"),
        ("eyJhbGciOiJFUzI1NiJ9.eyJyZWNvcmRfdHlwZSI6ImV2aWxfbGFiZWwifQ.sig", "unknown"),  # {"record_type":"evil_label"}
        ("eyJhbGciOiJFUzI1NiJ9.eyJyZWNvcmRfdHlwZSI6InJlbW92YWxfbWFuaWZlc3QifQ.sig", "removal_manifest"),
        ("eyJhbGciOiJFUzI1NiJ9." + "W1tb" * 1000 + ".sig", "unknown"),  # 3,000 nested '['s
    ],
)
def test_record_type_labels_come_only_from_the_known_types(jws: str, expected: str) -> None:
    assert unsafe_record_type(jws) == expected


async def test_request_labels_are_route_templates_and_known_methods(agency: httpx.AsyncClient) -> None:
    await agency.request("BREW", "/healthz")
    await agency.get("/v1/records/0193f5a2-7c1e-7b3a-9d4e-1f2a3b4c5d6e")  # 401, no token
    await agency.get("/no/such/page")
    text = (await agency.get("/metrics", headers=OPERATIONS_HEADERS)).text
    assert (
        sample(
            text, "mou_gateway_http_requests_total", listener="agency", method="other", route="/healthz", status="405"
        )
        == 1.0
    )
    assert (
        sample(
            text,
            "mou_gateway_http_requests_total",
            listener="agency",
            method="GET",
            route="/v1/records/{record_id}",
            status="401",
        )
        == 1.0
    )
    assert (
        sample(
            text, "mou_gateway_http_requests_total", listener="agency", method="GET", route="unmatched", status="404"
        )
        == 1.0
    )
    assert "BREW" not in text
    assert "0193f5a2" not in text
