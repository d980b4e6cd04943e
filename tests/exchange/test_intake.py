"""Group commit of single-record POSTs (gateway/exchange/intake.py).

``receive_group`` receives several ``(raw, peer)`` items in one transaction and
must answer each exactly as a POST of that item alone would; ``ReceiveIntake``
groups the requests that queue up behind the group being written. Groups are
made deterministic with Events, never with sleeps: the first group is held
until the requests the test needs have reached the intake.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.commands.audit import ledger_session
from gateway.exchange import intake as intake_module
from gateway.exchange import service as service_module
from gateway.exchange.errors import RecordConflictError
from gateway.exchange.intake import ReceiveIntake, receive_group
from gateway.exchange.receipts import verify_receipt
from gateway.exchange.service import Outcome, receive_batch, receive_record
from gateway.ledger import repository as ledger_repository
from gateway.ledger.events import AuditEvent
from gateway.ledger.verification import verify_ledger
from gateway.node import Node, build_node
from gateway.records import repository as records_repository
from gateway.records.models import StoredRecord
from gateway.records.schemas import Receipt
from gateway.records.signing import SignedRecord
from gateway.trust.errors import MalformedJWSError
from tests.support.exchange import (
    example_draft,
    mtls_context,
    party_certificate,
    post_jws,
    sha256_hex,
    signed_record,
    stored_copies,
    tampered_copy,
)
from tests.support.nodes import Cluster, RunningNode, node_settings
from tests.support.pki import TestPKI

FLAG = "criminal_network_flag"
Row = tuple[str | None, str, str | None, str, str | None]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def co_node(pki: TestPKI, database_url: str, tmp_path: Path) -> Iterator[Node]:
    """CO's node on a fresh database of the current backend, not serving (services called directly)."""
    node = build_node(node_settings(pki, "CO", database_url, tmp_path / "co", {}))
    yield node
    node.close()


@pytest.fixture
def co(shared_receivers: Cluster) -> RunningNode:
    """CO's serving node (real mTLS listener), shared by this module (one per backend)."""
    return shared_receivers["CO"]


# -- helpers -------------------------------------------------------------------


def flag(pki: TestPKI, originator: str = "PA", recipients: tuple[str, ...] = ("CO",)) -> SignedRecord:
    """A criminal_network_flag signed by ``originator``'s record key, addressed to ``recipients``."""
    draft = example_draft(FLAG, recipients=list(recipients))
    draft["originator"]["party"] = originator
    # The terms let travel-document details go to CO only; keep the flag sendable by anyone.
    draft["body"]["subject"].pop("travel_document", None)
    return signed_record(pki, originator, draft)


def resigned(pki: TestPKI, record: SignedRecord) -> str:
    """The same record (same record_id) signed again: other bytes (ECDSA signatures differ)."""
    other = signed_record(pki, record.record.originator.party, record.record.model_dump(mode="json"))
    assert str(other.record.record_id) == str(record.record.record_id)
    assert other.jws != record.jws
    return other.jws


def receipt_of(pki: TestPKI, receipt_jws: str, jws: str | bytes) -> Receipt:
    """The receipt, verified: signed by CO, for exactly the bytes ``jws``."""
    return verify_receipt(
        receipt_jws, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(jws)
    ).payload


def incoming_rows(node: Node) -> list[Row]:
    """(record_id, jws_sha256, peer_party, verification, verification_reason) of every incoming row."""
    with node.transaction() as session:
        rows = session.execute(
            select(
                StoredRecord.record_id,
                StoredRecord.jws_sha256,
                StoredRecord.peer_party,
                StoredRecord.verification,
                StoredRecord.verification_reason,
            )
            .where(StoredRecord.direction == "in")
            .order_by(StoredRecord.pk)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def ledger_size(node: Node) -> int:
    """The number of entries of ``node``'s ledger, after checking that the whole ledger verifies
    (as ``gateway audit verify`` does: on one snapshot, while the node may be appending)."""
    with ledger_session(node.settings, None) as session:
        return verify_ledger(session, node.bundle).entries


def ledger_entry(node: Node, index: int) -> tuple[str, str, str]:
    """(event, actor, subject) of ledger entry ``index``."""
    with node.transaction() as session:
        [entry] = ledger_repository.entries(session, index, index + 1)
        return entry.event, entry.actor, entry.subject


def accepted(result: Outcome | Exception) -> Outcome:
    assert isinstance(result, Outcome), repr(result)
    assert result.verdict == "accepted", result
    return result


def assert_new_acceptance(pki: TestPKI, node: Node, result: Outcome | Exception, record: SignedRecord) -> Receipt:
    """``result`` is a first acceptance of ``record`` whose receipt is in ``node``'s ledger."""
    outcome = accepted(result)
    record_id = str(record.record.record_id)
    assert (outcome.replayed, outcome.record_id, outcome.record_type) == (False, record_id, FLAG)
    receipt = receipt_of(pki, outcome.receipt_jws, record.jws)
    assert (receipt.verdict.value, receipt.reason_code, str(receipt.record_id)) == ("accepted", None, record_id)
    assert receipt.ledger_index is not None
    assert ledger_entry(node, receipt.ledger_index) == (
        AuditEvent.RECORD_RECEIVED.value,
        f"party:{receipt.sender}",
        record_id,
    )
    return receipt


class GroupGate:
    """Stands in for ``intake.receive_group``: records each group's size and holds the first
    group until ``release`` is set, so that requests queue up behind it."""

    def __init__(self) -> None:
        self.original = intake_module.receive_group
        self.sizes: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.held_until_timeout = False
        self._lock = threading.Lock()

    def __call__(self, node: Node, items: list[tuple[bytes, str]]) -> list[Outcome | Exception]:
        with self._lock:
            first = not self.sizes
            self.sizes.append(len(items))
        if first:
            self.entered.set()
            self.held_until_timeout = not self.release.wait(30)
        return self.original(node, items)


class Arrivals:
    """Counts calls of ``ReceiveIntake.receive`` (made in the server's event loop).

    The count is raised just before the original ``receive`` runs; that call
    enqueues the item in the same event-loop step, before anything the
    released group finishes can be processed by the loop.
    """

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def arrived(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 30) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.count >= count, timeout)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[GroupGate]:
    held = GroupGate()
    monkeypatch.setattr(intake_module, "receive_group", held)
    yield held
    held.release.set()  # never leave a server thread waiting


@pytest.fixture
def arrivals(monkeypatch: pytest.MonkeyPatch) -> Arrivals:
    counter = Arrivals()
    original = ReceiveIntake.receive

    async def counting_receive(self: ReceiveIntake, raw: bytes, peer: str) -> Outcome:
        counter.arrived()
        return await original(self, raw, peer)

    monkeypatch.setattr(ReceiveIntake, "receive", counting_receive)
    return counter


def poison_batches(monkeypatch: pytest.MonkeyPatch, poison: bytes) -> list[list[bytes]]:
    """Make the ``receive_batch`` that intake.py calls raise RuntimeError on any batch holding
    ``poison``; returns the list of batches it was called with."""
    calls: list[list[bytes]] = []
    real = intake_module.receive_batch

    def poisoned(session: Session, node: Node, items: list[bytes], peer: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(list(items))
        if poison in items:
            raise RuntimeError("poisoned record")
        return real(session, node, items, peer, *args, **kwargs)

    monkeypatch.setattr(intake_module, "receive_batch", poisoned)
    return calls


# -- receive_group: one transaction, one answer per item -----------------------------------


def test_mixed_group_answers_each_item_and_stores_what_a_single_post_would(pki: TestPKI, co_node: Node) -> None:
    earlier = flag(pki)
    [first] = receive_group(co_node, [(earlier.jws.encode(), "PA")])
    earlier_receipt = assert_new_acceptance(pki, co_node, first, earlier)
    rows_before, ledger_before = incoming_rows(co_node), ledger_size(co_node)

    good, other_good = flag(pki), flag(pki)
    conflicting = resigned(pki, earlier)  # an accepted record_id with other bytes
    forged = flag(pki)
    tampered = tampered_copy(forged.jws)  # verifiable shape, bad signature: a signed rejection
    raws = [good.jws, "not a jws", other_good.jws, conflicting, tampered, good.jws]
    results = receive_group(co_node, [(raw.encode(), "PA") for raw in raws])

    assert len(results) == len(raws)
    good_receipt = assert_new_acceptance(pki, co_node, results[0], good)
    assert isinstance(results[1], MalformedJWSError)
    other_receipt = assert_new_acceptance(pki, co_node, results[2], other_good)
    assert isinstance(results[3], RecordConflictError)
    assert str(earlier.record.record_id) in results[3].detail
    rejection = results[4]
    assert isinstance(rejection, Outcome)
    assert (rejection.verdict, rejection.replayed, rejection.record_type) == ("rejected", False, None)
    rejected = receipt_of(pki, rejection.receipt_jws, tampered)
    assert (rejected.verdict.value, rejected.reason_code, rejected.sender) == ("rejected", "bad_signature", "PA")
    duplicate = results[5]
    assert isinstance(duplicate, Outcome)
    assert (duplicate.replayed, duplicate.verdict, duplicate.record_type) == (True, "accepted", FLAG)
    assert duplicate.receipt_jws == accepted(results[0]).receipt_jws

    # One row per distinct record given a receipt: both good ones and the audit
    # copy of the rejected one; nothing for the malformed, conflicting or repeated item.
    assert incoming_rows(co_node) == [
        *rows_before,
        (str(good.record.record_id), sha256_hex(good.jws), "PA", "valid", None),
        (str(other_good.record.record_id), sha256_hex(other_good.jws), "PA", "valid", None),
        (str(forged.record.record_id), sha256_hex(tampered), "PA", "invalid", "bad_signature"),
    ]
    assert stored_copies(co_node, str(earlier.record.record_id)) == 1
    # Three ledger events, at the indexes the receipts name, in one verifying ledger.
    assert ledger_size(co_node) == ledger_before + 3
    indexes = {good_receipt.ledger_index, other_receipt.ledger_index, rejected.ledger_index}
    assert indexes == set(range(ledger_before, ledger_before + 3))
    assert earlier_receipt.ledger_index is not None
    assert earlier_receipt.ledger_index < ledger_before
    assert rejected.ledger_index is not None
    assert ledger_entry(co_node, rejected.ledger_index)[0] == AuditEvent.RECORD_REJECTED.value

    # The group's answers are the ones a single POST of the same bytes answers afterwards.
    again = receive_group(co_node, [(good.jws.encode(), "PA"), (tampered.encode(), "PA")])
    assert [(o.replayed, o.receipt_jws) for o in again if isinstance(o, Outcome)] == [
        (True, accepted(results[0]).receipt_jws),
        (True, rejection.receipt_jws),
    ]


@pytest.mark.parametrize("order", ["pa-first", "us-first"])
def test_group_of_two_peers_verifies_each_item_against_its_own_peer(order: str, pki: TestPKI, co_node: Node) -> None:
    from_pa, from_us, pa_relayed = flag(pki, "PA"), flag(pki, "US"), flag(pki, "PA")
    items = [
        (from_pa.jws, "PA"),
        (from_us.jws, "US"),
        (pa_relayed.jws, "US"),  # PA's record, but US is the peer: refused
        (pa_relayed.jws, "PA"),  # the same bytes from their originator: accepted
    ]
    if order == "us-first":
        items = items[1:] + items[:1]
    ledger_before = ledger_size(co_node)

    results = receive_group(co_node, [(raw.encode(), peer) for raw, peer in items])

    answers = dict(zip(items, results, strict=True))
    for record, peer in ((from_pa, "PA"), (from_us, "US"), (pa_relayed, "PA")):
        receipt = assert_new_acceptance(pki, co_node, answers[(record.jws, peer)], record)
        assert receipt.sender == peer
    refusal = answers[(pa_relayed.jws, "US")]
    assert isinstance(refusal, Outcome)
    assert (refusal.verdict, refusal.replayed) == ("rejected", False)
    receipt = receipt_of(pki, refusal.receipt_jws, pa_relayed.jws)
    assert (receipt.verdict.value, receipt.reason_code, receipt.sender) == ("rejected", "peer_mismatch", "US")

    assert sorted(incoming_rows(co_node), key=lambda row: (row[2] or "", row[0] or "")) == sorted(
        [
            (str(from_pa.record.record_id), sha256_hex(from_pa.jws), "PA", "valid", None),
            (str(pa_relayed.record.record_id), sha256_hex(pa_relayed.jws), "PA", "valid", None),
            (str(from_us.record.record_id), sha256_hex(from_us.jws), "US", "valid", None),
            (str(pa_relayed.record.record_id), sha256_hex(pa_relayed.jws), "US", "invalid", "peer_mismatch"),
        ],
        key=lambda row: (row[2] or "", row[0] or ""),
    )
    assert ledger_size(co_node) == ledger_before + 4


def test_poisoned_record_fails_alone_and_its_neighbours_are_received_once(
    pki: TestPKI, co_node: Node, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from_us, before, after = flag(pki, "US"), flag(pki), flag(pki)
    poison = flag(pki).jws.encode()
    calls = poison_batches(monkeypatch, poison)
    # US's batch is written first (first item), so the failed group had already
    # written something that the rollback must undo.
    items = [(from_us.jws.encode(), "US"), (before.jws.encode(), "PA"), (poison, "PA"), (after.jws.encode(), "PA")]
    ledger_before = ledger_size(co_node)

    results = receive_group(co_node, items)

    assert isinstance(results[2], RuntimeError)
    assert str(results[2]) == "poisoned record"
    for record, result in ((from_us, results[0]), (before, results[1]), (after, results[3])):
        assert_new_acceptance(pki, co_node, result, record)
    # The group was tried once as a whole, then item by item.
    assert calls == [
        [from_us.jws.encode()],
        [before.jws.encode(), poison, after.jws.encode()],
        *([raw] for raw, _peer in items),
    ]
    assert "receiving them one by one" in caplog.text
    for record in (from_us, before, after):
        assert stored_copies(co_node, str(record.record.record_id)) == 1
    assert len(incoming_rows(co_node)) == 3
    assert ledger_size(co_node) == ledger_before + 3  # nothing left of the failed attempt


def test_group_that_loses_a_unique_index_race_is_retried_whole(
    pki: TestPKI, co_node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [flag(pki) for _ in range(3)]
    calls: list[int] = []
    real = intake_module.receive_batch

    def racing(session: Session, node: Node, items: list[bytes], peer: str) -> Any:
        calls.append(len(items))
        outcomes = real(session, node, items, peer)
        if len(calls) == 1:  # the first attempt wrote everything, then lost the race at commit
            raise IntegrityError("INSERT INTO records", {}, Exception("duplicate key value"))
        return outcomes

    monkeypatch.setattr(intake_module, "receive_batch", racing)
    ledger_before = ledger_size(co_node)

    results = receive_group(co_node, [(r.jws.encode(), "PA") for r in records])

    assert calls == [3, 3]  # retried once as a whole, not item by item
    for record, result in zip(records, results, strict=True):
        assert_new_acceptance(pki, co_node, result, record)
        assert stored_copies(co_node, str(record.record.record_id)) == 1
    assert ledger_size(co_node) == ledger_before + 3


# -- replay, not conflict, when the same bytes were committed after the digest lookup -------


def test_same_bytes_missed_by_the_digest_lookup_are_a_replay_not_a_conflict(
    pki: TestPKI, co_node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = flag(pki)
    raw = record.jws.encode()
    with co_node.transaction() as session:
        [first] = receive_batch(session, co_node, [raw], "PA")
    assert_new_acceptance(pki, co_node, first, record)
    assert isinstance(first, Outcome)
    rows, ledger_before = incoming_rows(co_node), ledger_size(co_node)

    # A concurrent request committed the row after this request's lookup of the
    # same bytes: the lookup runs, but what it found under the digest is hidden.
    found: list[set[str]] = []
    real_lookup = service_module._Earlier.lookup

    def missed(_cls: type, session: Session, peer: str, digests: list[str], decisions: Any) -> Any:
        earlier = real_lookup(session, peer, digests, decisions)
        found.append(set(earlier.same_bytes))
        return dataclasses.replace(earlier, same_bytes={})

    monkeypatch.setattr(service_module._Earlier, "lookup", classmethod(missed))
    with co_node.transaction() as session:
        replays = receive_batch(session, co_node, [raw, raw], "PA")
    assert found == [{sha256_hex(raw)}]  # the digest lookup would have found it: the race was simulated
    for replay in replays:
        assert isinstance(replay, Outcome), repr(replay)
        assert replay == Outcome(first.receipt_jws, "accepted", True, first.record_id, FLAG)

    with co_node.transaction() as session:
        [conflict] = receive_batch(session, co_node, [resigned(pki, record).encode()], "PA")
    assert isinstance(conflict, RecordConflictError)

    assert incoming_rows(co_node) == rows
    assert ledger_size(co_node) == ledger_before


def test_single_record_path_also_answers_the_missed_replay_as_a_replay(
    pki: TestPKI, co_node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = flag(pki)
    with co_node.transaction() as session:
        first = receive_record(session, co_node, record.jws.encode(), "PA")
    rows = incoming_rows(co_node)
    monkeypatch.setattr(records_repository, "inbound_by_digest", lambda *_args: None)

    with co_node.transaction() as session:
        replay = receive_record(session, co_node, record.jws.encode(), "PA")
    assert replay == Outcome(first.receipt_jws, "accepted", True, first.record_id, FLAG)
    with co_node.transaction() as session, pytest.raises(RecordConflictError):
        receive_record(session, co_node, resigned(pki, record).encode(), "PA")
    assert incoming_rows(co_node) == rows


# -- ReceiveIntake: callers queued behind a group share the next one -------------------------


@pytest.mark.anyio
async def test_callers_queued_behind_a_group_are_received_together_each_with_its_own_answer(
    pki: TestPKI, co_node: Node, gate: GroupGate, arrivals: Arrivals, monkeypatch: pytest.MonkeyPatch
) -> None:
    intake = ReceiveIntake(co_node)
    first, second, from_us, relayed = flag(pki), flag(pki), flag(pki, "US"), flag(pki)
    poison = flag(pki).jws.encode()
    poison_batches(monkeypatch, poison)

    leading = asyncio.create_task(intake.receive(first.jws.encode(), "PA"))
    assert await anyio.to_thread.run_sync(gate.entered.wait, 30)
    queued: list[tuple[bytes, str]] = [
        (second.jws.encode(), "PA"),
        (b"not a jws", "PA"),
        (poison, "PA"),
        (from_us.jws.encode(), "US"),
        (relayed.jws.encode(), "US"),
        (resigned(pki, first).encode(), "PA"),
        (second.jws.encode(), "PA"),
    ]
    tasks = [asyncio.create_task(intake.receive(raw, peer)) for raw, peer in queued]
    try:
        assert await anyio.to_thread.run_sync(arrivals.wait_for, 1 + len(queued))
    finally:
        gate.release.set()
    with anyio.fail_after(60):  # a caller left without an answer would wait forever
        answers = await asyncio.gather(leading, *tasks, return_exceptions=True)

    assert not gate.held_until_timeout
    # The second group held everything queued behind the first (and then, the
    # poison having failed it, each of its items on its own).
    assert gate.sizes[:2] == [1, len(queued)]
    assert sorted(gate.sizes[2:]) == [1] * len(queued)
    assert_new_acceptance(pki, co_node, answers[0], first)
    assert_new_acceptance(pki, co_node, answers[1], second)
    assert isinstance(answers[2], MalformedJWSError)
    assert isinstance(answers[3], RuntimeError)
    assert_new_acceptance(pki, co_node, answers[4], from_us)
    refusal = answers[5]
    assert isinstance(refusal, Outcome)
    assert receipt_of(pki, refusal.receipt_jws, relayed.jws).reason_code == "peer_mismatch"
    assert isinstance(answers[6], RecordConflictError)
    repeat = answers[7]
    assert isinstance(repeat, Outcome)
    assert (repeat.replayed, repeat.receipt_jws) == (True, accepted(answers[1]).receipt_jws)
    assert len(incoming_rows(co_node)) == 4  # first, second, from_us, the refused relay
    ledger_size(co_node)  # verifies


# -- over the real partner listener (mutual TLS on 127.0.0.1) ----------------------------------


def posting_threads(
    pki: TestPKI, co: RunningNode, tmp_path: Path, batches: list[list[str]]
) -> tuple[ThreadPoolExecutor, list[Any]]:
    """Start one thread per batch; each POSTs its records one after another on one keep-alive connection."""
    context = mtls_context(pki, party_certificate(pki, "PA"), "CO", tmp_path)

    def post_all(records: list[str]) -> list[httpx.Response]:
        with httpx.Client(base_url=co.partner_url, verify=context, timeout=60) as client:
            return [post_jws(client, jws) for jws in records]

    pool = ThreadPoolExecutor(max_workers=len(batches))
    return pool, [pool.submit(post_all, batch) for batch in batches]


def test_concurrent_posts_over_mtls_are_grouped_and_each_gets_its_own_receipt(
    pki: TestPKI, co: RunningNode, tmp_path: Path, gate: GroupGate, arrivals: Arrivals
) -> None:
    connections, per_connection = 10, 3
    records = [[flag(pki) for _ in range(per_connection)] for _ in range(connections)]
    pool, futures = posting_threads(pki, co, tmp_path, [[r.jws for r in batch] for batch in records])
    try:
        # Every connection's first request reached the intake while the first group was held.
        all_arrived = arrivals.wait_for(connections)
    finally:
        gate.release.set()
        pool.shutdown(wait=True)
    assert all_arrived
    assert not gate.held_until_timeout
    answered = [future.result() for future in futures]

    receipts: list[Receipt] = []
    for batch, responses in zip(records, answered, strict=True):
        for record, response in zip(batch, responses, strict=True):
            assert response.status_code == 201, response.text
            assert response.headers["x-receipt-verdict"] == "accepted"
            receipt = receipt_of(pki, response.text, record.jws)
            assert (receipt.verdict.value, receipt.sender) == ("accepted", "PA")
            assert str(receipt.record_id) == str(record.record.record_id)
            receipts.append(receipt)
            assert stored_copies(co.node, str(record.record.record_id)) == 1
    assert len({r.ledger_index for r in receipts}) == connections * per_connection
    for receipt in receipts:
        assert receipt.ledger_index is not None
        assert ledger_entry(co.node, receipt.ledger_index) == (
            AuditEvent.RECORD_RECEIVED.value,
            "party:PA",
            str(receipt.record_id),
        )
    ledger_size(co.node)  # the whole ledger verifies

    assert sum(gate.sizes) == connections * per_connection
    assert max(gate.sizes) > 1, gate.sizes
    # The second group took exactly the first requests that queued behind the first group.
    assert gate.sizes[0] + gate.sizes[1] == connections


@pytest.mark.parametrize("when", ["same-group", "next-group"])
def test_identical_concurrent_posts_store_one_copy_and_share_one_receipt(
    when: str, pki: TestPKI, co: RunningNode, tmp_path: Path, gate: GroupGate, arrivals: Arrivals
) -> None:
    record, blocker = flag(pki), flag(pki)
    # same-group: another record holds the first group, both copies queue behind it;
    # next-group: the first copy holds the first group, the second copy queues behind it.
    leaders = [blocker.jws] if when == "same-group" else [record.jws]
    followers = [record.jws, record.jws] if when == "same-group" else [record.jws]
    pool, leading = posting_threads(pki, co, tmp_path, [leaders])
    try:
        assert gate.entered.wait(30)
        more, following = posting_threads(pki, co, tmp_path, [[jws] for jws in followers])
        try:
            all_arrived = arrivals.wait_for(len(leaders) + len(followers))
        finally:
            gate.release.set()
            more.shutdown(wait=True)
    finally:
        gate.release.set()
        pool.shutdown(wait=True)
    assert all_arrived
    assert not gate.held_until_timeout

    [lead] = leading[0].result()
    responses = [lead] if when == "next-group" else []
    responses += [future.result()[0] for future in following]
    assert gate.sizes == ([1, 2] if when == "same-group" else [1, 1])
    if when == "same-group":
        assert lead.status_code == 201, lead.text
        assert sorted(r.status_code for r in responses) == [200, 201]
    else:
        assert [r.status_code for r in responses] == [201, 200]
    assert len({r.content for r in responses}) == 1
    receipt = receipt_of(pki, responses[0].text, record.jws)
    assert (receipt.verdict.value, str(receipt.record_id)) == ("accepted", str(record.record.record_id))
    assert stored_copies(co.node, str(record.record.record_id)) == 1
