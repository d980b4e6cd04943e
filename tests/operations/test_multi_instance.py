"""Two ``gateway serve`` and two ``gateway worker`` processes on one PostgreSQL database.

Records submitted through both agency listeners are delivered exactly once
(the workers share the queue through leases and ``FOR UPDATE SKIP LOCKED``),
each with a verified receipt, and the sender's ledger still verifies.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.clients.service import create_client
from gateway.exchange.models import Delivery
from gateway.exchange.receipts import verify_receipt
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.node import build_node
from gateway.records.models import StoredRecord
from tests.operations.processes import GatewayProcess, gateway_command
from tests.support.databases import DatabaseFactory, require_postgres
from tests.support.exchange import access_token, example_draft, sha256_hex, start_node, stop_node, write_settings_toml
from tests.support.nodes import RunningNode, copies_received, delivery_statuses, node_settings, wait_for
from tests.support.pki import TestPKI

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(90)]

RECORDS = 100


@pytest.fixture
def postgres_factory(
    database_factories: dict[str, DatabaseFactory], tmp_path_factory: pytest.TempPathFactory
) -> DatabaseFactory:
    require_postgres()
    if "postgres" not in database_factories:
        database_factories["postgres"] = DatabaseFactory("postgres", tmp_path_factory.mktemp("db-postgres"))
    return database_factories["postgres"]


@pytest.fixture
def receiver(pki: TestPKI, postgres_factory: DatabaseFactory, tmp_path: Path) -> Iterator[RunningNode]:
    running = start_node(pki, "CO", postgres_factory.fresh_url(), tmp_path / "receiver")
    yield running
    stop_node(running)


def flag() -> dict[str, Any]:
    draft = example_draft("criminal_network_flag", recipients=["CO"])
    draft.pop("terms")  # the node fills in the terms in force
    return draft


def submit_all(agency_url: str, token: str, count: int) -> list[str]:
    with httpx.Client(base_url=agency_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        ids = []
        for _ in range(count):
            response = api.post("/v1/records", json=flag())
            assert response.status_code == 202, response.text
            ids.append(str(response.json()["record_id"]))
        return ids


def count_arrivals(receiver: RunningNode, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count every record POST the receiver answers, replays included, by SHA-256 of the bytes."""
    arrivals: Counter[str] = Counter()
    telemetry = receiver.node.telemetry
    received = telemetry.received

    def counting(node: Any, jws: str | bytes, verdict: str, *, replayed: bool, record_type: str | None) -> None:
        arrivals[sha256_hex(jws.strip())] += 1
        received(node, jws, verdict, replayed=replayed, record_type=record_type)

    monkeypatch.setattr(telemetry, "received", counting)
    return arrivals


def test_two_servers_two_workers_deliver_each_record_once(
    pki: TestPKI,
    postgres_factory: DatabaseFactory,
    receiver: RunningNode,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arrivals = count_arrivals(receiver, monkeypatch)
    settings = node_settings(
        pki,
        "PA",
        postgres_factory.fresh_url(),
        tmp_path / "pa",
        {"CO": receiver.partner_url},
        run_worker=False,
        delivery_batch=5,
        checkpoint_every_seconds=1.0,
        log_level="WARNING",
        rate_limit_client_per_minute=0,
        rate_limit_partner_per_minute=0,
    )
    config = write_settings_toml(tmp_path / "pa.toml", settings)
    sender = build_node(settings)
    with sender.transaction() as session:
        client_id, secret = create_client(session, "ops test", ["records:write", "records:read"], sender.now())

    processes: list[GatewayProcess] = []
    try:
        servers = [
            GatewayProcess(["serve", "--no-worker", "--no-migrate"], config, tmp_path / f"serve-{i}.log")
            for i in range(2)
        ]
        processes += servers
        urls = [server.agency_url() for server in servers]
        assert len(set(urls)) == 2
        processes += [
            GatewayProcess(["worker", "--threads", "2"], config, tmp_path / f"worker-{i}.log") for i in range(2)
        ]
        tokens = [access_token(url, client_id, secret) for url in urls]
        with ThreadPoolExecutor(4) as pool:
            halves = [pool.submit(submit_all, urls[i % 2], tokens[i % 2], RECORDS // 4) for i in range(4)]
            record_ids = {rid for half in halves for rid in half.result()}
        assert len(record_ids) == RECORDS

        def all_delivered() -> bool:
            assert all(p.alive() for p in processes), "\n".join(p.output() for p in processes)
            return delivery_statuses(sender) == {"delivered": RECORDS}

        wait_for(all_delivered, timeout=45, interval=0.2)
        for process in processes:
            process.stop()

        assert copies_received(receiver.node) == dict.fromkeys(record_ids, 1)
        with sender.transaction() as session:
            rows = [
                (record.record_id, receipt_jws, record.jws, attempts)  # the body opened from its sealed form
                for receipt_jws, attempts, record in session.execute(
                    select(Delivery.receipt_jws, Delivery.attempts, StoredRecord).join(
                        StoredRecord, StoredRecord.pk == Delivery.record_pk
                    )
                ).all()
            ]
        assert {str(row[0]) for row in rows} == record_ids
        # No two workers ever claimed the same row: every attempt beyond the
        # first follows a failure the worker recorded (a partner answer that
        # timed out on a loaded machine is retried, and answered from the
        # receiver's stored receipt, which copies_received checked above).
        with sender.transaction() as session:
            failures = Counter(
                session.scalars(
                    select(LedgerEntry.subject).where(LedgerEntry.event == AuditEvent.DELIVERY_FAILED.value)
                ).all()
            )
        worker_logs = "\n".join(p.output() for p in processes[2:])
        assert {str(row[0]): row[3] for row in rows} == {rid: 1 + failures[rid] for rid in record_ids}, worker_logs
        # ... and the receiver was sent each record at most once per attempt
        # (two workers holding the same row would both POST it).
        assert all(arrivals[sha256_hex(row[2])] in range(1, row[3] + 1) for row in rows), worker_logs
        now = datetime.now(UTC)
        for _record_id, receipt_jws, jws, _attempts in rows:
            assert receipt_jws is not None
            receipt = verify_receipt(receipt_jws, sender.bundle, now, receiver="CO", jws_sha256=sha256_hex(jws))
            assert receipt.payload.verdict.value == "accepted"

        audit = subprocess.run(
            [gateway_command(), "audit", "verify", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr
        verified = re.search(r"ledger verified: (\d+) entries", audit.stdout)
        assert verified, audit.stdout
        assert int(verified.group(1)) >= RECORDS  # at least one ledger event per record
    finally:
        for process in processes:
            process.stop()
        sender.close()
