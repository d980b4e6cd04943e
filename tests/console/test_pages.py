"""The console over HTTP (ASGI) on SQLite and PostgreSQL: sessions, CSRF, roles, pages."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from gateway.console import review, service
from gateway.console.models import ConsoleAction, ConsoleSession
from gateway.console.rendering import CONTENT_SECURITY_POLICY
from gateway.console.schemas import Role
from gateway.db import make_engine, make_sessionmaker
from gateway.exchange.models import Delivery
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.node import Node
from gateway.records.models import StoredRecord
from gateway.settings import Settings
from tests.console.conftest import (
    ManualClock,
    code_at,
    csrf_of,
    example,
    officer_on,
    sign_in,
    signed_in,
    store_received,
)
from tests.support.nodes import TEST_TOTP_KEY
from tests.support.pki import TestPKI

pytestmark = pytest.mark.anyio

PAGES = [
    "/console",
    "/console/inbox",
    "/console/records/1",
    "/console/outbox",
    "/console/ledger",
    "/console/terms",
    "/console/officers",
    "/console/password",
]


def _status_of(node: Node, pk: int) -> str:
    with node.transaction() as session:
        record = session.get(StoredRecord, pk)
        assert record is not None
        return record.status


async def test_no_page_without_a_session(http: httpx.AsyncClient, node: Node, pki: TestPKI) -> None:
    received = store_received(node, pki, example("removal_manifest"))
    for path in PAGES:
        response = await http.get(path)
        assert response.status_code == 303, path
        location = urlsplit(response.headers["location"])
        assert location.path == "/console/login"
        assert parse_qs(location.query)["next"] == [path]
    response = await http.post(f"/console/records/{received.pk}/answer", data={"decision": "accept", "csrf_token": "x"})
    assert (response.status_code, response.headers["location"]) == (303, "/console/login")
    assert _status_of(node, received.pk) == "new"


async def test_console_responses_carry_the_security_headers(http: httpx.AsyncClient) -> None:
    response = await http.get("/console/login")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'none'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in response.text.lower()
    assert " style=" not in response.text
    assert "<style" not in response.text
    css = await http.get("/console/static/console.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "public, max-age=3600"
    assert css.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert (await http.get("/console/login")).headers["cache-control"] == "no-store"


async def test_only_console_paths_carry_the_console_headers(http: httpx.AsyncClient) -> None:
    # The API beside the console has its own answers; a path merely starting with "/console" is not the console.
    for path in ("/v1/records", "/healthz", "/consoles"):
        response = await http.get(path)
        assert "content-security-policy" not in response.headers, path
        assert "x-frame-options" not in response.headers, path


async def test_session_cookie_is_httponly_and_strict(http: httpx.AsyncClient, node: Node) -> None:
    officer = officer_on(node, Role.VIEWER)
    response = await sign_in(http, officer, code_at(officer, node.now()))
    assert response.status_code == 303
    assert response.headers["location"] == "/console/inbox"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("mou_console="))
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert "secure" not in attributes  # plain HTTP listener: agency_tls is off
    token = cookie.split(";")[0].split("=", 1)[1]
    with node.transaction() as session:
        rows = session.scalars(select(ConsoleSession)).all()
    assert [r.token_sha256 for r in rows] == [service.token_digest(token)]


async def test_over_tls_the_cookie_is_secure_and_host_bound(
    database_url: str, pki: TestPKI, clock: ManualClock
) -> None:
    from gateway.app import create_agency_app

    engine = make_engine(database_url)
    node = Node(
        Settings(party="PA", agency_tls=True, totp_encryption_key=SecretStr(TEST_TOTP_KEY)),
        engine,
        make_sessionmaker(engine),
        pki.signing_key("PA"),
        pki.bundle(),
        clock=clock,
    )
    try:
        transport = httpx.ASGITransport(app=create_agency_app(node))
        async with httpx.AsyncClient(transport=transport, base_url="https://agency.test") as http:
            officer = officer_on(node, Role.VIEWER)
            response = await sign_in(http, officer, code_at(officer, node.now()))
            assert response.status_code == 303, response.text
            cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-mou_console="))
            attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
            assert {"httponly", "samesite=strict", "secure", "path=/"} <= attributes
            assert (await http.get("/console/inbox")).status_code == 200
    finally:
        node.close()


async def test_wrong_totp_is_refused(http: httpx.AsyncClient, node: Node) -> None:
    officer = officer_on(node, Role.REVIEWER)
    right = code_at(officer, node.now())
    wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"
    response = await sign_in(http, officer, wrong)
    assert response.status_code == 401
    assert "Sign-in failed" in response.text
    assert not any(c.startswith("mou_console=") for c in response.headers.get_list("set-cookie"))
    assert (await http.get("/console/inbox")).status_code == 303


async def test_login_form_needs_its_token(http: httpx.AsyncClient, node: Node) -> None:
    officer = officer_on(node, Role.REVIEWER)
    response = await http.post(
        "/console/login",
        data={
            "username": officer.username,
            "password": officer.password,
            "code": code_at(officer, node.now()),
            "login_token": "forged",
        },
    )
    assert response.status_code == 400
    assert "sign-in form expired" in response.text
    assert (await http.get("/console/inbox")).status_code == 303


async def test_csrf_less_post_is_refused(http: httpx.AsyncClient, node: Node, pki: TestPKI) -> None:
    received = store_received(node, pki, example("removal_manifest"))
    _, csrf = await signed_in(http, node, Role.REVIEWER)
    url = f"/console/records/{received.pk}/answer"
    for form in ({"decision": "accept"}, {"decision": "accept", "csrf_token": csrf[:-2] + "xx"}):
        response = await http.post(url, data=form)
        assert response.status_code == 403
        assert "Form token missing or invalid" in response.text
    assert _status_of(node, received.pk) == "new"
    with node.transaction() as session:
        assert session.scalars(select(ConsoleAction)).all() == []

    response = await http.post(url, data={"decision": "accept", "csrf_token": csrf})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/console/records/{received.pk}?done=accept"
    assert _status_of(node, received.pk) == "acknowledged"


async def test_acknowledging_signs_an_acknowledgement_to_the_originator(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    received = store_received(node, pki, example("removal_manifest"))
    officer, csrf = await signed_in(http, node, Role.REVIEWER)
    response = await http.post(
        f"/console/records/{received.pk}/answer",
        data={"decision": "query", "comment": "¿Falta la persona P07?", "csrf_token": csrf},
    )
    assert response.status_code == 303, response.text
    with node.transaction() as session:
        action = session.scalars(select(ConsoleAction)).one()
        ack = session.get(StoredRecord, action.acknowledgement_pk)
        assert ack is not None
        assert (ack.direction, ack.record_type, ack.recipients) == ("out", "acknowledgement", "PA")
        deliveries = session.scalars(select(Delivery).where(Delivery.record_pk == ack.pk)).all()
        assert [(d.recipient, d.status) for d in deliveries] == [("PA", "pending")]
        events = session.scalars(select(LedgerEntry).where(LedgerEntry.subject == received.record_id)).all()
    assert _status_of(node, received.pk) == "queried"
    assert (AuditEvent.RECORD_ACKNOWLEDGED.value, f"officer:{officer.username}") in {(e.event, e.actor) for e in events}
    page = await http.get(f"/console/records/{received.pk}?done=query")
    assert "Query signed and queued for delivery." in page.text
    assert "¿Falta la persona P07?" in page.text


async def test_a_query_needs_its_question(http: httpx.AsyncClient, node: Node, pki: TestPKI) -> None:
    received = store_received(node, pki, example("removal_manifest"))
    _, csrf = await signed_in(http, node, Role.REVIEWER)
    response = await http.post(
        f"/console/records/{received.pk}/answer",
        data={"decision": "query", "comment": "  ", "csrf_token": csrf},
    )
    assert response.status_code == 400
    assert "a query needs the question" in response.text
    assert _status_of(node, received.pk) == "new"


async def test_an_invalid_record_is_shown_invalid_and_cannot_be_answered(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    received = store_received(node, pki, example("removal_manifest"), valid=False)
    _, csrf = await signed_in(http, node, Role.ADMIN)
    page = await http.get(f"/console/records/{received.pk}")
    assert page.status_code == 200
    assert 'id="verification-verdict">INVALID<' in page.text
    assert 'id="answer-form"' not in page.text
    assert "bad_signature" in page.text
    response = await http.post(
        f"/console/records/{received.pk}/answer", data={"decision": "accept", "csrf_token": csrf}
    )
    assert response.status_code == 409
    assert "INVALID" in response.text
    assert _status_of(node, received.pk) == "rejected"


async def test_viewer_reads_but_cannot_answer_or_administer(http: httpx.AsyncClient, node: Node, pki: TestPKI) -> None:
    received = store_received(node, pki, example("removal_manifest"))
    _, csrf = await signed_in(http, node, Role.VIEWER)
    page = await http.get(f"/console/records/{received.pk}")
    assert page.status_code == 200
    assert 'id="answer-form"' not in page.text
    assert 'id="role-cannot-answer"' in page.text
    for url in (f"/console/records/{received.pk}/answer", "/console/deliveries/1/retry"):
        response = await http.post(url, data={"decision": "accept", "csrf_token": csrf})
        assert response.status_code == 403, url
        assert "Not allowed for your role" in response.text
    assert (await http.get("/console/officers")).status_code == 403
    assert _status_of(node, received.pk) == "new"


async def test_reviewer_cannot_do_admin_actions(http: httpx.AsyncClient, node: Node) -> None:
    target = officer_on(node, Role.VIEWER)
    _, csrf = await signed_in(http, node, Role.REVIEWER)
    assert (await http.get("/console/officers")).status_code == 403
    for url in ("/console/deliveries/1/retry", f"/console/officers/{target.username}/disable"):
        response = await http.post(url, data={"csrf_token": csrf})
        assert response.status_code == 403, url


async def test_every_record_view_is_a_ledger_event(http: httpx.AsyncClient, node: Node, pki: TestPKI) -> None:
    received = store_received(node, pki, example("criminal_network_flag"))
    officer, _ = await signed_in(http, node, Role.VIEWER)
    for _ in range(2):
        assert (await http.get(f"/console/records/{received.pk}")).status_code == 200
    with node.transaction() as session:
        views = session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.subject == received.record_id,
                LedgerEntry.event == AuditEvent.RECORD_VIEWED.value,
            )
        ).all()
    # A reload in the same sign-in is the same view: custody records who saw it, not how often.
    assert [v.actor for v in views] == [f"officer:{officer.username}"]


async def test_script_in_a_record_is_rendered_as_text(http: httpx.AsyncClient, node: Node, pki: TestPKI) -> None:
    draft = example("criminal_network_flag")
    payload = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
    draft["body"] = {**draft["body"], "summary_of_facts": payload, "network_name": payload}
    received = store_received(node, pki, draft)
    await signed_in(http, node, Role.VIEWER)
    page = await http.get(f"/console/records/{received.pk}")
    assert page.status_code == 200
    assert "<script" not in page.text.lower()
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in page.text


async def test_inbox_filters_search_counts_and_pages(
    http: httpx.AsyncClient, node: Node, pki: TestPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = [store_received(node, pki, example("removal_manifest")) for _ in range(3)]
    flag = store_received(node, pki, example("criminal_network_flag"), sender="US")
    invalid = store_received(node, pki, example("criminal_network_flag"), valid=False)
    await signed_in(http, node, Role.VIEWER)

    def pks(page: httpx.Response) -> list[int]:
        return [int(pk) for pk in re.findall(r'href="/console/records/(\d+)" class="record-link"', page.text)]

    page = await http.get("/console/inbox")
    assert pks(page) == [invalid.pk, flag.pk] + [m.pk for m in reversed(manifests)]
    counts = dict(re.findall(r'data-count-type="([a-z_]+)"><strong>(\d+)</strong>', page.text))
    assert counts["removal_manifest"] == "3"
    assert counts["criminal_network_flag"] == "1"
    assert counts["invalid"] == "1"

    assert pks(await http.get("/console/inbox?record_type=removal_manifest")) == [m.pk for m in reversed(manifests)]
    assert pks(await http.get("/console/inbox?partner=US")) == [flag.pk]
    assert pks(await http.get("/console/inbox?offence_category=migrant_smuggling")) == [flag.pk]
    assert pks(await http.get("/console/inbox?status=invalid")) == [invalid.pk]
    assert pks(await http.get(f"/console/inbox?q={manifests[1].record_id[:18]}")) == [manifests[1].pk]
    assert pks(await http.get("/console/inbox?q=ist4501")) == [m.pk for m in reversed(manifests)]
    today = node.now().date()
    assert len(pks(await http.get(f"/console/inbox?received_from={today}&received_until={today}"))) == 5
    assert pks(await http.get("/console/inbox?received_until=2000-01-01")) == []
    assert pks(await http.get("/console/inbox?record_type=<script>")) == pks(page)  # ignored

    monkeypatch.setattr(review, "PAGE_SIZE", 2)
    first = await http.get("/console/inbox")
    assert pks(first) == [invalid.pk, flag.pk]
    assert 'href="/console/inbox?page=2" rel="next"' in first.text
    third = await http.get("/console/inbox?page=3")
    assert pks(third) == [manifests[0].pk]
    assert 'rel="next"' not in third.text


async def test_labels_switch_to_spanish_and_stay(http: httpx.AsyncClient, node: Node) -> None:
    await signed_in(http, node, Role.VIEWER)
    spanish = await http.get("/console/inbox?lang=es")
    assert "Registros recibidos" in spanish.text
    assert '<html lang="es">' in spanish.text
    assert any(c.startswith("mou_console_lang=es") for c in spanish.headers.get_list("set-cookie"))
    assert "Pendientes de acción" in (await http.get("/console/inbox")).text
    assert "Received records" in (await http.get("/console/inbox?lang=en")).text


async def test_a_one_time_password_must_be_replaced_first(http: httpx.AsyncClient, node: Node) -> None:
    officer = officer_on(node, Role.REVIEWER, change_required=True)
    assert (await sign_in(http, officer, code_at(officer, node.now()))).status_code == 303
    response = await http.get("/console/inbox")
    assert (response.status_code, response.headers["location"]) == (303, "/console/password")
    form = await http.get("/console/password")
    new = "una contraseña bastante larga"
    response = await http.post(
        "/console/password",
        data={"current": officer.password, "new": new, "repeated": new, "csrf_token": csrf_of(form)},
    )
    assert (response.status_code, response.headers["location"]) == (303, "/console/inbox")
    assert (await http.get("/console/inbox")).status_code == 200


async def test_idle_sessions_end(http: httpx.AsyncClient, node: Node, clock: ManualClock) -> None:
    await signed_in(http, node, Role.VIEWER)
    clock.advance(service.IDLE_SECONDS - 1)
    assert (await http.get("/console/ledger")).status_code == 200
    clock.advance(service.IDLE_SECONDS)
    response = await http.get("/console/ledger")
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["location"]).query) == {"next": ["/console/ledger"], "expired": ["1"]}


async def test_logout_ends_the_session(http: httpx.AsyncClient, node: Node) -> None:
    _, csrf = await signed_in(http, node, Role.VIEWER)
    assert (await http.post("/console/logout", data={})).status_code == 403  # CSRF applies
    response = await http.post("/console/logout", data={"csrf_token": csrf})
    assert (response.status_code, response.headers["location"]) == (303, "/console/login?bye=1")
    with node.transaction() as session:
        assert session.scalars(select(ConsoleSession)).all() == []
    assert (await http.get("/console/inbox")).status_code == 303


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/v1/records", "/console/logout"])
async def test_login_never_redirects_off_the_console(http: httpx.AsyncClient, node: Node, target: str) -> None:
    officer = officer_on(node, Role.VIEWER)
    response = await sign_in(http, officer, code_at(officer, node.now()), next_path=target)
    assert (response.status_code, response.headers["location"]) == (303, "/console/inbox")


async def test_ledger_and_terms_pages(http: httpx.AsyncClient, node: Node) -> None:
    await signed_in(http, node, Role.VIEWER)
    ledger = await http.get("/console/ledger")
    assert ledger.status_code == 200
    match = re.search(r'id="tree-size">tree size: (\d+)<', ledger.text)
    assert match is not None
    assert int(match.group(1)) >= 1
    assert 'id="witnesses"' in ledger.text
    assert 'id="latest-checkpoint"' in ledger.text
    terms = await http.get("/console/terms")
    assert terms.status_code == 200
    assert "pa-co-us-removal-mou" in terms.text
    # every flow of the example terms is live: all three parties signed this version
    assert terms.text.count("<code>pa-flags-to-us</code>") == 1
    assert "CO: valid · PA: valid · US: valid" in terms.text


async def test_admin_disables_an_officer_and_their_session_ends(http: httpx.AsyncClient, node: Node) -> None:
    from gateway.app import create_agency_app

    transport = httpx.ASGITransport(app=create_agency_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="http://agency.test") as other:
        viewer, _ = await signed_in(other, node, Role.VIEWER)
        admin, csrf = await signed_in(http, node, Role.ADMIN)
        response = await http.post(f"/console/officers/{viewer.username}/disable", data={"csrf_token": csrf})
        assert (response.status_code, response.headers["location"]) == (303, "/console/officers")
        assert (await other.get("/console/inbox")).status_code == 303
        self_disable = await http.post(f"/console/officers/{admin.username}/disable", data={"csrf_token": csrf})
        assert self_disable.status_code == 409
        unknown = await http.post("/console/officers/nobody-here/unlock", data={"csrf_token": csrf})
        assert unknown.status_code == 404
        assert "no officer named" in unknown.text
