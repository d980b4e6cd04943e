"""Ledger routes over real mutual TLS, and partners witnessing each other for real.

PA asks CO's partner listener for its checkpoint and proofs and checks them
with the pure RFC 9162 verifiers; a sender proves that its record's receipt
names a leaf of the receiver's signed tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.exchange.receipts import verify_receipt
from gateway.ledger import repository
from gateway.ledger.checkpoints import checkpoint_if_due, verify_checkpoint
from gateway.ledger.events import AuditEvent
from gateway.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from gateway.ledger.service import append_event, detail_digest, entry_bytes
from gateway.ledger.store import stored_root
from tests.support.databases import DatabaseFactory
from tests.support.exchange import example_draft, partner_client, party_certificate, post_jws, signed_record
from tests.support.nodes import OPERATIONS_HEADERS, Cluster, RunningNode, start_cluster, wait_for
from tests.support.pki import TestPKI

PROBLEM = "https://mou-gateway.example/problems/invalid-proof-request"


@pytest.fixture
def cluster(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Cluster]:
    urls = {p: database_factory.fresh_url() for p in ("PA", "CO")}
    running = start_cluster(
        pki, urls, tmp_path, parties=("PA", "CO"), run_worker=False,
        witness_interval_seconds=0.3, checkpoint_every_seconds=0.3,
    )  # fmt: skip
    yield running
    running.stop()


@pytest.fixture
def pa_to_co(pki: TestPKI, cluster: Cluster, tmp_path: Path) -> Iterator[httpx.Client]:
    """PA's client of CO's partner listener, over mutual TLS."""
    with partner_client(pki, cluster["CO"].partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
        yield client


def grow(node: RunningNode, count: int) -> None:
    with node.node.transaction() as session:
        for number in range(count):
            append_event(
                session, AuditEvent.RECORD_VIEWED, actor="officer:co-1", subject=f"r{number}", at=node.node.now()
            )


def checkpoint_of(client: httpx.Client, pki: TestPKI, at: datetime) -> tuple[int, bytes]:
    response = client.get("/v1/exchange/checkpoint")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jose"
    body = verify_checkpoint(response.text, pki.bundle(), at, party="CO").payload
    return body.tree_size, bytes.fromhex(body.root_hash)


def hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(value) for value in values]


def test_checkpoint_and_proofs_verify_with_the_pure_verifiers(
    cluster: Cluster, pa_to_co: httpx.Client, pki: TestPKI
) -> None:
    co = cluster["CO"]
    grow(co, 21)
    checkpoint_if_due(co.node, force=True)
    size, root = checkpoint_of(pa_to_co, pki, co.node.now())
    assert size >= 21
    with co.node.transaction() as session:
        entries = repository.entries(session, 0, size)
        old_root = stored_root(session, 5)
    for index in (0, 7, size - 1):
        response = pa_to_co.get("/v1/exchange/proofs/inclusion", params={"index": index, "tree_size": size})
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert (answer["index"], answer["tree_size"], answer["root_hash"]) == (index, size, root.hex())
        verify_inclusion(bytes(entries[index].leaf_hash), index, size, hexes(answer["proof"]), root)
    response = pa_to_co.get("/v1/exchange/proofs/consistency", params={"first": 5, "second": size})
    assert response.status_code == 200, response.text
    verify_consistency(5, size, old_root, root, hexes(response.json()["proof"]))


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("inclusion", {"index": "abc", "tree_size": "3"}),
        ("inclusion", {"index": "-1", "tree_size": "3"}),
        ("inclusion", {"index": "1"}),
        ("inclusion", {"index": "3", "tree_size": "3"}),
        ("inclusion", {"index": "0", "tree_size": "999"}),
        ("inclusion", {"index": "0", "tree_size": "1e3"}),
        ("inclusion", {"index": "0", "tree_size": "9" * 40}),
        ("consistency", {"first": "4", "second": "2"}),
        ("consistency", {"first": "1", "second": "999"}),
        ("consistency", {"first": " 1", "second": "2"}),
        ("consistency", {}),
    ],
)
def test_bad_proof_parameters_are_400_problems(
    cluster: Cluster, pa_to_co: httpx.Client, path: str, params: dict[str, str]
) -> None:
    grow(cluster["CO"], 3)
    response = pa_to_co.get(f"/v1/exchange/proofs/{path}", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM
    assert "Traceback" not in response.text


def test_ledger_routes_need_a_partner_certificate(cluster: Cluster, pki: TestPKI, tmp_path: Path) -> None:
    co = cluster["CO"]
    with (
        partner_client(pki, co.partner_url, None, "CO", tmp_path) as anonymous,
        pytest.raises(httpx.TransportError),
    ):
        anonymous.get("/v1/exchange/checkpoint")
    # Nor does the agency listener serve them.
    assert httpx.get(f"{co.agency_url}/v1/exchange/checkpoint").status_code == 404


def test_partners_witness_each_other_and_readyz_says_so(cluster: Cluster) -> None:
    pa, co = cluster["PA"], cluster["CO"]
    grow(co, 5)

    def pa_saw_co_grow() -> bool:
        with pa.node.transaction() as session:
            seen = repository.witnessed_baseline(session, "CO")
        with co.node.transaction() as session:
            latest = repository.latest_own_checkpoint(session)
        return seen is not None and latest is not None and seen.tree_size >= 5 and seen.root_hash == latest.root_hash

    wait_for(pa_saw_co_grow, timeout=20)
    ready = httpx.get(f"{pa.agency_url}/readyz", headers=OPERATIONS_HEADERS).json()
    witness = ready["checks"]["ledger"]["witness"]["CO"]
    assert witness["state"] == "ok"
    assert witness["tree_size"] >= 5
    assert ready["checks"]["ledger"]["alarms"] == []


def test_a_sender_proves_its_record_is_in_the_receivers_ledger(
    cluster: Cluster, pa_to_co: httpx.Client, pki: TestPKI
) -> None:
    co = cluster["CO"]
    record = signed_record(pki, "PA", example_draft("criminal_network_flag", recipients=["CO"]))
    response = post_jws(pa_to_co, record.jws)
    assert response.status_code == 201, response.text
    digest = record.jws_sha256
    receipt = verify_receipt(response.text, pki.bundle(), co.node.now(), receiver="CO", jws_sha256=digest).payload
    assert receipt.ledger_index is not None
    # Everything the leaf covers is in the receipt the sender holds.
    event = AuditEvent.RECORD_RECEIVED if receipt.verdict.value == "accepted" else AuditEvent.RECORD_REJECTED
    subject = str(receipt.record_id) if receipt.record_id else f"jws:{digest}"
    leaf = leaf_hash(
        entry_bytes(
            receipt.ledger_index, event.value, "party:PA", subject, receipt.received_at,
            detail_digest({"jws_sha256": digest, "reason_code": receipt.reason_code}),
        )
    )  # fmt: skip
    checkpoint_if_due(co.node, force=True)
    size, root = checkpoint_of(pa_to_co, pki, co.node.now())
    answer = pa_to_co.get(
        "/v1/exchange/proofs/inclusion", params={"index": receipt.ledger_index, "tree_size": size}
    ).json()
    verify_inclusion(leaf, receipt.ledger_index, size, hexes(answer["proof"]), root)
