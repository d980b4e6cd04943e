"""The retention job on one node whose clock is moved forward (no sleeping), on both backends."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.exchange.models import Delivery
from gateway.ledger.verification import verify_ledger
from gateway.lifecycle.errors import NotHeldError, RecordWithdrawnError
from gateway.node import Node
from gateway.records.errors import RecordIdAmbiguousError
from gateway.records.models import StoredRecord
from gateway.retention.errors import LegalHoldExistsError, LegalHoldReasonError, NoLegalHoldError
from gateway.retention.scheduler import RetentionScheduler, run_retention_pass
from gateway.retention.service import DeletedBody, place_legal_hold, release_legal_hold, review_due
from gateway.trust.jws import b64url_decode
from tests.retention.conftest import DAY, ManualClock, events_about, make_node, rows_of, sign_flag, sign_manifest
from tests.support.mou_terms import expiring, write_terms
from tests.support.pki import TestPKI


def test_clock_forward_deletes_exactly_the_expired_bodies_and_keeps_the_audit_trail(
    node: Node, clock: ManualClock
) -> None:
    suspect = sign_flag(node, status="suspect", keep_days=365)
    charged = sign_flag(node, status="charged", keep_days=1095)
    manifest = sign_manifest(node, keep_days=730)
    before = {r: rows_of(node, r)[0] for r in (suspect, charged, manifest)}

    clock.advance(364 * DAY)
    assert run_retention_pass(node, actor="test").deleted == []  # a day early: nothing

    clock.advance(36 * DAY)  # +400 days: only the suspect's flag (365 days) has expired
    report = run_retention_pass(node, actor="test")
    assert report.deleted == [DeletedBody(suspect, "out", "criminal_network_flag")]
    # The example terms: an originator does not notify its recipients.
    assert (report.held, report.notices, report.errors) == ([], [], [])

    gone = rows_of(node, suspect)[0]
    assert gone.jws == ""
    assert gone.jws_sha256 == before[suspect].jws_sha256  # receipts and ledger still name these bytes
    assert (gone.body_deleted_reason, gone.body_deleted_at) == ("retention", clock.now)
    signed = json.loads(b64url_decode(before[suspect].jws.split(".")[1]))
    kept = json.loads(gone.envelope_json or "{}")
    assert kept == {k: v for k, v in signed.items() if k != "body"}
    for record_id in (charged, manifest):
        assert rows_of(node, record_id)[0].jws == before[record_id].jws
    # Its undelivered copy to CO is cancelled, not sent with an empty body.
    with node.transaction() as session:
        statuses = dict(
            session.execute(
                select(StoredRecord.record_id, Delivery.status).join(Delivery, Delivery.record_pk == StoredRecord.pk)
            ).all()
        )
    assert statuses == {suspect: "cancelled", charged: "pending", manifest: "pending"}
    assert events_about(node, suspect) == [
        "records:record:created",
        "exchange:delivery:cancelled",
        "records:body:deleted",
    ]
    with node.transaction() as session:
        assert verify_ledger(session, node.bundle).entries >= 5

    again = run_retention_pass(node, actor="test")
    assert (again.deleted, again.notices) == ([], [])  # idempotent
    assert events_about(node, suspect)[-1] == "records:body:deleted"

    clock.advance(331 * DAY)  # +731 days: the manifest goes too, the charged person's flag stays
    late = run_retention_pass(node, actor="test")
    assert ([d.record_id for d in late.deleted], late.errors) == ([manifest], [])
    assert rows_of(node, charged)[0].jws == before[charged].jws


def test_a_backlog_is_deleted_in_bounded_transactions(node: Node, clock: ManualClock) -> None:
    flags = [sign_flag(node) for _ in range(5)]
    clock.advance(366 * DAY)
    report = run_retention_pass(node, actor="test", batch_size=2)
    assert [d.record_id for d in report.deleted] == flags
    assert report.exhausted
    stopped = run_retention_pass(node, actor="test", keep_going=lambda: False)
    assert (stopped.deleted, stopped.exhausted) == ([], False)


def test_a_legal_hold_keeps_an_expired_record_until_released(node: Node, clock: ManualClock) -> None:
    held = sign_flag(node)
    other = sign_flag(node)
    with node.transaction() as session:
        change = place_legal_hold(session, node, held, reason=" Case 2027-114, court order ", actor="admin:ana")
    assert (change.directions, change.reason, change.by) == (["out"], "Case 2027-114, court order", "admin:ana")

    clock.advance(400 * DAY)
    report = run_retention_pass(node, actor="test")
    assert [d.record_id for d in report.deleted] == [other]
    assert [(h.record_id, h.reason, h.held_by) for h in report.held] == [
        (held, "Case 2027-114, court order", "admin:ana")
    ]
    assert rows_of(node, held)[0].jws != ""
    assert [h.record_id for h in run_retention_pass(node, actor="test").held] == [held]  # reported every run

    with node.transaction() as session:
        release_legal_hold(session, node, held, actor="admin:ana")
    assert [d.record_id for d in run_retention_pass(node, actor="test").deleted] == [held]
    assert events_about(node, held)[-4:] == [
        "records:hold:placed",
        "records:hold:released",
        "exchange:delivery:cancelled",
        "records:body:deleted",
    ]


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_legal_hold_needs_a_reason(node: Node, reason: str) -> None:
    record_id = sign_flag(node)
    with node.transaction() as session, pytest.raises(LegalHoldReasonError, match="1 to 500 characters"):
        place_legal_hold(session, node, record_id, reason=reason, actor="admin")
    assert rows_of(node, record_id)[0].legal_hold_at is None


def test_legal_hold_errors_name_what_is_wrong(node: Node, clock: ManualClock) -> None:
    record_id = sign_flag(node)
    unknown = "01ba3c31-f739-79c4-9a2b-3c4d5e6f7000"
    with node.transaction() as session, pytest.raises(NotHeldError, match=unknown):
        place_legal_hold(session, node, unknown, reason="case", actor="admin")
    with node.transaction() as session, pytest.raises(NoLegalHoldError, match="not under a legal hold"):
        release_legal_hold(session, node, record_id, actor="admin")
    with node.transaction() as session:
        place_legal_hold(session, node, record_id, reason="case 1", actor="admin")
    with node.transaction() as session, pytest.raises(LegalHoldExistsError, match="held since"):
        place_legal_hold(session, node, record_id, reason="case 2", actor="admin")
    assert rows_of(node, record_id)[0].legal_hold_reason == "case 1"

    expired = sign_flag(node)
    clock.advance(400 * DAY)
    run_retention_pass(node, actor="test")
    with node.transaction() as session, pytest.raises(RecordWithdrawnError, match="already deleted"):
        place_legal_hold(session, node, expired, reason="too late", actor="admin")


def test_review_due_lists_records_past_review_and_not_yet_expired(node: Node, clock: ManualClock) -> None:
    flag = sign_flag(node, keep_days=365)  # review due after 30 days
    manifest = sign_manifest(node, keep_days=730)
    with node.transaction() as session:
        assert review_due(session, node) == []
    clock.advance(31 * DAY)
    with node.transaction() as session:
        due = review_due(session, node)
    assert [(d.record_id, d.days_left, d.legal_hold) for d in due] == [(flag, 334, False), (manifest, 699, False)]
    clock.advance(369 * DAY)  # the flag expired: it is the job's now, not a review's
    with node.transaction() as session:
        assert [d.record_id for d in review_due(session, node)] == [manifest]


def _notify_recipients(document: dict[str, Any]) -> None:
    expiring(datetime.now(UTC).date() + 5 * 365 * DAY)(document)
    document["deletion_notices"] = {"recipients_notify_originator": True, "originator_notifies_recipients": True}


def test_an_originator_notifies_its_recipients_when_the_terms_say_so(
    pki: TestPKI, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    terms = write_terms(pki, tmp_path / "terms" / "notify-recipients.yaml", edit=_notify_recipients)
    node = make_node(pki, database_url, tmp_path / "pa", clock, terms_files=[terms])
    try:
        flag = sign_flag(node)
        manifest = sign_manifest(node)
        digest = rows_of(node, flag)[0].jws_sha256
        clock.advance(400 * DAY)
        report = run_retention_pass(node, actor="test")
        assert [d.record_id for d in report.deleted] == [flag]
        [notice] = report.notices
        assert (notice.about_record_id, notice.recipients, report.errors) == (flag, ["CO"], [])
        row = rows_of(node, notice.notice_record_id)[0]
        assert (row.record_type, row.refers_to, row.recipients, row.direction) == ("deletion_notice", flag, "CO", "out")
        body = json.loads(b64url_decode(row.jws.split(".")[1]))["body"]
        assert body == {
            "deleted_record_id": flag,
            "deleted_jws_sha256": digest,
            "ground": "retention_expired",
            "deleted_at": clock.now.isoformat().replace("+00:00", "Z"),
        }
        assert rows_of(node, manifest)[0].jws != ""
    finally:
        node.close()


def test_deletion_does_not_wait_for_a_notice_that_cannot_be_sent(
    pki: TestPKI, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    # Terms that end in 100 days: when the flag expires no notice can be signed, but the body still goes.
    terms = write_terms(pki, tmp_path / "short.yaml", edit=expiring(clock.now.date() + 100 * DAY))
    node = make_node(pki, database_url, tmp_path / "pa", clock, terms_files=[terms])
    try:
        flag = sign_flag(node)
        clock.advance(400 * DAY)
        report = run_retention_pass(node, actor="test")
        assert [d.record_id for d in report.deleted] == [flag]
        assert report.notices == []
        assert report.errors == [f"no terms in force: no deletion notice sent for {flag}"]
        assert rows_of(node, flag)[0].jws == ""
    finally:
        node.close()


def test_the_scheduler_runs_a_pass_and_warns_about_reviews(
    node: Node, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    flag = sign_flag(node, keep_days=365)
    manifest = sign_manifest(node, keep_days=730)
    with node.transaction() as session:
        place_legal_hold(session, node, manifest, reason="case", actor="admin")
    clock.advance(400 * DAY)
    ticks = iter([0.0, 1.0])
    scheduler = RetentionScheduler(node, monotonic=lambda: next(ticks))
    with caplog.at_level(logging.INFO, logger="gateway.retention"):
        report = scheduler.run_once()
    assert [d.record_id for d in report.deleted] == [flag]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["retention: 1 records are past their review date; 0 expired records are kept by a legal hold"]
    assert scheduler.next_run == 30.0  # the first pass comes soon after start, not an interval later


def _file_under_another_originator(node: Node, record_id: str, party: str) -> None:
    """Store a valid incoming copy of ``record_id`` as if ``party`` had also used the id (ids are per originator)."""
    with node.transaction() as session:
        own = session.scalars(select(StoredRecord).where(StoredRecord.record_id == record_id)).one()
        # Not body_key: the copy's body is sealed afresh under its own data key and binding.
        copied = [c.key for c in StoredRecord.__mapper__.column_attrs if c.key not in ("pk", "body_key")]
        columns = {key: getattr(own, key) for key in copied}
        columns.update(originator_party=party, direction="in", jws_sha256="f" * 64)
        session.add(StoredRecord(**columns))


def test_a_legal_hold_names_one_originators_record(node: Node) -> None:
    # Before: a hold (and its release) took every valid row under the id,
    # whichever originator's record it was.
    record_id = sign_flag(node)
    _file_under_another_originator(node, record_id, "CO")
    with node.transaction() as session, pytest.raises(RecordIdAmbiguousError, match="originators CO, PA"):
        place_legal_hold(session, node, record_id, reason="case", actor="admin:ana")
    with node.transaction() as session:
        change = place_legal_hold(session, node, record_id, reason="case", actor="admin:ana", originator="PA")
    assert change.directions == ["out"]
    held = {(r.originator_party, r.legal_hold_at is not None) for r in rows_of(node, record_id)}
    assert held == {("PA", True), ("CO", False)}
    with node.transaction() as session, pytest.raises(NoLegalHoldError):
        release_legal_hold(session, node, record_id, actor="admin:ana", originator="CO")
    with node.transaction() as session, pytest.raises(NotHeldError, match=f"no valid record {record_id} from US"):
        release_legal_hold(session, node, record_id, actor="admin:ana", originator="US")
