"""A delivery worker whose database goes away for a while: one ERROR, one INFO, nothing lost.

PostgreSQL: the worker reaches the shared server through a relay the test cuts
(the server itself cannot be stopped under other tests). SQLite: the directory
holding the database file is moved away and back.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from gateway.app import readiness
from gateway.exchange.outgoing import submit_draft
from gateway.exchange.worker import DeliveryWorker
from gateway.node import Node, build_node
from tests.support.databases import DatabaseFactory
from tests.support.exchange import example_draft, start_node, stop_node
from tests.support.nodes import copies_received, delivery_statuses, node_settings, wait_for
from tests.support.pki import TestPKI
from tests.support.proxy import CuttableProxy

OUTAGE_SECONDS = 6.0


class Captured(logging.Handler):
    """Every record of the ``gateway`` loggers, whatever their propagation."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int = logging.INFO) -> list[str]:
        # A traceback counts with every line it prints.
        return [line for r in self.records if r.levelno >= level for line in self.format(r).splitlines()]


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured()
    logger = logging.getLogger("gateway")
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def queue_flags(node: Node, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        draft = example_draft("criminal_network_flag", recipients=["CO"])
        draft.pop("terms")
        with node.transaction() as session:
            record_id = submit_draft(session, node, draft, actor="test").record.record_id
        assert record_id is not None
        ids.append(record_id)
    node.wake_delivery()
    return ids


@pytest.mark.timeout(120)
def test_worker_survives_a_database_outage(
    backend: str, database_factory: DatabaseFactory, pki: TestPKI, tmp_path: Path, captured: Captured
) -> None:
    co = start_node(pki, "CO", database_factory.fresh_url(), tmp_path / "co")
    url = database_factory.fresh_url()
    proxy: CuttableProxy | None = None
    if backend == "postgres":
        parsed = make_url(url)
        proxy = CuttableProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        url = parsed.set(port=proxy.port).render_as_string(hide_password=False)
    else:
        # A directory of its own, so moving it away takes no other test's database with it.
        own = tmp_path / "pa-db" / "gateway.sqlite3"
        own.parent.mkdir()
        shutil.move(make_url(url).database or "", own)
        url = f"sqlite:///{own}"
    node = build_node(node_settings(pki, "PA", url, tmp_path / "pa", {"CO": co.partner_url}))
    node.jobs.job("delivery worker", cap_seconds=1.0)  # a short cap: the test waits for recovery
    database_dir = Path(make_url(url).database or "").parent
    worker = DeliveryWorker(node, name="PA-outage")
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    try:
        before = queue_flags(node, 3)
        # The database goes away before the worker's first round.
        if proxy is not None:
            proxy.cut()
        else:
            shutil.move(database_dir, f"{database_dir}.away")
        node.engine.dispose()  # pooled connections go; new ones must reach the server
        thread.start()
        time.sleep(OUTAGE_SECONDS)

        during = captured.lines()
        errors = [r for r in captured.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, during
        assert errors[0].name == "gateway.jobs"
        assert errors[0].exc_info is None  # no traceback for a database that is away
        message = errors[0].getMessage()
        assert message.startswith("delivery worker: Database unavailable: "), message
        if backend == "postgres":
            assert f"cannot reach the database server at 127.0.0.1:{proxy.port if proxy else 0}" in message
        else:
            assert "cannot open the SQLite database file" in message
        # Bounded: the started line and the one ERROR, not a traceback per poll.
        assert len(during) <= 3, during
        state = node.jobs.snapshot()["delivery worker"]
        assert state["state"] == "failing"
        assert state["failures"] >= 3  # it kept trying, with backoff capped at 1 s
        assert state["last_error"].startswith("Database unavailable: ")
        checks = readiness(node)
        assert checks["database"].startswith("error: ")
        assert checks["jobs"]["delivery worker"]["state"] == "failing"

        if proxy is not None:
            proxy.restore()
        else:
            shutil.move(f"{database_dir}.away", database_dir)
        wait_for(lambda: node.jobs.snapshot()["delivery worker"]["state"] == "ok", timeout=15)
        after = queue_flags(node, 2)
        wait_for(lambda: delivery_statuses(node) == {"delivered": 5}, timeout=30)

        received = copies_received(co.node)
        assert {record_id: received.get(record_id) for record_id in before + after} == dict.fromkeys(before + after, 1)
        infos = [r.getMessage() for r in captured.records if r.name == "gateway.jobs" and r.levelno == logging.INFO]
        assert len(infos) == 1
        assert infos[0].startswith("delivery worker: working again after ")
        assert [r for r in captured.records if r.levelno >= logging.ERROR] == errors
        assert readiness(node)["jobs"]["delivery worker"]["state"] == "ok"
    finally:
        worker.stop()
        if thread.is_alive():
            thread.join(30)
        if proxy is not None:
            proxy.close()
        node.close()
        stop_node(co)
