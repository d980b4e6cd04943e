"""``gateway audit verify`` against tampered ledgers, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from gateway.commands.audit import app as audit_app
from gateway.db import transaction
from gateway.ledger import repository
from gateway.ledger.checkpoints import sign_body, sign_checkpoint
from gateway.ledger.errors import LedgerTamperedError
from gateway.ledger.models import Checkpoint, LedgerEntry, LedgerHead, LedgerNode
from gateway.ledger.schemas import CheckpointBody
from gateway.ledger.service import entry_leaf_hash
from gateway.ledger.tree import InMemoryNodeStore, MerkleTree
from gateway.ledger.verification import verify_ledger
from gateway.node import Node
from tests.ledger.conftest import append_many
from tests.support.pki import TestPKI

runner = CliRunner()


def verify(sessions: sessionmaker[Session], node: Node | None = None) -> int | None:
    """Run verify_ledger; return the first bad index it names (fails if it passes)."""
    with transaction(sessions) as session, pytest.raises(LedgerTamperedError) as caught:
        verify_ledger(session, node.bundle if node is not None else None)
    return caught.value.first_bad_index


def ledger_with_checkpoints(sessions: sessionmaker[Session], node: Node, sizes: tuple[int, ...]) -> None:
    done = 0
    for size in sizes:
        append_many(sessions, size - done, per_transaction=7, tag=f"{size}-")
        done = size
        with transaction(sessions) as session:
            sign_checkpoint(session, node)


def set_entry(sessions: sessionmaker[Session], index: int, **values: object) -> None:
    with transaction(sessions) as session:
        session.execute(update(LedgerEntry).where(LedgerEntry.index == index).values(**values))


def test_an_intact_ledger_verifies_with_its_checkpoints(sessions: sessionmaker[Session], node: Node) -> None:
    ledger_with_checkpoints(sessions, node, (10, 20, 41))
    with transaction(sessions) as session:
        report = verify_ledger(session, node.bundle)
        _, root = repository.read_head(session)
    assert (report.entries, report.own_checkpoints, report.signatures_checked) == (41, 3, True)
    assert report.root_hash == root.hex() if root else False
    assert report.nodes == sum(41 >> level for level in range(1, 6))


def test_an_updated_entry_is_named(sessions: sessionmaker[Session], node: Node) -> None:
    ledger_with_checkpoints(sessions, node, (10, 40))
    set_entry(sessions, 17, subject="someone-else")
    assert verify(sessions, node) == 17


def test_a_deleted_entry_is_named(sessions: sessionmaker[Session], node: Node) -> None:
    ledger_with_checkpoints(sessions, node, (10, 40))
    with transaction(sessions) as session:
        session.execute(delete(LedgerEntry).where(LedgerEntry.index == 17))
    assert verify(sessions, node) == 17


def test_two_swapped_entries_are_named_by_the_first(sessions: sessionmaker[Session], node: Node) -> None:
    ledger_with_checkpoints(sessions, node, (10, 40))
    columns = ("event", "actor", "subject", "at", "detail_sha256", "leaf_hash")
    with transaction(sessions) as session:
        first, second = (session.scalars(select(LedgerEntry).where(LedgerEntry.index == i)).one() for i in (5, 30))
        a = {c: getattr(first, c) for c in columns}
        b = {c: getattr(second, c) for c in columns}
    set_entry(sessions, 5, **b)
    set_entry(sessions, 30, **a)
    assert verify(sessions, node) == 5


def test_an_entry_changed_with_its_leaf_hash_is_caught_by_the_stored_nodes(
    sessions: sessionmaker[Session], node: Node
) -> None:
    ledger_with_checkpoints(sessions, node, (10, 40))
    with transaction(sessions) as session:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.index == 17)).one()
        entry.subject = "someone-else"
        entry.leaf_hash = entry_leaf_hash(entry)
    with transaction(sessions) as session, pytest.raises(LedgerTamperedError) as caught:
        verify_ledger(session, node.bundle)
    # Node (1, 8) over entries 16 and 17 is the narrowest witness of the change.
    assert caught.value.first_bad_index == 16
    assert any("node (1, 8)" in problem for problem in caught.value.problems)


def test_a_rewrite_of_every_hash_is_caught_by_the_signed_checkpoints(
    sessions: sessionmaker[Session], node: Node
) -> None:
    ledger_with_checkpoints(sessions, node, (10, 20, 30))
    # The attacker changes entry 17 and recomputes every leaf, node and the head.
    set_entry(sessions, 17, subject="someone-else")
    with transaction(sessions) as session:
        entries = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.index)))
        store = InMemoryNodeStore()
        tree = MerkleTree(store)
        for entry in entries:
            entry.leaf_hash = entry_leaf_hash(entry)
            tree.append_leaf_hash(entry.leaf_hash)
        for row in session.scalars(select(LedgerNode)):
            value = store.get(row.level, row.index)
            assert value is not None
            row.hash = value
        session.execute(update(LedgerHead).values(root_hash=tree.root()))
    with transaction(sessions) as session, pytest.raises(LedgerTamperedError) as caught:
        verify_ledger(session, node.bundle)
    # Checkpoint 10 still matches, checkpoint 20 does not: the change is in 10..19.
    assert caught.value.first_bad_index == 10
    assert any("own checkpoint of size 20" in problem for problem in caught.value.problems)


def test_a_truncated_ledger_is_named_where_it_was_cut(sessions: sessionmaker[Session], node: Node) -> None:
    ledger_with_checkpoints(sessions, node, (10, 40))
    with transaction(sessions) as session:
        session.execute(delete(LedgerEntry).where(LedgerEntry.index >= 35))
        session.execute(update(LedgerHead).values(size=35))
    assert verify(sessions, node) == 35


def test_a_changed_checkpoint_row_is_reported_without_an_entry(sessions: sessionmaker[Session], node: Node) -> None:
    ledger_with_checkpoints(sessions, node, (10,))
    with transaction(sessions) as session:
        session.execute(update(Checkpoint).values(root_hash="ab" * 32))
    with (
        transaction(sessions) as session,
        pytest.raises(LedgerTamperedError, match="differs from its signed payload") as caught,
    ):
        verify_ledger(session, node.bundle)
    assert caught.value.first_bad_index is None


def test_an_own_checkpoint_signed_by_another_party_is_refused(
    sessions: sessionmaker[Session], node: Node, pki: TestPKI
) -> None:
    append_many(sessions, 3)
    with transaction(sessions) as session:
        _, root = repository.read_head(session)
        assert root is not None
        now = node.now().replace(microsecond=0)
        body = CheckpointBody(origin="PA-gateway", party="PA", tree_size=3, root_hash=root.hex(), signed_at=now)
        forged = sign_body(body, pki.signing_key("CO"))
        session.add(
            Checkpoint(
                origin=body.origin,
                party="PA",
                own=True,
                tree_size=3,
                root_hash=root.hex(),
                signed_at=now,
                stored_at=now,
                jws=forged,
                consistent=True,
            )
        )
    with transaction(sessions) as session, pytest.raises(LedgerTamperedError, match=r"belongs to 'CO'"):
        verify_ledger(session, node.bundle)


def test_cli_names_the_bad_index_and_exits_1(sessions: sessionmaker[Session], database_url: str) -> None:
    append_many(sessions, 30)
    ok = runner.invoke(audit_app, ["verify", "--database", database_url])
    assert ok.exit_code == 0, ok.output
    assert "ledger verified: 30 entries" in ok.stdout
    set_entry(sessions, 12, actor="party:US")
    bad = runner.invoke(audit_app, ["verify", "--database", database_url])
    assert bad.exit_code == 1
    assert "first bad entry index 12" in bad.stderr
    assert "entry 12 was changed" in bad.stderr


def test_cli_checks_signatures_with_the_configured_bundle(
    sessions: sessionmaker[Session], node: Node, database_url: str, tmp_path: Path, pki: TestPKI
) -> None:
    ledger_with_checkpoints(sessions, node, (5,))
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\nparty = "PA"\ntrust_bundle = "{pki.bundle_path}"\n', "utf-8")
    result = runner.invoke(audit_app, ["verify", "--config", str(config), "--database", database_url])
    assert result.exit_code == 0, result.output
    assert "1 own checkpoints" in result.stdout
    assert "not checked" not in result.stderr


def test_cli_refuses_a_missing_sqlite_file(tmp_path: Path) -> None:
    result = runner.invoke(audit_app, ["verify", "--database", f"sqlite:///{tmp_path / 'nope.sqlite3'}"])
    assert result.exit_code == 1
    assert "no database file" in result.stderr
    assert not (tmp_path / "nope.sqlite3").exists()
