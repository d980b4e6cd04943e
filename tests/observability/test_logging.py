"""Structured logs: JSON lines, correlation ids per request and per delivery, nothing secret."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_agency_app
from gateway.observability.logging import RedactingFilter, configure_logging, log_handler
from gateway.observability.redaction import redact
from tests.observability.conftest import BuildNode, CapturedLogs, logging_restored
from tests.support.databases import DatabaseFactory
from tests.support.exchange import access_token, example_draft, signed_record
from tests.support.nodes import Cluster, start_cluster, wait_for
from tests.support.pki import TestPKI

pytestmark = pytest.mark.anyio

JWS_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}")
PEM_SHAPE = re.compile(r"-----BEGIN [A-Z ]+-----")
log = logging.getLogger("gateway.test")


@pytest.fixture
def cluster(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Cluster]:
    urls = {p: database_factory.fresh_url() for p in ("PA", "CO", "US")}
    running = start_cluster(pki, urls, tmp_path, run_ledger_scheduler=False, terms_check_seconds=0)
    yield running
    running.stop()


async def test_request_lines_are_json_with_the_answered_correlation_id(
    json_logs: CapturedLogs, build_test_node: BuildNode
) -> None:
    app = create_agency_app(build_test_node())

    @app.get("/test/log-inside-route")
    def log_inside_route() -> dict[str, str]:
        # A sync route runs in a worker thread: the id must still reach it.
        log.info("inside the route")
        return {"ok": "yes"}

    supplied = uuid.uuid4().hex
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pa.test") as client:
        answered = await client.get("/test/log-inside-route", headers={"X-Correlation-ID": supplied})
        unsupplied = await client.get("/v1/records")  # no token: 401, a fresh id

    assert answered.headers["X-Correlation-ID"] == supplied
    entries = json_logs.entries()
    inside = [e for e in entries if e["message"] == "inside the route"]
    assert len(inside) == 1
    assert inside[0]["correlation_id"] == supplied
    assert set(inside[0]) >= {"time", "level", "logger", "message", "correlation_id"}
    assert inside[0]["level"] == "INFO"
    assert inside[0]["logger"] == "gateway.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", inside[0]["time"])

    access = [e for e in entries if e["logger"] == "gateway.access"]
    assert [(e["path"], e["status"], e["correlation_id"]) for e in access] == [
        ("/test/log-inside-route", 200, supplied),
        ("/v1/records", 401, unsupplied.headers["X-Correlation-ID"]),
    ]
    assert access[0]["listener"] == "agency"
    assert isinstance(access[0]["duration_ms"], float)


def test_a_delivery_carries_one_correlation_id_across_both_nodes_and_no_record(
    json_logs: CapturedLogs, cluster: Cluster
) -> None:
    pa = cluster["PA"]
    client_id, secret = pa.add_client()
    headers = {"Authorization": f"Bearer {access_token(pa.agency_url, client_id, secret)}"}
    response = httpx.post(
        f"{pa.agency_url}/v1/records", json=example_draft("removal_manifest"), headers=headers, timeout=30
    )
    assert response.status_code == 202, response.text
    record_id = response.json()["record_id"]

    def delivery_lines() -> list[dict[str, object]]:
        return [e for e in json_logs.entries() if e.get("record_id") == record_id and e["outcome"] == "delivered"]

    wait_for(lambda: len(delivery_lines()) == 2)
    for line in delivery_lines():
        correlation = line["correlation_id"]
        assert isinstance(correlation, str)
        assert len(correlation) == 32
        # The partner's access line for the POST that delivered it carries the same id.
        received = [
            e for e in json_logs.entries() if e["logger"] == "gateway.access" and e["correlation_id"] == correlation
        ]
        assert [(e["listener"], e["path"], e["status"]) for e in received] == [("partner", "/v1/exchange/records", 201)]
    assert len({line["correlation_id"] for line in delivery_lines()}) == 2  # one id per delivery

    # The whole exchange (token, signing, delivery, receipts) leaves no JWS, PEM or body in the logs.
    assert not JWS_SHAPE.search(json_logs.text)
    assert not PEM_SHAPE.search(json_logs.text)
    assert "IST4501" not in json_logs.text  # the example flight number, from the record body


def test_secrets_in_messages_extras_and_tracebacks_are_redacted(json_logs: CapturedLogs, pki: TestPKI) -> None:
    jws = signed_record(pki, "PA", example_draft("criminal_network_flag")).jws
    pem = pki.parties["PA"].signing_key.read_text()
    log.warning("partner answered %s", jws, extra={"body": {"subject": "x"}, "peer": pem, "attempt": 2})
    try:
        raise ValueError(f"cannot parse {pem}")
    except ValueError:
        log.exception("failed on %s", "Authorization: Bearer abcdefghijklmnop")

    first, second = json_logs.entries()
    assert first["message"] == "partner answered [REDACTED JWS]"
    assert first["body"] == "<dict omitted>"
    assert first["peer"] == "[REDACTED PEM]\n"
    assert first["attempt"] == 2
    assert second["message"] == "failed on Authorization: Bearer [REDACTED]"
    assert "ValueError: cannot parse [REDACTED PEM]" in second["exception"]
    assert jws not in json_logs.text
    assert "PRIVATE KEY" not in json_logs.text


def test_text_format_is_redacted_too(pki: TestPKI) -> None:
    stream = io.StringIO()
    handler = log_handler("text", stream)
    logger = logging.getLogger("gateway.test.text")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("got %s", signed_record(pki, "PA", example_draft("acknowledgement")).jws)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert stream.getvalue().rstrip().endswith("ERROR gateway.test.text [None] got [REDACTED JWS]")


def test_configure_logging_replaces_the_root_handlers() -> None:
    with logging_restored():
        handler = configure_logging("WARNING", "json", io.StringIO())
        root = logging.getLogger()
        assert root.handlers == [handler]
        assert root.level == logging.WARNING
        assert logging.getLogger("httpx").level == logging.WARNING
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a truncated fake, spelled in two parts so no file here looks like it holds a key
        ("-----BEGIN " + "PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END " + "PRIVATE KEY-----", "[REDACTED PEM]"),
        ("cut: -----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpegPj", "cut: [REDACTED PEM]"),
        ("eyJhbGciOiJFUzI1NiIsInR5cCI6Im1vdS1yZWNvcmQrandzIn0.eyJib2R5Ijp7fX0.c2ln", "[REDACTED JWS]"),
        ("detached eyJhbGciOiJFUzI1NiJ9..c2lnbmF0dXJl", "detached [REDACTED JWS]"),
        ("x5c MII" + "A" * 80 + "==", "x5c [REDACTED DER]"),
        ("Basic dXNlcjpwYXNzd29yZA==", "Basic [REDACTED]"),
        (
            "grant_type=client_credentials&client_secret=s3cr3t-value",
            "grant_type=client_credentials&client_secret=[REDACTED]",
        ),
        (
            "postgresql+psycopg://gateway:hunter2@db:5432/gateway",
            "postgresql+psycopg://gateway:[REDACTED]@db:5432/gateway",
        ),
        # What operators need stays: ids, digests, URLs without credentials.
        (
            "record 0193f5a2-7c1e-7b3a-9d4e-1f2a3b4c5d6e sha256 " + "ab" * 32,
            "record 0193f5a2-7c1e-7b3a-9d4e-1f2a3b4c5d6e sha256 " + "ab" * 32,
        ),
        ("https://127.0.0.1:8443/v1/exchange/records", "https://127.0.0.1:8443/v1/exchange/records"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_json_lines_survive_non_ascii_and_newlines(json_logs: CapturedLogs) -> None:
    log.info("Migración\nsegunda línea")
    (entry,) = json_logs.entries()
    assert entry["message"] == "Migración\nsegunda línea"
    assert json.loads(json_logs.text.strip()) == entry  # one line, not two
