"""The record page as a liaison officer uses it: by record id, views counted once, clients named, the footer."""

from __future__ import annotations

import httpx
import pytest

from gateway.clients.service import create_client
from gateway.console.schemas import Role
from gateway.ledger import repository as ledger
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.node import Node
from tests.console.conftest import ManualClock, code_at, example, officer_on, sign_in, store_received
from tests.support.pki import TestPKI

pytestmark = pytest.mark.anyio


def views_by(node: Node, actor: str, subject: str) -> int:
    with node.transaction() as session:
        entries = ledger.entries_for_subject(session, subject)
    return sum(1 for e in entries if e.event == AuditEvent.RECORD_VIEWED.value and e.actor == actor)


async def test_repeated_views_in_one_session_count_once(
    http: httpx.AsyncClient, node: Node, pki: TestPKI, clock: ManualClock
) -> None:
    received = store_received(node, pki, example("removal_manifest"))
    officer = officer_on(node, Role.VIEWER)
    assert (await sign_in(http, officer, code_at(officer, node.now()))).status_code == 303
    for _ in range(3):
        page = await http.get(f"/console/records/{received.record_id}")  # by the record id
        assert page.status_code == 200, page.text
        assert received.record_id in page.text
    assert (await http.get(f"/console/records/{received.pk}")).status_code == 200  # by its number here
    assert views_by(node, f"officer:{officer.username}", received.record_id) == 1

    # A new session (signed in again) is a new view.
    await http.post("/console/logout", data={})
    http.cookies.clear()
    clock.advance(60)  # a TOTP code works once: the next sign-in needs the next one
    assert (await sign_in(http, officer, code_at(officer, node.now()))).status_code == 303
    assert (await http.get(f"/console/records/{received.record_id}")).status_code == 200
    assert views_by(node, f"officer:{officer.username}", received.record_id) == 2


async def test_unknown_record_id_is_quoted_whole(http: httpx.AsyncClient, node: Node) -> None:
    officer = officer_on(node, Role.VIEWER)
    assert (await sign_in(http, officer, code_at(officer, node.now()))).status_code == 303
    unknown = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    page = await http.get(f"/console/records/{unknown}")
    assert page.status_code == 404
    assert f"no record {unknown} at this node" in page.text


async def test_timeline_names_api_clients_and_footer_names_the_memorandum(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    received = store_received(node, pki, example("removal_manifest"))
    with node.transaction() as session:
        client_id, _secret = create_client(session, "SNM case management", ["records:read"], node.now())
        append_event(
            session, AuditEvent.RECORD_VIEWED, actor=f"client:{client_id}", subject=received.record_id, at=node.now()
        )
    officer = officer_on(node, Role.VIEWER)
    assert (await sign_in(http, officer, code_at(officer, node.now()))).status_code == 303
    page = await http.get(f"/console/records/{received.record_id}")
    assert page.status_code == 200
    assert f'data-actor="client:{client_id}">SNM case management (API client) · #' in page.text
    assert node.terms is not None
    current = node.terms.current(node.now())
    assert current is not None
    assert (
        f"Records exchanged under: {current.terms.title} ({current.terms.terms_id} v{current.terms.version})."
        in page.text
    )


async def test_sign_in_page_has_no_backticks(http: httpx.AsyncClient) -> None:
    page = await http.get("/console/login")
    assert page.status_code == 200
    assert "`" not in page.text
