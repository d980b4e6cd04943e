"""The node records its signing key and the terms signatures once, when it first runs with them."""

from __future__ import annotations

from pathlib import Path

from gateway.ledger import repository
from gateway.ledger.events import AuditEvent
from gateway.ledger.facts import record_startup_facts
from gateway.node import build_node
from tests.support.databases import DatabaseFactory
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI


def test_key_and_terms_signatures_are_recorded_once(
    pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    node = build_node(node_settings(pki, "PA", database_factory.fresh_url(), tmp_path, {}))
    try:
        first = record_startup_facts(node)
        again = record_startup_facts(node)
        with node.transaction() as session:
            entries = repository.entries(session, 0, None)
            events = [(e.event, e.subject) for e in entries]
    finally:
        node.close()
    assert again == []
    assert first[0] == f"key:{node.signing_key.kid}"
    signed = sorted(subject.split(":")[3] for event, subject in events if event == AuditEvent.TERMS_SIGNED.value)
    assert signed == ["CO", "PA", "US"]
    assert [event for event, _ in events].count(AuditEvent.KEY_ADDED.value) == 1
    assert len(events) == len(first) == 4
