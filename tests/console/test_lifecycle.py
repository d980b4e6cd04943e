"""The record lifecycle in the console over HTTP (ASGI), on SQLite and PostgreSQL.

A CO node (tests/console/conftest.py) holds records it received from PA and
records it signed itself; officers retract, report discrepancies, answer
onward-sharing requests and discrepancy reports, and place legal holds.
"""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.console.i18n import LABELS
from gateway.console.lifecycle_views import BADGES
from gateway.console.schemas import Role
from gateway.exchange.outgoing import submit_draft
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.lifecycle.corrections import apply_correction
from gateway.lifecycle.discrepancies import apply_report
from gateway.lifecycle.erasure import delete_body
from gateway.node import Node
from gateway.records.lifecycle_bodies import DiscrepancyCategory, DiscrepancyOutcome, RetractionReason
from gateway.records.models import Delivery, StoredRecord
from gateway.records.repository import LIFECYCLE_STATES
from gateway.records.signing import build_record, rfc3339, sign_record
from tests.console.conftest import ManualClock, Received, example, signed_in, store_received
from tests.support.pki import TestPKI

pytestmark = pytest.mark.anyio


def _row(node: Node, pk: int) -> StoredRecord:
    with node.transaction() as session:
        row = session.get(StoredRecord, pk)
        assert row is not None
        session.expunge(row)
        return row


def _events(node: Node, subject: str) -> list[str]:
    with node.transaction() as session:
        return list(session.scalars(select(LedgerEntry.event).where(LedgerEntry.subject == subject)))


def own_flag(node: Node, recipients: list[str] | None = None) -> Received:
    """Sign a criminal-network flag at CO (the node under test) for ``recipients``; return it."""
    draft = example("criminal_network_flag")
    draft["originator"] = {"party": "CO", "agency": "Migración Colombia", "officer_ref": "MC-0001"}
    draft["recipients"] = recipients or ["PA", "US"]
    with node.transaction() as session:
        submission = submit_draft(session, node, draft, actor="test")
        return Received(submission.record.pk, submission.record.record_id or "")


def lifecycle_draft(record_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """A PA lifecycle record for CO with the envelope of the example flag."""
    envelope = {k: v for k, v in example("criminal_network_flag").items() if k not in ("body", "supersedes")}
    return {**envelope, "record_type": record_type, "recipients": ["CO"], "body": body}


def received_from_pa(node: Node, pki: TestPKI, record_type: str, body: dict[str, Any]) -> Received:
    return store_received(node, pki, lifecycle_draft(record_type, body), sender="PA")


async def test_a_retracted_record_renders_with_the_deleted_body_notice(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    flag = own_flag(node)
    officer, csrf = await signed_in(http, node, Role.REVIEWER)
    page = await http.get(f"/console/records/{flag.pk}")
    assert page.status_code == 200
    assert 'id="retract-form"' in page.text
    assert 'id="dissemination-table"' in page.text
    assert 'data-party="PA" data-state="pending"' in page.text

    response = await http.post(
        f"/console/records/{flag.pk}/retract",
        data={"reason": "wrong_person", "comment": "Otra persona con el mismo nombre", "csrf_token": csrf},
    )
    assert (response.status_code, response.headers["location"]) == (303, f"/console/records/{flag.pk}?done=retracted")
    row = _row(node, flag.pk)
    assert (row.jws, row.body_deleted_reason) == ("", "retraction")
    assert row.retracted_by is not None
    assert row.envelope_json is not None
    with node.transaction() as session:
        deliveries = session.scalars(select(Delivery).where(Delivery.record_pk == flag.pk)).all()
        retraction = session.scalars(select(StoredRecord).where(StoredRecord.record_id == row.retracted_by)).one()
        assert retraction.recipients == "PA,US"
    assert {d.status for d in deliveries} == {"cancelled"}  # the body must not go out any more
    events = _events(node, flag.record_id)
    assert AuditEvent.RECORD_RETRACTED.value in events
    assert AuditEvent.BODY_DELETED.value in events

    page = await http.get(f"/console/records/{flag.pk}?done=retracted")
    assert page.status_code == 200
    assert 'id="action-done"' in page.text
    assert 'id="retracted-banner"' in page.text
    assert 'id="retraction-reason">wrong person<' in page.text
    assert "Otra persona con el mismo nombre" in page.text
    deleted = f"body deleted on {row.body_deleted_at:%Y-%m-%d %H:%M:%S} UTC (retraction); envelope and SHA-256 kept"
    assert f'id="verification-body-deleted">{deleted}<' in page.text
    assert f'id="body-deleted">{deleted}<' in page.text
    assert row.jws_sha256 in page.text
    assert 'id="envelope"' in page.text  # the kept envelope is still shown
    assert 'id="retract-form"' not in page.text
    assert 'data-lifecycle="retracted"' in page.text
    assert f'href="/console/records/{retraction.pk}"' in page.text
    assert "records:record:retracted" in page.text  # in the custody timeline
    assert f"officer:{officer.username}" in page.text
    outbox = await http.get("/console/outbox")
    assert 'data-lifecycle="retracted"' in outbox.text
    # the node keeps refusing a second retraction; the page says why and nothing changes
    again = await http.post(f"/console/records/{flag.pk}/retract", data={"reason": "acquitted", "csrf_token": csrf})
    assert again.status_code == 409
    assert 'id="action-error"' in again.text
    assert "was already retracted" in again.text


async def test_a_received_record_whose_body_was_deleted_renders_everywhere(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    manifest = store_received(node, pki, example("removal_manifest"))
    with node.transaction() as session:
        row = session.get(StoredRecord, manifest.pk)
        assert row is not None
        assert delete_body(session, row, reason="retention", actor="retention", now=node.now())
    await signed_in(http, node, Role.ADMIN)
    inbox = await http.get("/console/inbox")
    assert inbox.status_code == 200
    assert 'data-lifecycle="deleted"' in inbox.text
    deleted = await http.get("/console/inbox?lifecycle=deleted")
    assert f'href="/console/records/{manifest.pk}" class="record-link"' in deleted.text
    assert 'href="/console/records/' not in (await http.get("/console/inbox?lifecycle=retracted")).text
    page = await http.get(f"/console/records/{manifest.pk}")
    assert page.status_code == 200
    assert "(end of retention); envelope and SHA-256 kept" in page.text
    assert 'id="retention-banner"' in page.text
    assert 'id="answer-form"' not in page.text  # nothing left to acknowledge
    assert 'id="hold-form"' not in page.text  # nothing left to hold
    assert 'id="discrepancy-form"' not in page.text
    assert 'id="people"' not in page.text
    spanish = await http.get(f"/console/records/{manifest.pk}?lang=es")
    assert "(fin de la conservación); se conservan el sobre y el SHA-256" in spanish.text


async def test_viewers_cannot_see_or_post_lifecycle_actions(http: httpx.AsyncClient, node: Node, pki: TestPKI) -> None:
    flag = own_flag(node)
    manifest = store_received(node, pki, example("removal_manifest"))
    _, csrf = await signed_in(http, node, Role.VIEWER)
    for pk in (flag.pk, manifest.pk):
        page = await http.get(f"/console/records/{pk}")
        assert page.status_code == 200
        assert 'id="lifecycle-actions"' not in page.text
    posts = [
        (f"/console/records/{flag.pk}/retract", {"reason": "wrong_person"}),
        (f"/console/records/{manifest.pk}/discrepancy", {"category": "other", "details": "x"}),
        (f"/console/records/{manifest.pk}/hold", {"reason": "case 1"}),
        (f"/console/records/{manifest.pk}/release", {}),
    ]
    for url, form in posts:
        response = await http.post(url, data={**form, "csrf_token": csrf})
        assert response.status_code == 403, url
        assert "Not allowed for your role" in response.text
    assert _row(node, flag.pk).retracted_by is None
    assert _row(node, manifest.pk).contested_by is None
    assert _row(node, manifest.pk).legal_hold_at is None


async def test_lifecycle_posts_without_the_csrf_token_are_refused(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    flag = own_flag(node)
    _, csrf = await signed_in(http, node, Role.ADMIN)
    for form in ({"reason": "wrong_person"}, {"reason": "wrong_person", "csrf_token": csrf[:-2] + "xx"}):
        response = await http.post(f"/console/records/{flag.pk}/retract", data=form)
        assert response.status_code == 403
        assert "Form token missing or invalid" in response.text
    response = await http.post(f"/console/records/{flag.pk}/hold", data={"reason": "case 7"})
    assert response.status_code == 403
    row = _row(node, flag.pk)
    assert (row.retracted_by, row.legal_hold_at, row.jws != "") == (None, None, True)


async def test_a_legal_hold_needs_a_reason_and_only_an_admin_places_it(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    manifest = store_received(node, pki, example("removal_manifest"))
    from gateway.app import create_agency_app

    transport = httpx.ASGITransport(app=create_agency_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="http://agency.test") as reviewer_http:
        _, reviewer_csrf = await signed_in(reviewer_http, node, Role.REVIEWER)
        page = await reviewer_http.get(f"/console/records/{manifest.pk}")
        assert 'id="hold-form"' not in page.text
        refused = await reviewer_http.post(
            f"/console/records/{manifest.pk}/hold", data={"reason": "case 9", "csrf_token": reviewer_csrf}
        )
        assert refused.status_code == 403

    admin, csrf = await signed_in(http, node, Role.ADMIN)
    assert 'id="hold-form"' in (await http.get(f"/console/records/{manifest.pk}")).text
    blank = await http.post(f"/console/records/{manifest.pk}/hold", data={"reason": "   ", "csrf_token": csrf})
    assert blank.status_code == 400
    assert 'id="action-error"' in blank.text
    assert "the reason of a legal hold is required" in blank.text
    assert _row(node, manifest.pk).legal_hold_at is None

    held = await http.post(
        f"/console/records/{manifest.pk}/hold", data={"reason": "Fiscalía caso 2026-114", "csrf_token": csrf}
    )
    assert (held.status_code, held.headers["location"]) == (303, f"/console/records/{manifest.pk}?done=held")
    row = _row(node, manifest.pk)
    assert (row.legal_hold_reason, row.legal_hold_by) == ("Fiscalía caso 2026-114", f"officer:{admin.username}")
    page = await http.get(f"/console/records/{manifest.pk}?done=held")
    assert "Legal hold placed." in page.text
    assert 'id="hold-banner"' in page.text
    assert "Fiscalía caso 2026-114" in page.text
    assert 'id="release-form"' in page.text
    assert 'data-lifecycle="held"' in (await http.get("/console/inbox?lifecycle=held")).text
    assert "Fiscalía caso 2026-114" in (await http.get("/console/lifecycle")).text
    twice = await http.post(f"/console/records/{manifest.pk}/hold", data={"reason": "again", "csrf_token": csrf})
    assert twice.status_code == 409
    assert "already under a legal hold" in twice.text

    released = await http.post(f"/console/records/{manifest.pk}/release", data={"csrf_token": csrf})
    assert released.status_code == 303
    assert _row(node, manifest.pk).legal_hold_at is None
    events = _events(node, manifest.record_id)
    assert events.count(AuditEvent.LEGAL_HOLD_PLACED.value) == 1
    assert events.count(AuditEvent.LEGAL_HOLD_RELEASED.value) == 1


async def test_a_reviewer_reports_a_discrepancy_and_the_record_is_contested(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    manifest = store_received(node, pki, example("removal_manifest"))
    other = store_received(node, pki, example("removal_manifest"))
    _, csrf = await signed_in(http, node, Role.REVIEWER)
    missing = await http.post(
        f"/console/records/{manifest.pk}/discrepancy", data={"category": "other", "details": " ", "csrf_token": csrf}
    )
    assert missing.status_code == 400
    assert "the details is required" in missing.text
    response = await http.post(
        f"/console/records/{manifest.pk}/discrepancy",
        data={
            "category": "person_not_on_flight",
            "person_ref": "P07",
            "details": "P07 no viajó en IST4501",
            "csrf_token": csrf,
        },
    )
    assert (response.status_code, response.headers["location"]) == (
        303,
        f"/console/records/{manifest.pk}?done=reported",
    )
    row = _row(node, manifest.pk)
    assert row.contested_by is not None
    with node.transaction() as session:
        report = session.scalars(select(StoredRecord).where(StoredRecord.record_id == row.contested_by)).one()
        assert (report.direction, report.record_type, report.recipients) == ("out", "discrepancy_report", "PA")
        deliveries = session.scalars(select(Delivery).where(Delivery.record_pk == report.pk)).all()
        assert [(d.recipient, d.status) for d in deliveries] == [("PA", "pending")]
    page = await http.get(f"/console/records/{manifest.pk}")
    assert 'id="contested-banner"' in page.text
    assert "person not on the flight" in page.text
    assert f'href="/console/records/{report.pk}"' in page.text
    assert 'id="discrepancy-form"' not in page.text  # one open report at a time
    assert AuditEvent.RECORD_CONTESTED.value in _events(node, manifest.record_id)

    def pks(page: httpx.Response) -> list[int]:
        return [int(pk) for pk in re.findall(r'href="/console/records/(\d+)" class="record-link"', page.text)]

    assert pks(await http.get("/console/inbox?lifecycle=contested")) == [manifest.pk]
    assert pks(await http.get("/console/inbox?lifecycle=contested&record_type=removal_manifest")) == [manifest.pk]
    assert pks(await http.get("/console/inbox?lifecycle=contested&partner=US")) == []
    assert set(pks(await http.get("/console/inbox?lifecycle=bogus"))) == {manifest.pk, other.pk}  # ignored


async def test_a_retraction_of_a_received_record_is_refused_on_the_page(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    manifest = store_received(node, pki, example("removal_manifest"))
    _, csrf = await signed_in(http, node, Role.REVIEWER)
    assert 'id="retract-form"' not in (await http.get(f"/console/records/{manifest.pk}")).text
    response = await http.post(
        f"/console/records/{manifest.pk}/retract", data={"reason": "wrong_person", "csrf_token": csrf}
    )
    assert response.status_code == 403
    assert 'id="action-error"' in response.text
    assert "Only the originator may do this" in response.text
    assert 'id="verification"' in response.text  # the record page, not an error page
    assert _row(node, manifest.pk).retracted_by is None
    unknown = await http.post("/console/records/999999/retract", data={"reason": "wrong_person", "csrf_token": csrf})
    assert unknown.status_code == 404


async def test_the_originator_grants_or_refuses_an_onward_sharing_request(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    flag = own_flag(node, ["PA"])
    jws_sha256 = _row(node, flag.pk).jws_sha256
    body = {
        "requested_record_id": flag.record_id,
        "requested_jws_sha256": jws_sha256,
        "third_party": "US",
        "purpose": "criminal_network_disruption",
        "justification": "Investigación conjunta con HSI",
    }
    first = received_from_pa(node, pki, "onward_sharing_request", body)
    second = received_from_pa(node, pki, "onward_sharing_request", body)
    _, csrf = await signed_in(http, node, Role.REVIEWER)
    page = await http.get(f"/console/records/{first.pk}")
    assert 'id="consent-form"' in page.text
    assert 'id="answer-form"' not in page.text  # a notice is not acknowledged
    assert "Investigación conjunta con HSI" in page.text
    assert f'href="/console/records/{flag.pk}"' in page.text  # the record asked about

    refused = await http.post(f"/console/records/{second.pk}/consent", data={"decision": "refused", "csrf_token": csrf})
    assert refused.status_code == 400
    assert "the reason of a refusal is required" in refused.text
    response = await http.post(f"/console/records/{first.pk}/consent", data={"decision": "granted", "csrf_token": csrf})
    assert (response.status_code, response.headers["location"]) == (303, f"/console/records/{first.pk}?done=granted")
    assert _row(node, first.pk).status == "answered"
    assert 'id="consent-form"' not in (await http.get(f"/console/records/{first.pk}")).text
    response = await http.post(
        f"/console/records/{second.pk}/consent",
        data={"decision": "refused", "comment": "Ya concedido", "csrf_token": csrf},
    )
    assert response.status_code == 303
    assert AuditEvent.ONWARD_CONSENTED.value in _events(node, flag.record_id)
    assert AuditEvent.ONWARD_REFUSED.value in _events(node, flag.record_id)
    # the dissemination table now counts US, reached onward through PA
    page = await http.get(f"/console/records/{flag.pk}")
    assert 'data-party="US" data-state="pending"' in page.text
    assert "onward · via PA" in page.text


async def test_the_originator_answers_a_discrepancy_report(http: httpx.AsyncClient, node: Node, pki: TestPKI) -> None:
    flag = own_flag(node, ["PA"])
    body = {
        "reported_record_id": flag.record_id,
        "reported_jws_sha256": _row(node, flag.pk).jws_sha256,
        "category": "identity_mismatch",
        "details": "La fecha de nacimiento no coincide",
    }
    report = received_from_pa(node, pki, "discrepancy_report", body)
    with node.transaction() as session:
        row = session.get(StoredRecord, report.pk)
        assert row is not None
        apply_report(session, node, row)
    assert _row(node, flag.pk).contested_by == report.record_id
    _, csrf = await signed_in(http, node, Role.REVIEWER)
    own = await http.get(f"/console/records/{flag.pk}")
    assert 'id="contested-banner"' in own.text
    assert f'href="/console/records/{report.pk}"' in own.text
    page = await http.get(f"/console/records/{report.pk}")
    assert 'id="discrepancy-answer-form"' in page.text
    assert 'value="corrected"' not in page.text  # nothing was corrected yet
    too_early = await http.post(
        f"/console/records/{report.pk}/discrepancy-answer",
        data={"outcome": "retracted", "comment": "x", "csrf_token": csrf},
    )
    assert too_early.status_code == 400
    assert "was not retracted yet" in too_early.text
    response = await http.post(
        f"/console/records/{report.pk}/discrepancy-answer",
        data={"outcome": "confirmed_correct", "comment": "Verificado con el pasaporte", "csrf_token": csrf},
    )
    assert (response.status_code, response.headers["location"]) == (303, f"/console/records/{report.pk}?done=answered")
    assert _row(node, flag.pk).contested_by is None
    assert _row(node, report.pk).status == "answered"
    assert AuditEvent.DISCREPANCY_ANSWERED.value in _events(node, flag.record_id)


async def test_records_whose_review_is_due_are_flagged_and_filtered(
    http: httpx.AsyncClient, node: Node, pki: TestPKI, clock: ManualClock
) -> None:
    draft = example("removal_manifest")
    draft["review_due"] = rfc3339(node.now() + timedelta(days=1))
    draft["expires_at"] = rfc3339(node.now() + timedelta(days=30))
    due = store_received(node, pki, draft)
    later = store_received(node, pki, example("removal_manifest"))
    clock.advance(timedelta(days=2).total_seconds())
    await signed_in(http, node, Role.VIEWER)
    inbox = await http.get("/console/inbox")
    counts = dict(re.findall(r'data-count-type="([a-z_]+)"><strong>(\d+)</strong>', inbox.text))
    assert counts["review_due"] == "1"
    filtered = await http.get("/console/inbox?lifecycle=review_due")
    assert f'href="/console/records/{due.pk}" class="record-link"' in filtered.text
    assert f'href="/console/records/{later.pk}" class="record-link"' not in filtered.text
    assert 'data-lifecycle="review_due"' in filtered.text
    assert '<option value="review_due" selected>needs review (review due)</option>' in filtered.text
    page = await http.get(f"/console/records/{due.pk}")
    expected = f"review due since {node.now() - timedelta(days=1):%Y-%m-%d %H:%M:%S} UTC, expires "
    assert expected in page.text
    overview = await http.get("/console/lifecycle")
    assert overview.status_code == 200
    assert f'href="/console/records/{due.pk}"' in overview.text
    assert 'id="no-laggards"' in overview.text


async def test_laggards_are_listed(http: httpx.AsyncClient, node: Node, clock: ManualClock) -> None:
    flag = own_flag(node, ["PA"])
    _, csrf = await signed_in(http, node, Role.REVIEWER)
    response = await http.post(f"/console/records/{flag.pk}/retract", data={"reason": "acquitted", "csrf_token": csrf})
    assert response.status_code == 303
    clock.advance(timedelta(hours=node.settings.lifecycle_apply_deadline_hours + 1).total_seconds())
    await signed_in(http, node, Role.VIEWER)  # the first session went idle
    overview = await http.get("/console/lifecycle")
    assert overview.status_code == 200
    assert 'id="laggards-table"' in overview.text
    assert '<tr data-party="PA">' in overview.text
    assert "1.0 h" in overview.text
    page = await http.get(f"/console/records/{flag.pk}")
    assert 'data-lagging="1"' in page.text


def test_every_lifecycle_value_has_a_label_in_both_languages() -> None:
    keys = (
        [f"lifecycle.badge.{b}" for b in BADGES]
        + [f"filter.lifecycle.{s}" for s in LIFECYCLE_STATES]
        + [f"retraction_reason.{r.value}" for r in RetractionReason]
        + [f"discrepancy_category.{c.value}" for c in DiscrepancyCategory]
        + [f"outcome.{o.value}" for o in DiscrepancyOutcome]
        + ["outcome.applied", "outcome.not_held", "delivery.cancelled", "status.answered"]
        + [f"dissemination.state.{s}" for s in ("current", "outdated", "pending", "retracted", "deleted")]
        + [f"deleted_reason.{r}" for r in ("retraction", "retention")]
        + [f"event.{e.value}" for e in AuditEvent]
    )
    assert [key for key in keys if key not in LABELS] == []
    assert all(en and es for en, es in (LABELS[k] for k in keys))


async def test_a_recipient_asks_for_consent_then_shares_onward(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    draft = example("criminal_network_flag")
    draft["recipients"] = ["CO"]
    flag = store_received(node, pki, draft)
    _, csrf = await signed_in(http, node, Role.REVIEWER)
    page = await http.get(f"/console/records/{flag.pk}")
    assert 'id="onward-request-form"' in page.text
    assert '<option value="US">US</option>' in page.text
    assert 'id="share-onward"' not in page.text
    response = await http.post(
        f"/console/records/{flag.pk}/onward-request",
        data={
            "third_party": "US",
            "purpose": "criminal_network_disruption",
            "justification": "Operación conjunta",
            "csrf_token": csrf,
        },
    )
    assert (response.status_code, response.headers["location"]) == (
        303,
        f"/console/records/{flag.pk}?done=onward_requested",
    )
    with node.transaction() as session:
        request = session.scalars(
            select(StoredRecord).where(StoredRecord.record_type == "onward_sharing_request")
        ).one()
        assert (request.direction, request.recipients, request.third_party) == ("out", "PA", "US")
    refused_early = await http.post(
        f"/console/records/{flag.pk}/share-onward", data={"third_party": "US", "csrf_token": csrf}
    )
    assert refused_early.status_code == 403
    assert "has not consented" in refused_early.text

    consent = received_from_pa(
        node,
        pki,
        "onward_sharing_consent",
        {
            "request_record_id": request.record_id,
            "consented_record_id": flag.record_id,
            "consented_jws_sha256": _row(node, flag.pk).jws_sha256,
            "requester": "CO",
            "third_party": "US",
            "decision": "granted",
        },
    )
    page = await http.get(f"/console/records/{flag.pk}")
    assert 'id="share-onward-US"' in page.text
    assert 'id="onward-request-form"' not in page.text  # US already consented
    response = await http.post(
        f"/console/records/{flag.pk}/share-onward", data={"third_party": "US", "csrf_token": csrf}
    )
    assert (response.status_code, response.headers["location"]) == (303, f"/console/records/{flag.pk}?done=forwarded")
    with node.transaction() as session:
        forward = session.scalars(
            select(Delivery).where(Delivery.record_pk == flag.pk, Delivery.recipient == "US")
        ).one()
        assert (forward.status, forward.consent_record_pk) == ("pending", consent.pk)
    page = await http.get(f"/console/records/{flag.pk}")
    assert 'id="share-onward-US"' not in page.text
    assert "Shared onward with US" in page.text
    assert AuditEvent.ONWARD_FORWARDED.value in _events(node, flag.record_id)


async def test_a_superseded_record_links_to_its_correction(http: httpx.AsyncClient, node: Node, pki: TestPKI) -> None:
    original = example("removal_manifest")
    manifest = store_received(node, pki, original)
    replacement = copy.deepcopy(original["body"])
    replacement["escorts_count"] = 19
    correction_draft = {
        **{k: v for k, v in original.items() if k != "body"},
        "record_type": "correction",
        "supersedes": manifest.record_id,
        "body": {
            "corrected_jws_sha256": _row(node, manifest.pk).jws_sha256,
            "reason": "Un escolta más",
            "replacement": {"record_type": "removal_manifest", "body": replacement},
        },
    }
    correction = store_received(node, pki, correction_draft)
    with node.transaction() as session:
        row = session.get(StoredRecord, correction.pk)
        assert row is not None
        apply_correction(session, node, row)
    assert _row(node, manifest.pk).superseded_by == correction.record_id
    await signed_in(http, node, Role.REVIEWER)
    page = await http.get(f"/console/records/{manifest.pk}")
    assert 'id="superseded-banner"' in page.text
    assert f'href="/console/records/{correction.pk}"' in page.text
    assert 'data-lifecycle="superseded"' in page.text
    corrected = await http.get(f"/console/records/{correction.pk}")
    assert corrected.status_code == 200
    assert 'id="correction-reason">Un escolta más<' in corrected.text
    assert 'id="people-count">34<' in corrected.text  # the replacement body, shown like a manifest
    assert 'id="answer-form"' in corrected.text  # a correction is answered like the record it replaces
    assert f'href="/console/records/{manifest.pk}"' in corrected.text
    with node.transaction() as session:
        ack = session.scalars(
            select(StoredRecord).where(StoredRecord.record_type == "application_acknowledgement")
        ).one()
    notice = await http.get(f"/console/records/{ack.pk}")
    assert notice.status_code == 200
    assert 'data-field="outcome">applied<' in notice.text
    assert 'id="actions"' not in notice.text


async def test_a_record_received_onward_names_the_forwarder_and_the_consent(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    draft = example("criminal_network_flag")
    draft["recipients"] = ["PA"]
    flag = store_received(node, pki, {**draft, "recipients": ["CO"]}, sender="US")
    consent_draft = lifecycle_draft(
        "onward_sharing_consent",
        {
            "request_record_id": "01ba3c31-f739-79c4-9a2b-3c4d5e6f7081",
            "consented_record_id": flag.record_id,
            "consented_jws_sha256": _row(node, flag.pk).jws_sha256,
            "requester": "PA",
            "third_party": "CO",
            "decision": "granted",
        },
    )
    consent_draft["originator"] = {**consent_draft["originator"], "party": "US"}
    consent_draft["recipients"] = ["PA"]
    consent = sign_record(build_record(consent_draft, node.now()), pki.signing_key("US"))
    with node.transaction() as session:
        row = session.get(StoredRecord, flag.pk)
        assert row is not None
        row.received_via, row.peer_party, row.onward_consent_jws = "onward", "PA", consent.jws
    await signed_in(http, node, Role.VIEWER)
    page = await http.get(f"/console/records/{flag.pk}")
    assert page.status_code == 200
    banner = page.text.split('id="onward-banner"', 1)[1].split("</div>", 1)[0]
    assert "via PA" in banner
    assert f"<code>{consent.record.record_id}</code> (signed by US)" in banner
    assert 'data-lifecycle="onward"' in page.text
