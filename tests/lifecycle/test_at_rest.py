"""Record bodies at rest: sealed in every node's database, gone from earlier backups once retracted.

Runs on the shared PA/CO/US cluster of this package, on SQLite (the raw
database files) and PostgreSQL (a pg_dump).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.ledger.verification import verify_ledger
from gateway.oversight.service import build_report
from gateway.records.documents import envelope_of
from gateway.records.models import StoredRecord
from gateway.records.states import Direction
from gateway.vault.sealing import SEALED_PREFIX
from tests.lifecycle.agencies import Agency, assert_problem, draft
from tests.support.at_rest import copy_database, database_bytes, leaks, personal_strings, restore_database
from tests.support.databases import _admin
from tests.support.nodes import Cluster, wait_for


def _manifest_with_unique_people() -> tuple[dict[str, object], set[str]]:
    """The example manifest with names and passport numbers no other test uses (so a find is this test's)."""
    document = draft("removal_manifest")
    tag = uuid.uuid4().hex[:6].upper()
    people = document["body"]["people"]  # type: ignore[index]
    for index, person in enumerate(people):
        identity = person["identity"]
        identity["family_names"] = f"Quintanilla Ñáñez {tag} {index}"
        identity["given_names"] = f"Anaïs Zoë {tag}{index}"
        if identity.get("travel_document"):
            identity["travel_document"]["number"] = f"QZ{tag}{index:02d}"
    return document, personal_strings(document["body"])


def test_no_database_holds_a_name_or_document_number_in_any_encoding(
    cluster: Cluster, pa: Agency, co: Agency, us: Agency, tmp_path: Path
) -> None:
    document, secrets = _manifest_with_unique_people()
    assert len(secrets) >= 30  # names and passport numbers of every person
    manifest_id = pa.submit(document)
    pa.wait_delivered(manifest_id, ("CO", "US"))
    for holder in (pa, co, us):  # an authorized reader still sees every person
        body = holder.record(manifest_id)["body"]
        assert personal_strings(body) == secrets
        url = holder.running.node.settings.sqlalchemy_url()
        at_rest = database_bytes(url, tmp_path)
        assert manifest_id.encode() in at_rest  # the envelope is there, in the clear
        assert leaks(at_rest, secrets) == [], holder.party


def test_a_backup_from_before_a_retraction_shows_envelope_and_digest_but_no_body(
    cluster: Cluster, pa: Agency, co: Agency, tmp_path: Path
) -> None:
    document, secrets = _manifest_with_unique_people()
    manifest_id = pa.submit(document)
    pa.wait_delivered(manifest_id, ("CO", "US"))
    digest = co.record(manifest_id)["jws_sha256"]
    url = co.running.node.settings.sqlalchemy_url()
    backup = copy_database(url, tmp_path)

    retraction_id = pa.issue(f"/v1/records/{manifest_id}/retractions", {"reason": "data_inaccurate"})
    pa.wait_delivered(retraction_id, ("CO", "US"))
    wait_for(lambda: co.record(manifest_id)["body"] is None)

    if url.startswith("sqlite"):
        restored = f"sqlite:///{backup}"
    else:
        name = f"gwt_restore_{uuid.uuid4().hex[:12]}"
        _admin(f'CREATE DATABASE "{name}"')
        restored = url.rsplit("/", 1)[0] + "/" + name
        restore_database(backup, restored)
    engine = make_engine(restored)
    try:
        # The restored database opened with the node's own vault (today's key store).
        with transaction(make_sessionmaker(engine, co.running.node.vault)) as session:
            row = session.scalars(
                select(StoredRecord).where(
                    StoredRecord.record_id == manifest_id, StoredRecord.direction == Direction.IN
                )
            ).one()
            assert row.body_deleted_at is None  # the backup predates the retraction ...
            assert row.sealed_jws.startswith(SEALED_PREFIX)  # ... and still holds the sealed body,
            assert row.jws == ""  # which nothing opens: its data key was destroyed
            assert row.jws_sha256 == digest
            envelope = envelope_of(row)
            assert envelope is not None
            assert envelope["record_id"] == manifest_id
            assert "body" not in envelope
            assert leaks(row.sealed_jws.encode() + (row.envelope_json or "").encode(), secrets) == []
    finally:
        engine.dispose()
        if not url.startswith("sqlite"):
            _admin(f'DROP DATABASE IF EXISTS "{restored.rsplit("/", 1)[1]}" WITH (FORCE)')


def test_a_body_altered_in_the_database_is_refused_never_shown(cluster: Cluster, pa: Agency, co: Agency) -> None:
    manifest_id = pa.submit(draft("removal_manifest"))
    pa.wait_delivered(manifest_id, ("CO", "US"))
    node = co.running.node
    where = (StoredRecord.record_id == manifest_id, StoredRecord.direction == Direction.IN)
    with node.transaction() as session:
        original = session.scalars(select(StoredRecord.sealed_jws).where(*where)).one()
    # One character of the ciphertext changed, as an attacker with write access to the database would.
    position = len(SEALED_PREFIX) + 40
    altered = original[:position] + ("A" if original[position] != "A" else "B") + original[position + 1 :]
    try:
        with node.transaction() as session:
            session.execute(update(StoredRecord).where(*where).values(sealed_jws=altered))
        response = co.client.get(f"/v1/records/{manifest_id}")
        problem = assert_problem(response, 500, "record-body-tampered")
        assert problem["detail"] == "the stored body does not match its integrity tag"
        assert "people" not in response.text
    finally:
        with node.transaction() as session:
            session.execute(update(StoredRecord).where(*where).values(sealed_jws=original))
    assert co.record(manifest_id)["body"]["people"]


def test_the_oversight_report_and_ledger_verification_open_no_body(cluster: Cluster, pa: Agency) -> None:
    """With a session that has no vault (no key at all), the report counts lifecycle answers; the ledger verifies."""
    manifest_id = pa.submit(draft("removal_manifest"))
    pa.wait_delivered(manifest_id, ("CO", "US"))
    retraction_id = pa.issue(f"/v1/records/{manifest_id}/retractions", {"reason": "data_inaccurate"})
    pa.wait_delivered(retraction_id, ("CO", "US"))
    node = pa.running.node
    wait_for(lambda: {row["state"] for row in pa.dissemination(manifest_id)["holders"]} == {"retracted"})
    engine = make_engine(node.settings.sqlalchemy_url())
    try:
        with transaction(make_sessionmaker(engine)) as session:  # no vault: a sealed body would raise
            start = datetime.now(UTC) - timedelta(days=1)
            report = build_report(session, node, start, datetime.now(UTC) + timedelta(minutes=1))
            issued = {(row.recipient, row.record_type): row for row in report.instructions_issued}
            assert issued[("CO", "retraction")].applied >= 1
            assert issued[("US", "retraction")].applied >= 1
            assert verify_ledger(session, node.bundle).entries > 0
    finally:
        engine.dispose()
