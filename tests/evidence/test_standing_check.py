"""``gateway evidence check-standing``: a CRL adopted after the fact makes a received record suspect.

The flag is a ledger event, the officer who viewed the record is named, a
second run flags nothing again, and ``gateway report`` counts the record.
A superseded revocation makes nothing suspect.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.exchange.receipts import issue_receipt
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.ledger.service import append_event
from gateway.node import Node, build_node
from gateway.records.models import StoredRecord
from gateway.records.schemas import Receipt
from gateway.trust.bundle import TrustBundle
from gateway.trust.pki import revoke_in_dir
from tests.console.conftest import Received, example, store_received
from tests.support.exchange import write_settings_toml
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI

runner = CliRunner()


@pytest.fixture
def node(pki: TestPKI, database_url: str, tmp_path: Path) -> Iterator[Node]:
    """A PA node on the real clock (the command runs on it too)."""
    built = build_node(node_settings(pki, "PA", database_url, tmp_path / "pa", {}, standing_check_seconds=0))
    yield built
    built.close()


def received_and_viewed(node: Node, pki: TestPKI) -> Received:
    """A flag from CO, receipted by PA, viewed by officer ana.luz."""
    received = store_received(node, pki, example("criminal_network_flag"), sender="CO")
    with node.transaction() as session:
        stored = session.get(StoredRecord, received.pk)
        assert stored is not None
        stored.receipt_jws = issue_receipt(
            Receipt(
                record_id=stored.record_id,
                jws_sha256=stored.jws_sha256,
                received_at=stored.stored_at,
                receiver="PA",
                sender="CO",
                verdict="accepted",
                ledger_index=0,
            ),
            node.signing_key,
        )
        append_event(
            session, AuditEvent.RECORD_VIEWED, actor="officer:ana.luz", subject=received.record_id, at=node.now()
        )
    return received


def config_with_co_revoked(
    node: Node, pki: TestPKI, tmp_path: Path, reason: x509.ReasonFlags, invalidity: datetime | None
) -> Path:
    """A settings file whose trust bundle holds CO's CRL revoking its signing certificate (a copy of CO's CA)."""
    copy = tmp_path / "co-ca"
    shutil.copytree(pki.parties["CO"].root, copy)
    revoke_in_dir(
        copy, copy / "signing.pem", reason=reason, invalidity_date=invalidity, now=node.now() + timedelta(seconds=1)
    )
    bundle = TrustBundle({**node.bundle.parties, "CO": TrustBundle.load(copy / "bundle-entry.json").parties["CO"]})
    path = tmp_path / "trust-bundle-adopted.json"
    path.write_text(bundle.to_json(), "utf-8")
    return write_settings_toml(tmp_path / "gateway.toml", node.settings.model_copy(update={"trust_bundle": path}))


def gateway(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return result.stdout


def suspected(node: Node) -> list[tuple[str, str]]:
    with node.transaction() as session:
        rows = session.execute(
            select(LedgerEntry.actor, LedgerEntry.subject).where(LedgerEntry.event == AuditEvent.RECORD_SUSPECTED.value)
        ).all()
    return [(str(a), str(s)) for a, s in rows]


def test_a_key_compromised_before_receipt_flags_the_record_names_its_reviewer_and_counts_in_the_report(
    node: Node, pki: TestPKI, tmp_path: Path
) -> None:
    received = received_and_viewed(node, pki)
    invalid_since = (node.now() - timedelta(days=1)).replace(microsecond=0)
    config = config_with_co_revoked(node, pki, tmp_path, x509.ReasonFlags.key_compromise, invalid_since)

    lines = gateway("evidence", "check-standing", "--config", str(config)).splitlines()
    assert lines[0].startswith(f"SUSPECT {received.record_id} (from CO): ")
    assert f"for key_compromise; the key is held compromised since {invalid_since.isoformat()}" in lines[0]
    assert lines[1:] == [
        "  notified: ana.luz",
        "standing checked: 1 record(s) judged, 1 newly suspect, 1 officer notice(s)",
    ]
    assert suspected(node) == [("cli", received.record_id)]

    again = gateway("evidence", "check-standing", "--config", str(config))
    assert again == "standing checked: 0 record(s) judged, 0 newly suspect, 0 officer notice(s)\n"
    assert suspected(node) == [("cli", received.record_id)]

    today = datetime.now(UTC).date()
    period = ["--from", today.isoformat(), "--to", (today + timedelta(days=1)).isoformat()]
    rows = list(csv.reader(io.StringIO(gateway("report", *period, "--format", "csv", "--config", str(config)))))
    assert [row for row in rows if row[0] == "suspect_records"] == [
        ["suspect_records", "CO", "criminal_network_flag", "received", "count", "1"],
        ["suspect_records", "", "", "all", "count", "1"],
    ]


def test_a_superseded_revocation_flags_nothing(node: Node, pki: TestPKI, tmp_path: Path) -> None:
    received_and_viewed(node, pki)
    config = config_with_co_revoked(node, pki, tmp_path, x509.ReasonFlags.superseded, None)
    output = gateway("evidence", "check-standing", "--config", str(config))
    assert output == "standing checked: 0 record(s) judged, 0 newly suspect, 0 officer notice(s)\n"
    assert suspected(node) == []
    today = datetime.now(UTC).date()
    period = ["--from", today.isoformat(), "--to", (today + timedelta(days=1)).isoformat()]
    rows = list(csv.reader(io.StringIO(gateway("report", *period, "--format", "csv", "--config", str(config)))))
    assert [row for row in rows if row[0] == "suspect_records"] == [["suspect_records", "", "", "all", "count", "0"]]
