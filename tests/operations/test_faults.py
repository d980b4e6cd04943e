"""Faults and abuse: a PostgreSQL restart mid-burst, and hostile input on the partner listener.

Everything runs against 127.0.0.1; each case is bounded in time.
"""

from __future__ import annotations

import json
import resource
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from gateway.exchange.outgoing import submit_draft
from gateway.node import Node
from tests.support.databases import DatabaseFactory, require_postgres
from tests.support.exchange import (
    BATCH_PATH,
    JOSE,
    RECORDS_PATH,
    example_draft,
    mtls_context,
    party_certificate,
    signed_record,
    start_node,
    stop_node,
)
from tests.support.nodes import RunningNode, copies_received, delivery_statuses, wait_for
from tests.support.pki import TestPKI

PROBLEM_JSON = "application/problem+json"
T = TypeVar("T")
PROBLEMS = "https://mou-gateway.example/problems/"
PG_BIN = Path("/usr/lib/postgresql")


def postgres_version() -> str:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    assert versions, "no PostgreSQL cluster under /etc/postgresql"
    return versions[-1]


def postgres_ready() -> bool:
    ready = subprocess.run(
        [str(PG_BIN / postgres_version() / "bin" / "pg_isready"), "-h", "127.0.0.1", "-p", "5432", "-t", "2"],
        capture_output=True,
        timeout=10,
    )
    return ready.returncode == 0


def restart_postgres() -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", postgres_version(), "main", "restart"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def ensure_postgres_running() -> None:
    """Start the cluster if a failed restart left it down; wait until it accepts connections."""
    deadline = time.monotonic() + 45
    while not postgres_ready():
        if time.monotonic() > deadline:
            raise AssertionError("PostgreSQL did not come back within 45 s")
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", postgres_version(), "main", "start"],
            capture_output=True,
            timeout=60,
        )
        time.sleep(0.5)


def tolerant(read: Callable[[], T]) -> T | None:
    """Return ``read()``, or None while the database is unreachable."""
    try:
        return read()
    except OperationalError:
        return None


# -- PostgreSQL restarted during a delivery burst ----------------------------

BURST = 150


@pytest.fixture
def postgres_factory(
    database_factories: dict[str, DatabaseFactory], tmp_path_factory: pytest.TempPathFactory
) -> DatabaseFactory:
    require_postgres()
    if "postgres" not in database_factories:
        database_factories["postgres"] = DatabaseFactory("postgres", tmp_path_factory.mktemp("db-postgres"))
    return database_factories["postgres"]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_postgres_restart_mid_burst_loses_nothing(
    pki: TestPKI, postgres_factory: DatabaseFactory, tmp_path: Path
) -> None:
    receiver = start_node(pki, "CO", postgres_factory.fresh_url(), tmp_path / "receiver")
    sender: RunningNode | None = None
    try:
        sender = start_node(
            pki,
            "PA",
            postgres_factory.fresh_url(),
            tmp_path / "sender",
            partners={"CO": receiver.partner_url},
            run_worker=True,
            delivery_batch=5,
            delivery_timeout_seconds=2.0,
            log_level="ERROR",
        )
        node: Node = sender.node
        draft = example_draft("criminal_network_flag", recipients=["CO"])
        draft.pop("terms")
        with node.transaction() as session:
            record_ids = {str(submit_draft(session, node, draft, actor="test").record.record_id) for _ in range(BURST)}
        wait_for(lambda: delivery_statuses(node).get("delivered", 0) >= 10, timeout=20, interval=0.01)
        try:
            restart_postgres()
            in_flight = tolerant(lambda: delivery_statuses(node))
            assert in_flight is None or in_flight.get("delivered", 0) < BURST, "the burst ended before the restart"
        finally:
            ensure_postgres_running()

        wait_for(lambda: tolerant(lambda: delivery_statuses(node)) == {"delivered": BURST}, timeout=60, interval=0.2)
        assert copies_received(receiver.node) == dict.fromkeys(record_ids, 1)
        # The worker is still running: a record queued now is delivered too.
        with node.transaction() as session:
            late = str(submit_draft(session, node, draft, actor="test").record.record_id)
        wait_for(lambda: copies_received(receiver.node).get(late) == 1, timeout=20, interval=0.1)
    finally:
        ensure_postgres_running()
        if sender is not None:
            stop_node(sender)
        stop_node(receiver)


# -- hostile input on the partner listener -------------------------------------


@pytest.fixture(scope="module")
def co(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """CO on SQLite, default limits (1 MiB per record, 500 records per batch)."""
    workdir = tmp_path_factory.mktemp("abuse")
    factory = DatabaseFactory("sqlite", workdir)
    running = start_node(pki, "CO", factory.fresh_url(), workdir, rate_limit_partner_per_minute=0)
    yield running
    stop_node(running)


@pytest.fixture
def pa_context(pki: TestPKI, tmp_path: Path) -> ssl.SSLContext:
    return mtls_context(pki, party_certificate(pki, "PA"), "CO", tmp_path)


@pytest.fixture
def client(co: RunningNode, pa_context: ssl.SSLContext) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=co.partner_url, verify=pa_context, timeout=20) as http:
        yield http


def assert_problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == PROBLEMS + slug


def test_deeply_nested_batch_is_a_clean_400(client: httpx.Client) -> None:
    body = b'{"records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post(BATCH_PATH, content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "malformed-batch")


def test_invalid_utf8_single_record_is_a_clean_422(client: httpx.Client) -> None:
    response = client.post(
        RECORDS_PATH, content=b"eyJhbGciOiJFUzI1NiJ9.\xff\xfe\xfd.c2ln", headers={"Content-Type": JOSE}
    )
    assert_problem(response, 422, "malformed-jws")


def test_invalid_utf8_in_batch_is_a_clean_400(client: httpx.Client) -> None:
    body = b'{"records": ["\xff\xfe\xfd"]}'
    response = client.post(BATCH_PATH, content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "malformed-batch")


@pytest.mark.parametrize(
    ("real_records", "slug"),
    [
        pytest.param(True, "payload-too-large", id="signed-records-past-the-byte-limit"),
        pytest.param(False, "batch-too-large", id="short-items-past-the-record-count"),
    ],
)
def test_ten_thousand_records_in_one_batch_is_413_without_memory_blowup(
    pki: TestPKI, client: httpx.Client, real_records: bool, slug: str
) -> None:
    jws = signed_record(pki, "PA", example_draft("criminal_network_flag", recipients=["CO"])).jws
    body = json.dumps({"records": [jws if real_records else "a.b.c"] * 10_000}).encode()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.monotonic()
    response = client.post(BATCH_PATH, content=body, headers={"Content-Type": "application/json"})
    elapsed = time.monotonic() - started
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert_problem(response, 413, slug)
    assert elapsed < 10, f"took {elapsed:.1f}s"
    # The server runs in this process, so its peak memory is in our rusage; a
    # loose bound that still catches a copy per record or an unbounded read.
    assert grown_mib < 300, f"peak RSS grew by {grown_mib:.0f} MiB for a {len(body) >> 20} MiB body"


def test_chunked_body_past_the_limit_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):  # 40 x 64 KiB = 2.5 MiB, past the 1 MiB record limit
            yield b"A" * 65536

    try:
        response = client.post(RECORDS_PATH, content=chunks(), headers={"Content-Type": JOSE})
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        pytest.fail(f"the server dropped the connection instead of answering 413: {exc!r}")
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")


def test_slowloris_connections_do_not_block_other_clients(
    pki: TestPKI, co: RunningNode, pa_context: ssl.SSLContext, client: httpx.Client
) -> None:
    port = int(co.partner_url.rsplit(":", 1)[1])

    def slow_connection() -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        tls = pa_context.wrap_socket(raw, server_hostname="127.0.0.1")
        tls.sendall(b"POST /v1/exchange/records HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        return tls

    with ThreadPoolExecutor(20) as pool:
        slow = list(pool.map(lambda _: slow_connection(), range(20)))
    try:
        for sock in slow:  # one more header byte each, as a slowloris client would
            sock.sendall(b"X")
        jws = signed_record(pki, "PA", example_draft("criminal_network_flag", recipients=["CO"])).jws
        started = time.monotonic()
        response = client.post(RECORDS_PATH, content=jws.encode(), headers={"Content-Type": JOSE})
        elapsed = time.monotonic() - started
        assert response.status_code == 201, response.text
        assert elapsed < 5, f"a normal request took {elapsed:.1f}s beside 20 slow connections"
    finally:
        for sock in slow:
            sock.close()
