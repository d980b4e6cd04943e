"""The demo's last step: every ledger verifies and every partner witnessed the others."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.console import Console
from sqlalchemy import update

from gateway.demo import scenario
from gateway.demo.cluster import DemoNode, make_pki, start_nodes, stop_nodes
from gateway.demo.runner import check_ledgers
from gateway.ledger import repository
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.ledger.service import append_event
from gateway.terms.document import EXAMPLE_TERMS, signed_copy
from gateway.trust.keys import SigningKey


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DemoNode]]:
    workdir = tmp_path_factory.mktemp("demo-ledgers")
    files, _ = make_pki(workdir, ("PA", "CO", "US"))
    keys = {party: SigningKey.from_files(f.signing_key, f.signing_cert) for party, f in files.items()}
    terms = workdir / "terms" / EXAMPLE_TERMS.name
    signed_copy(EXAMPLE_TERMS, terms, keys)
    started = start_nodes(workdir, files, [terms])
    yield started
    stop_nodes(started)


def render(table: object) -> str:
    output = io.StringIO()
    Console(file=output, width=200).print(table)
    return output.getvalue()


def test_each_partner_witnessed_the_others_newest_checkpoint(nodes: dict[str, DemoNode]) -> None:
    for number, demo in enumerate(nodes.values()):
        with demo.node.transaction() as session:
            for event in range(number + 3):
                append_event(session, AuditEvent.RECORD_VIEWED, actor="demo", subject=f"r{event}", at=demo.node.now())
    text = render(check_ledgers(nodes))
    for party, demo in nodes.items():
        with demo.node.transaction() as session:
            own = repository.latest_own_checkpoint(session)
        assert own is not None
        assert own.tree_size >= 3
        for witness, other in nodes.items():
            if witness == party:
                continue
            with other.node.transaction() as session:
                seen = repository.witnessed_baseline(session, party)
            assert seen is not None
            assert (seen.tree_size, seen.root_hash) == (own.tree_size, own.root_hash)
        assert f"size {own.tree_size}" in text
    assert "Audit ledgers" in text


def test_a_tampered_ledger_stops_the_demo(nodes: dict[str, DemoNode]) -> None:
    with nodes["CO"].node.transaction() as session:
        session.execute(update(LedgerEntry).where(LedgerEntry.index == 1).values(actor="someone else"))
    with pytest.raises(scenario.ScenarioError, match="CO ledger does not verify: first bad entry index 1"):
        check_ledgers(nodes)
