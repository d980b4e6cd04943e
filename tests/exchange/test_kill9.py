"""kill -9 of the delivery worker at random moments loses nothing and duplicates nothing.

The worker runs as the real ``gateway worker`` process against an in-process
receiver; the test queues records at the sender, kills the worker with SIGKILL
right after it makes progress (so mid-batch: claimed, sent or being settled),
restarts it, and finally lets it finish.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.exchange.outgoing import submit_draft
from gateway.exchange.receipts import verify_receipt
from gateway.node import Node, build_node
from gateway.records.models import Delivery, StoredRecord
from tests.support.databases import DatabaseFactory
from tests.support.exchange import example_draft, sha256_hex, start_node, stop_node, write_settings_toml
from tests.support.nodes import RunningNode, copies_received, delivery_statuses, node_settings
from tests.support.pki import TestPKI

pytestmark = pytest.mark.slow

RECORDS = 60
KILLS = 5
LEASE_SECONDS = 2 * 1.0 + 5  # 2 * delivery_timeout_seconds + 5, see DeliveryWorker.claim


def gateway_command() -> str:
    beside = Path(sys.executable).parent / "gateway"
    found = str(beside) if beside.exists() else shutil.which("gateway")
    assert found, "the gateway console script is not installed"
    return found


def delivered(node: Node) -> int:
    with node.transaction() as session:
        return int(
            session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")) or 0
        )


class WorkerProcess:
    """``gateway worker --config FILE`` as a child process with its output in files."""

    def __init__(self, config: Path, logs: Path) -> None:
        self.config, self.logs, self.runs = config, logs, 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.runs += 1
        with (self.logs / f"worker-{self.runs}.log").open("wb") as log:
            self.process = subprocess.Popen(
                [gateway_command(), "worker", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no cleanup, no lease released
        assert self.process.wait(10) == -9
        self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return "".join(p.read_text("utf-8", "replace")[-2000:] for p in sorted(self.logs.glob("worker-*.log")))


@pytest.fixture
def receiver(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[RunningNode]:
    running = start_node(pki, "CO", database_factory.fresh_url(), tmp_path / "receiver")
    yield running
    stop_node(running)


def wait_until(condition: object, timeout: float, worker: WorkerProcess) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        if not worker.alive():
            raise AssertionError(f"the worker exited on its own:\n{worker.output()}")
        time.sleep(0.02)
    return False


def test_kill9_mid_delivery_loses_and_duplicates_nothing(
    pki: TestPKI, database_factory: DatabaseFactory, receiver: RunningNode, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    settings = node_settings(
        pki,
        "PA",
        database_factory.fresh_url(),
        tmp_path / "pa",
        {"CO": receiver.partner_url},
        delivery_timeout_seconds=1.0,
        delivery_batch=5,
        log_level="WARNING",
    )
    config = write_settings_toml(tmp_path / "pa-worker.toml", settings)
    sender = build_node(settings)
    worker = WorkerProcess(config, tmp_path)
    try:
        draft = example_draft("criminal_network_flag", recipients=["CO"])
        draft.pop("terms")
        with sender.transaction() as session:
            record_ids = {
                str(submit_draft(session, sender, draft, actor="test").record.record_id) for _ in range(RECORDS)
            }
        assert len(record_ids) == RECORDS

        kills_mid_stream = 0
        for _ in range(KILLS):
            before = delivered(sender)
            worker.start()
            progressed = wait_until(lambda b=before: delivered(sender) > b, 20, worker)
            time.sleep(rng.uniform(0.0, 0.15))
            worker.kill9()
            if progressed and delivered(sender) < RECORDS:
                kills_mid_stream += 1
        assert kills_mid_stream >= KILLS - 1, f"the worker finished too early to be killed (seed {seed})"

        worker.start()  # the last run outlives the abandoned leases and finishes
        finished = wait_until(lambda: delivered(sender) == RECORDS, LEASE_SECONDS + 25, worker)
        assert finished, f"{delivery_statuses(sender)} (seed {seed})\n{worker.output()}"
        worker.kill9()

        assert delivery_statuses(sender) == {"delivered": RECORDS}
        assert copies_received(receiver.node) == dict.fromkeys(record_ids, 1), f"seed {seed}"
        with sender.transaction() as session:
            rows = [
                (receipt_jws, record.jws)  # the body opened from its sealed form
                for receipt_jws, record in session.execute(
                    select(Delivery.receipt_jws, StoredRecord).join(StoredRecord, StoredRecord.pk == Delivery.record_pk)
                ).all()
            ]
        now = datetime.now(UTC)
        for receipt_jws, jws in rows:
            assert receipt_jws is not None
            receipt = verify_receipt(receipt_jws, sender.bundle, now, receiver="CO", jws_sha256=sha256_hex(jws))
            assert receipt.payload.verdict.value == "accepted"
    finally:
        if worker.alive():
            worker.kill9()
        sender.close()
