"""The delivery worker against real (and misbehaving) partners.

A delivery counts only with a verified receipt from its recipient; until then
it is retried with backoff, then marked dead at its deadline, and a dead
delivery comes back with ``retry_delivery`` or ``gateway deliveries retry``.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from gateway.cli import app as cli
from gateway.db import make_engine
from gateway.exchange.errors import DeliveryNotFoundError
from gateway.exchange.outgoing import submit_draft
from gateway.exchange.receipts import issue_receipt, verify_receipt
from gateway.exchange.worker import DeliveryWorker, retry_delivery
from gateway.lifecycle.corrections import retract
from gateway.node import Node, build_node
from gateway.records.models import Delivery
from gateway.records.schemas import Receipt, Verdict
from gateway.server import bind
from gateway.trust.keys import SigningKey
from tests.support.databases import DatabaseFactory
from tests.support.exchange import (
    FakePartner,
    closed_port_url,
    deliveries_of,
    example_draft,
    outgoing_jws,
    sha256_hex,
    start_node,
    stop_node,
    stored_copies,
    write_settings_toml,
)
from tests.support.nodes import RunningNode, node_settings, wait_for
from tests.support.pki import TestPKI


def queue(node: Node, recipients: list[str]) -> str:
    """Sign and queue a flag at ``node`` (as ``gateway send`` does); returns its record id."""
    draft = example_draft("criminal_network_flag", recipients=recipients)
    draft.pop("terms")
    with node.transaction() as session:
        record_id = submit_draft(session, node, draft, actor="test").record.record_id
    node.wake_delivery()
    assert record_id is not None
    return record_id


def delivery(node: Node, record_id: str, recipient: str = "CO") -> Delivery:
    return next(d for d in deliveries_of(node, record_id) if d.recipient == recipient)


class Nodes:
    """Starts PA and CO nodes on this module's two databases; stops them all at the end.

    Tests share the databases (each looks only at its own record ids); what a
    test leaves pending is parked as dead afterwards so no later worker sends it.
    """

    def __init__(self, pki: TestPKI, urls: dict[str, str], workdir: Path) -> None:
        self.pki, self.urls, self.workdir = pki, urls, workdir
        self.running: list[RunningNode] = []

    def start(self, party: str, **settings: Any) -> RunningNode:
        running = start_node(
            self.pki, party, self.urls[party], self.workdir / f"{party}-{len(self.running)}", **settings
        )
        self.running.append(running)
        return running

    def close(self) -> None:
        for running in reversed(self.running):
            stop_node(running)
        engine = make_engine(self.urls["PA"])
        with engine.begin() as connection:
            connection.execute(update(Delivery).where(Delivery.status == "pending").values(status="dead"))
        engine.dispose()


@pytest.fixture(scope="module")
def module_urls(module_database_factory: DatabaseFactory) -> dict[str, str]:
    return {party: module_database_factory.fresh_url() for party in ("PA", "CO")}


@pytest.fixture
def nodes(pki: TestPKI, module_urls: dict[str, str], tmp_path: Path) -> Iterator[Nodes]:
    started = Nodes(pki, module_urls, tmp_path)
    yield started
    started.close()


def refusing_socket() -> tuple[socket.socket, str]:
    """A bound socket that does not listen yet (connections are refused) and its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"https://127.0.0.1:{sock.getsockname()[1]}"


# -- partner down, then back ----------------------------------------------------------


@pytest.mark.parametrize("down", ["refusing", "unresponsive"])
def test_partner_down_is_retried_until_it_comes_back(down: str, nodes: Nodes) -> None:
    if down == "refusing":
        co_socket, co_url = refusing_socket()
        expected_error = "ConnectError"
    else:  # listening, but nobody answers the TLS handshake
        co_socket = bind("127.0.0.1", 0)
        co_url = f"https://127.0.0.1:{co_socket.getsockname()[1]}"
        expected_error = "Timeout"
    pa = nodes.start("PA", partners={"CO": co_url}, run_worker=True, delivery_timeout_seconds=0.5)

    record_id = queue(pa.node, ["CO"])
    wait_for(lambda: delivery(pa.node, record_id).attempts >= 3, timeout=20)
    waiting = delivery(pa.node, record_id)
    assert waiting.status == "pending"
    assert waiting.last_error is not None
    assert expected_error in waiting.last_error
    assert waiting.receipt_jws is None
    assert waiting.delivered_at is None

    if down == "refusing":
        co_socket.listen(64)
        co_socket.setblocking(False)
    co = nodes.start("CO", partner_socket=co_socket)

    wait_for(lambda: delivery(pa.node, record_id).status == "delivered", timeout=20)
    done = delivery(pa.node, record_id)
    assert done.attempts >= waiting.attempts  # an attempt waiting in the backlog may be the one
    assert done.last_error is None
    assert done.receipt_verdict == "accepted"
    receipt = verify_receipt(
        done.receipt_jws or "",
        pa.node.bundle,
        datetime.now(UTC),
        receiver="CO",
        jws_sha256=sha256_hex(outgoing_jws(pa.node, record_id)),
    )
    assert str(receipt.payload.record_id) == record_id
    assert stored_copies(co.node, record_id) == 1


def test_past_the_deadline_a_delivery_is_dead_until_retried(nodes: Nodes) -> None:
    co_socket, co_url = refusing_socket()
    pa = nodes.start("PA", partners={"CO": co_url}, run_worker=True, delivery_deadline_seconds=0.6)
    record_id = queue(pa.node, ["CO"])

    wait_for(lambda: delivery(pa.node, record_id).status == "dead", timeout=20)
    dead = delivery(pa.node, record_id)
    assert dead.attempts >= 2
    assert dead.last_error is not None
    assert "ConnectError" in dead.last_error

    co_socket.listen(64)
    co_socket.setblocking(False)
    co = nodes.start("CO", partner_socket=co_socket)
    time.sleep(0.5)  # the partner is back, but nothing retries a dead delivery on its own
    assert (delivery(pa.node, record_id).status, delivery(pa.node, record_id).attempts) == ("dead", dead.attempts)

    queued = retry_delivery(pa.node, dead.pk, actor="test")
    assert queued.status == "pending"
    wait_for(lambda: delivery(pa.node, record_id).status == "delivered", timeout=20)
    assert stored_copies(co.node, record_id) == 1

    with pytest.raises(DeliveryNotFoundError, match=f"no dead delivery {dead.pk}"):
        retry_delivery(pa.node, dead.pk, actor="test")
    with pytest.raises(DeliveryNotFoundError, match="no dead delivery 999999"):
        retry_delivery(pa.node, 999_999, actor="test")


def test_a_dead_delivery_of_a_deleted_body_is_not_retried(nodes: Nodes) -> None:
    co_socket, co_url = refusing_socket()
    pa = nodes.start("PA", partners={"CO": co_url}, run_worker=True, delivery_deadline_seconds=0.6)
    record_id = queue(pa.node, ["CO"])
    wait_for(lambda: delivery(pa.node, record_id).status == "dead", timeout=20)
    dead = delivery(pa.node, record_id)
    with pa.node.transaction() as session:
        retract(
            session,
            pa.node,
            record_id,
            reason="wrong_person",
            comment=None,
            actor="test",
            officer_ref="PA-1",
            agency="SNM",
        )

    with pytest.raises(DeliveryNotFoundError, match="whose body was deleted \\(retraction\\)"):
        retry_delivery(pa.node, dead.pk, actor="test")
    assert delivery(pa.node, record_id).status == "dead"
    co_socket.close()


def test_recipient_without_partner_url_does_not_stall_the_others(nodes: Nodes) -> None:
    co_socket = bind("127.0.0.1", 0)
    pa = nodes.start(
        "PA",
        partners={"CO": f"https://127.0.0.1:{co_socket.getsockname()[1]}"},
        run_worker=False,
    )
    co = nodes.start("CO", partner_socket=co_socket)
    to_us = queue(pa.node, ["US"])  # PA knows no URL for US
    to_co = queue(pa.node, ["CO"])
    worker = DeliveryWorker(pa.node, name="test")
    try:
        for _ in range(3):
            worker.run_once()
            time.sleep(0.1)
    finally:
        worker.clients.close()

    assert delivery(pa.node, to_co).status == "delivered"
    assert stored_copies(co.node, to_co) == 1
    stuck = delivery(pa.node, to_us, "US")
    assert stuck.status == "pending"
    assert stuck.last_error is not None
    assert "US" in stuck.last_error
    assert stuck.lease_until is None


# -- receipts are verified before a delivery counts --------------------------------------


def _receipt(body: bytes, *, receiver: str, key: SigningKey, digest: str | None = None) -> bytes:
    receipt = Receipt(
        record_id=uuid.uuid4(),
        jws_sha256=digest or sha256_hex(body),
        received_at=datetime.now(UTC),
        receiver=receiver,
        sender="PA",
        verdict=Verdict.ACCEPTED,
        ledger_index=7,
    )
    return issue_receipt(receipt, key).encode("ascii")


Answer = Callable[[TestPKI, bytes], bytes]
BAD_RECEIPTS: dict[str, tuple[Answer, str]] = {
    "signed-by-another-party": (
        lambda pki, body: _receipt(body, receiver="US", key=pki.signing_key("US")),
        "party_mismatch",
    ),
    "claims-recipient-signed-by-another": (
        lambda pki, body: _receipt(body, receiver="CO", key=pki.signing_key("US")),
        "party_mismatch",
    ),
    "for-other-bytes": (
        lambda pki, body: _receipt(body, receiver="CO", key=pki.signing_key("CO"), digest="0" * 64),
        "schema_violation",
    ),
    "not-a-jws": (lambda _pki, _body: b"thank you", "malformed_jws"),
    "record-echoed-back": (lambda _pki, body: body, "malformed_jws"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECEIPTS))
def test_delivery_counts_only_with_a_verified_receipt(case: str, pki: TestPKI, nodes: Nodes) -> None:
    answer, reason = BAD_RECEIPTS[case]
    with FakePartner(pki.parties["CO"], lambda body: (201, "application/jose", answer(pki, body))) as fake:
        pa = nodes.start("PA", partners={"CO": fake.url}, run_worker=True)
        record_id = queue(pa.node, ["CO"])
        wait_for(lambda: delivery(pa.node, record_id).attempts >= 3, timeout=20)
        refused = delivery(pa.node, record_id)
        posted = list(fake.bodies)

    assert refused.status == "pending"
    assert refused.receipt_jws is None
    assert refused.delivered_at is None
    assert refused.last_error is not None
    assert refused.last_error.startswith(f"receipt refused: {reason}")
    assert len(posted) >= 2
    assert set(posted) == {outgoing_jws(pa.node, record_id).encode("ascii")}


def test_fake_partner_with_a_valid_receipt_delivers(pki: TestPKI, nodes: Nodes) -> None:
    """The control for the test above: the same fake, answering honestly, completes the delivery."""

    def honest(body: bytes) -> tuple[int, str, bytes]:
        return 201, "application/jose", _receipt(body, receiver="CO", key=pki.signing_key("CO"))

    with FakePartner(pki.parties["CO"], honest) as fake:
        pa = nodes.start("PA", partners={"CO": fake.url}, run_worker=True)
        record_id = queue(pa.node, ["CO"])
        wait_for(lambda: delivery(pa.node, record_id).status == "delivered", timeout=20)
    assert delivery(pa.node, record_id).receipt_ledger_index == 7
    assert len(fake.bodies) == 1


@pytest.mark.parametrize(("status", "final"), [(409, "dead"), (422, "dead"), (503, "pending")])
def test_partner_errors_are_terminal_or_retried(status: int, final: str, pki: TestPKI, nodes: Nodes) -> None:
    problem = b'{"type": "https://mou-gateway.example/problems/x", "detail": "refused by the test"}'
    with FakePartner(pki.parties["CO"], lambda _body: (status, "application/problem+json", problem)) as fake:
        pa = nodes.start("PA", partners={"CO": fake.url}, run_worker=True)
        record_id = queue(pa.node, ["CO"])
        if final == "dead":
            wait_for(lambda: delivery(pa.node, record_id).status == "dead", timeout=20)
        else:
            wait_for(lambda: delivery(pa.node, record_id).attempts >= 3, timeout=20)
        outcome = delivery(pa.node, record_id)
    assert outcome.status == final
    assert outcome.last_error == f"HTTP {status}: refused by the test"
    if final == "dead":
        assert outcome.attempts == 1


# -- the command line -----------------------------------------------------------------


def test_deliveries_list_and_retry_commands(
    pki: TestPKI, module_database_factory: DatabaseFactory, nodes: Nodes, tmp_path: Path
) -> None:
    co_socket, co_url = refusing_socket()
    settings = node_settings(  # a database of its own: the listing shows every delivery
        pki,
        "PA",
        module_database_factory.fresh_url(),
        tmp_path / "pa",
        {"CO": co_url, "US": closed_port_url()},
        delivery_deadline_seconds=0.3,
    )
    config = write_settings_toml(tmp_path / "pa.toml", settings)
    pa = build_node(settings)
    try:
        record_id = queue(pa, ["CO"])
        worker = DeliveryWorker(pa, name="test")
        deadline = time.monotonic() + 10
        while delivery(pa, record_id).status != "dead" and time.monotonic() < deadline:
            worker.run_once()
            time.sleep(0.05)
        worker.clients.close()
        dead = delivery(pa, record_id)
        assert dead.status == "dead"
    finally:
        pa.close()
    runner = CliRunner()

    listing = runner.invoke(cli, ["deliveries", "list", "--config", str(config)])
    assert listing.exit_code == 0, listing.output
    assert listing.stderr.strip() == "dead: 1"  # the counts; stdout holds only the rows
    row = next(line for line in listing.stdout.splitlines() if line.startswith(f"{dead.pk} "))
    assert "dead" in row
    assert "CO" in row
    only_pending = runner.invoke(cli, ["deliveries", "list", "--status", "pending", "--config", str(config)])
    assert only_pending.exit_code == 0
    assert not any(line.startswith(f"{dead.pk} ") for line in only_pending.stdout.splitlines())

    retried = runner.invoke(cli, ["deliveries", "retry", str(dead.pk), "--config", str(config)])
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.strip() == f"delivery {dead.pk} to CO queued again"
    after = runner.invoke(cli, ["deliveries", "list", "--config", str(config)])
    assert after.stderr.strip() == "pending: 1"

    again = runner.invoke(cli, ["deliveries", "retry", str(dead.pk), "--config", str(config)])
    assert again.exit_code != 0
    assert isinstance(again.exception, DeliveryNotFoundError)

    # With the partner back, a worker started from the same file delivers it.
    co_socket.listen(64)
    co_socket.setblocking(False)
    co = nodes.start("CO", partner_socket=co_socket)
    pa = build_node(settings)
    try:
        worker = DeliveryWorker(pa, name="test")
        wait_for(lambda: worker.run_once() >= 0 and delivery(pa, record_id).status == "delivered", timeout=20)
        worker.clients.close()
    finally:
        pa.close()
    assert stored_copies(co.node, record_id) == 1
