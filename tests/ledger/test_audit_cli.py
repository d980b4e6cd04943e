"""``gateway audit prove`` and ``gateway audit checkpoints`` on a node database."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from gateway.cli import app as gateway_app
from gateway.db import transaction
from gateway.ledger.checkpoints import sign_checkpoint, verify_checkpoint
from gateway.ledger.events import AuditEvent
from gateway.ledger.merkle import verify_inclusion
from gateway.ledger.service import append_event
from gateway.node import Node
from gateway.trust.canonical import canonicalize
from tests.ledger.conftest import T0, append_many
from tests.ledger.fake_partner import FakePartner
from tests.ledger.test_witness import observe
from tests.support.pki import TestPKI

runner = CliRunner()
RECORD = "0193a0c4-7d3e-7a51-8c2b-5f0e6d4c3b2a"


def record_events(sessions: sessionmaker[Session], node: Node) -> None:
    """Three events about RECORD among others, then a checkpoint, then one more event."""
    append_many(sessions, 5, tag="before")
    for event in (AuditEvent.RECORD_RECEIVED, AuditEvent.RECORD_VIEWED, AuditEvent.RECORD_ACKNOWLEDGED):
        with transaction(sessions) as session:
            append_event(session, event, actor="party:CO", subject=RECORD, at=T0, detail={"e": event.value})
        append_many(sessions, 3, tag=event.value)
    with transaction(sessions) as session:
        sign_checkpoint(session, node)
    append_many(sessions, 2, tag="after")


def test_prove_prints_proofs_an_independent_verifier_accepts(
    sessions: sessionmaker[Session], node: Node, database_url: str
) -> None:
    record_events(sessions, node)
    result = runner.invoke(gateway_app, ["audit", "prove", RECORD, "--database", database_url])
    assert result.exit_code == 0, result.output
    output: dict[str, Any] = json.loads(result.stdout)
    # The root is the one PA signed.
    signed = verify_checkpoint(output["checkpoint"], node.bundle, node.now(), party="PA").payload
    assert (output["tree_size"], output["root_hash"]) == (signed.tree_size, signed.root_hash) == (17, signed.root_hash)
    proofs = output["proofs"]
    assert [(p["leaf_index"], p["event"]) for p in proofs] == [
        (5, "exchange:record:received"),
        (9, "records:record:viewed"),
        (13, "records:record:acknowledged"),
    ]
    for proof in proofs:
        # Leaf hash from the entry alone: SHA-256(0x00 || RFC 8785 JSON).
        leaf = hashlib.sha256(b"\x00" + canonicalize(proof["entry"])).digest()
        assert leaf.hex() == proof["leaf_hash"]
        assert proof["entry"]["subject"] == RECORD
        verify_inclusion(
            leaf,
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(node) for node in proof["proof"]],
            bytes.fromhex(signed.root_hash),
        )


def test_prove_without_a_covering_checkpoint_says_the_root_is_unsigned(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    with transaction(sessions) as session:
        append_event(session, AuditEvent.RECORD_CREATED, actor="client:x", subject=RECORD, at=T0)
    append_many(sessions, 2)
    result = runner.invoke(gateway_app, ["audit", "prove", RECORD, "--database", database_url])
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    assert (output["checkpoint"], output["tree_size"]) == (None, 3)
    assert "root is unsigned" in result.stderr


def test_prove_of_an_unknown_record_fails(sessions: sessionmaker[Session], database_url: str) -> None:
    append_many(sessions, 2)
    result = runner.invoke(gateway_app, ["audit", "prove", "no-such-record", "--database", database_url])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert "no ledger entry has subject 'no-such-record'" in str(result.exception)


def test_checkpoints_lists_own_and_witnessed_and_the_alarm(
    sessions: sessionmaker[Session], node: Node, database_url: str, pki: TestPKI
) -> None:
    record_events(sessions, node)
    co = FakePartner(pki.signing_key("CO")).grow(4)
    co.publish()
    observe(node, co)
    co.publish(size=2)
    observe(node, co)
    result = runner.invoke(gateway_app, ["audit", "checkpoints", "--json", "--database", database_url])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert [(c["party"], c["own"], c["tree_size"], c["consistent"]) for c in listing["checkpoints"]] == [
        ("PA", True, 17, True),
        ("CO", False, 4, True),
        ("CO", False, 2, False),
    ]
    assert listing["checkpoints"][2]["note"] == "smaller tree: size 2 after size 4 was witnessed"
    assert listing["witness"]["CO"]["state"] == "fork"
    assert listing["witness"]["CO"]["alarm"] == "smaller tree: size 2 after size 4 was witnessed"
    table = runner.invoke(gateway_app, ["audit", "checkpoints", "--database", database_url])
    assert table.exit_code == 0, table.output
    assert "witnessed" in table.stdout
    assert "FORK" in table.stdout
