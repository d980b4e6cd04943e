"""Officers who reviewed a record are told on the inbox when it is found suspect, until they dismiss it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography import x509
from sqlalchemy import select

from gateway.console.schemas import Role
from gateway.evidence.standing_check import run_standing_check
from gateway.evidence.suspicion import SuspectFound, suspect_notices
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.node import Node
from tests.console.conftest import ManualClock, csrf_of, example, officer_on, signed_in, store_received
from tests.console.test_standing import pa_revoked, with_real_receipt
from tests.support.pki import TestPKI


def ledger_events(node: Node, event: AuditEvent) -> list[tuple[str, str]]:
    with node.transaction() as session:
        rows = session.execute(
            select(LedgerEntry.actor, LedgerEntry.subject).where(LedgerEntry.event == event.value)
        ).all()
    return [(str(actor), str(subject)) for actor, subject in rows]


@pytest.mark.anyio
async def test_a_reviewer_is_told_on_the_inbox_until_they_dismiss_it(
    http: httpx.AsyncClient, node: Node, pki: TestPKI, tmp_path: Path, clock: ManualClock
) -> None:
    received = store_received(node, pki, example("criminal_network_flag"))
    with_real_receipt(node, received.pk)
    untouched = store_received(node, pki, example("criminal_network_flag"))
    with_real_receipt(node, untouched.pk)
    from_us = store_received(node, pki, example("criminal_network_flag"), sender="US")
    with_real_receipt(node, from_us.pk)  # US's CRL revokes nothing: not judged
    officer, _ = await signed_in(http, node, Role.REVIEWER)
    bystander = officer_on(node, Role.VIEWER)
    assert (await http.get(f"/console/records/{received.pk}")).status_code == 200

    node.bundle = pa_revoked(pki, tmp_path, node, x509.ReasonFlags.key_compromise, -1)
    clock.advance(300)
    found_at = node.now()
    check = run_standing_check(node, actor="standing-check")
    assert (check.judged, check.notices, check.unreadable) == (2, 1, [])
    assert [(f.record_id, f.originator, f.reviewers) for f in check.found] == [
        (received.record_id, "PA", (officer.username,)),
        (untouched.record_id, "PA", ()),
    ]
    assert all(isinstance(f, SuspectFound) and "for key_compromise; the key is held" in f.reason for f in check.found)
    assert ledger_events(node, AuditEvent.RECORD_SUSPECTED) == [
        ("standing-check", received.record_id),
        ("standing-check", untouched.record_id),
    ]

    inbox = await http.get("/console/inbox")
    assert inbox.status_code == 200
    assert 'id="suspect-notices"' in inbox.text
    assert "<strong>Records you reviewed are now suspect</strong>" in inbox.text
    assert (
        f'<li data-suspect-record="{received.record_id}"><a href="/console/records/{received.record_id}">'
        f"<code>{received.record_id}</code></a> found suspect on {found_at:%Y-%m-%d %H:%M:%S} UTC"
    ) in inbox.text
    assert f'data-suspect-record="{untouched.record_id}"' not in inbox.text  # nobody reviewed it
    with node.transaction() as session:
        assert suspect_notices(session, f"officer:{bystander.username}") == []

    # A second pass flags nothing again.
    again = run_standing_check(node, actor="standing-check")
    assert (again.judged, again.found) == (0, [])

    dismissed = await http.post(f"/console/notices/{received.record_id}/dismiss", data={"csrf_token": csrf_of(inbox)})
    assert dismissed.status_code == 303
    assert dismissed.headers["location"] == "/console/inbox"
    inbox = await http.get("/console/inbox")
    assert 'id="suspect-notices"' not in inbox.text
    assert ledger_events(node, AuditEvent.SUSPECT_NOTICE_DISMISSED) == [
        (f"officer:{officer.username}", received.record_id)
    ]
    # The record page still flags it.
    page = await http.get(f"/console/records/{received.pk}")
    assert 'id="suspect-banner"' in page.text


@pytest.mark.anyio
async def test_dismissing_needs_the_csrf_token_and_an_open_notice(
    http: httpx.AsyncClient, node: Node, pki: TestPKI, tmp_path: Path
) -> None:
    received = store_received(node, pki, example("criminal_network_flag"))
    with_real_receipt(node, received.pk)
    _, token = await signed_in(http, node, Role.VIEWER)
    refused = await http.post(f"/console/notices/{received.record_id}/dismiss", data={})
    assert refused.status_code == 403
    nothing = await http.post(f"/console/notices/{received.record_id}/dismiss", data={"csrf_token": token})
    assert nothing.status_code == 303
    assert ledger_events(node, AuditEvent.SUSPECT_NOTICE_DISMISSED) == []


@pytest.mark.anyio
async def test_a_superseded_revocation_makes_nothing_suspect_and_tells_no_one(
    http: httpx.AsyncClient, node: Node, pki: TestPKI, tmp_path: Path
) -> None:
    received = store_received(node, pki, example("criminal_network_flag"))
    with_real_receipt(node, received.pk)
    await signed_in(http, node, Role.REVIEWER)
    assert (await http.get(f"/console/records/{received.pk}")).status_code == 200

    node.bundle = pa_revoked(pki, tmp_path, node, x509.ReasonFlags.superseded, None)
    check = run_standing_check(node, actor="standing-check")
    assert (check.judged, check.found, check.notices) == (0, [], 0)  # no CRL entry that could make one suspect
    assert ledger_events(node, AuditEvent.RECORD_SUSPECTED) == []
    inbox = await http.get("/console/inbox")
    assert 'id="suspect-notices"' not in inbox.text


@pytest.mark.anyio
async def test_a_compromise_dated_after_the_receipt_makes_nothing_suspect(
    http: httpx.AsyncClient, node: Node, pki: TestPKI, tmp_path: Path
) -> None:
    received = store_received(node, pki, example("criminal_network_flag"))
    with_real_receipt(node, received.pk)
    await signed_in(http, node, Role.REVIEWER)
    assert (await http.get(f"/console/records/{received.pk}")).status_code == 200

    node.bundle = pa_revoked(pki, tmp_path, node, x509.ReasonFlags.key_compromise, 1)
    check = run_standing_check(node, actor="standing-check")
    assert (check.judged, check.found, check.notices) == (1, [], 0)  # judged: valid when received
    assert ledger_events(node, AuditEvent.RECORD_SUSPECTED) == []
    assert 'id="suspect-notices"' not in (await http.get("/console/inbox")).text
