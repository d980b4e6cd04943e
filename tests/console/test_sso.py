"""SSO sign-in against a real OpenID Connect provider (panva's oidc-provider on 127.0.0.1), issue 19.

The console runs in-process (httpx ASGITransport, base http://agency.test);
the provider is a real node process that the console's code reaches over
HTTP for discovery, JWKS and the token endpoint. ``authorize`` plays the
browser at the provider: its login form, its redirects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from gateway.app import create_agency_app
from gateway.console.models import ConsoleSession, Officer
from gateway.console.schemas import Role
from gateway.ledger.models import LedgerEntry
from gateway.node import Node
from tests.console.conftest import ManualClock, add_officer, code_at, officer_on, sign_in
from tests.console.sso_support import ASGI_BASE, REDIRECT_URI, sso_node, sso_settings, start_provider, user
from tests.support.oidc_provider import Authorization, TestProvider, authorize, free_port
from tests.support.pki import TestPKI

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestProvider]:
    running = start_provider(tmp_path_factory.mktemp("oidc"), [ASGI_BASE])
    yield running
    running.stop()


@pytest.fixture
def node(database_url: str, pki: TestPKI, clock: ManualClock, provider: TestProvider, tmp_path: Path) -> Iterator[Node]:
    built = sso_node(database_url, pki, clock, sso_settings(pki, provider.issuer, tmp_path / "oidc-secret"))
    yield built
    built.close()


@pytest.fixture
async def http(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_agency_app(node))
    async with httpx.AsyncClient(transport=transport, base_url=ASGI_BASE) as client:
        yield client


async def start(http: httpx.AsyncClient) -> str:
    response = await http.get("/console/sso/start", params={"next": "/console/outbox"})
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def provider_answer(http: httpx.AsyncClient, username: str) -> Authorization:
    answer = authorize(await start(http), user(username), redirect_uri=REDIRECT_URI)
    assert isinstance(answer, Authorization), answer.text
    return answer


def sessions(node: Node) -> list[ConsoleSession]:
    with node.transaction() as session:
        return list(session.scalars(select(ConsoleSession)))


def sign_in_events(node: Node) -> list[tuple[str, str]]:
    with node.transaction() as session:
        rows = session.execute(
            select(LedgerEntry.actor, LedgerEntry.subject).where(LedgerEntry.event == "console:officer:signed_in")
        ).all()
    return [(a, s) for a, s in rows]


def assert_refused(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert f'<code id="sso-reason">{reason}</code>' in response.text, response.text


# -- the happy path ------------------------------------------------------------------


async def test_sign_in_through_the_provider_opens_a_session_with_the_mapped_role(
    http: httpx.AsyncClient, node: Node, provider: TestProvider
) -> None:
    login = await http.get("/console/login")
    assert 'id="sso-start"' in login.text
    assert "Migración Colombia" in login.text
    location = await start(http)
    assert location.startswith(f"{provider.issuer}/auth?")
    for parameter in ("code_challenge_method=S256", "code_challenge=", "nonce=", "state=", "response_type=code"):
        assert parameter in location
    answer = authorize(location, user("ana"), redirect_uri=REDIRECT_URI)
    assert isinstance(answer, Authorization)
    assert answer.iss == provider.issuer
    response = await http.get(answer.callback)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/outbox"
    inbox = await http.get("/console/inbox")
    assert inbox.status_code == 200
    assert "ana@migracion.example" in inbox.text
    with node.transaction() as session:
        officer = session.scalars(select(Officer).where(Officer.username == "ana@migracion.example")).one()
        assert (officer.role, officer.oidc_issuer, officer.oidc_subject) == ("reviewer", provider.issuer, "u-ana")
        assert officer.officer_ref == "sso:u-ana"
    [opened] = sessions(node)
    assert opened.sign_in_method == "oidc"
    # The provider's ID tokens live 300 s: the session ends with the token, not after 8 h.
    assert opened.expires_at <= node.now() + timedelta(seconds=300 + 60)
    assert sign_in_events(node) == [("officer:ana@migracion.example", "signin:oidc:u-ana")]


async def test_the_highest_mapped_group_wins_and_the_password_form_cannot_open_an_sso_account(
    http: httpx.AsyncClient, node: Node
) -> None:
    answer = await provider_answer(http, "bruno")  # groups: staff (unmapped), co-liaison-admins
    assert (await http.get(answer.callback)).status_code == 303
    with node.transaction() as session:
        officer = session.scalars(select(Officer).where(Officer.oidc_subject == "u-bruno")).one()
        assert officer.role == Role.ADMIN.value
    assert (await http.get("/console/officers")).status_code == 200  # an admin page
    http.cookies.clear()
    login = await http.get("/console/login")
    token = login.text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
    refused = await http.post(
        "/console/login",
        data={"username": "bruno@migracion.example", "password": "!sso-only", "code": "000000", "login_token": token},
    )
    assert refused.status_code == 401


async def test_session_ends_when_the_id_token_expires(http: httpx.AsyncClient, node: Node, clock: ManualClock) -> None:
    answer = await provider_answer(http, "ana")
    assert (await http.get(answer.callback)).status_code == 303
    [opened] = sessions(node)
    clock.now = opened.expires_at - timedelta(seconds=1)
    assert (await http.get("/console/inbox")).status_code == 200
    clock.now = opened.expires_at
    expired = await http.get("/console/inbox")
    assert expired.status_code == 303
    assert expired.headers["location"].startswith("/console/login?")


# -- the answer from the provider: state, browser, code ------------------------------


async def test_a_wrong_state_is_refused(http: httpx.AsyncClient, node: Node) -> None:
    answer = await provider_answer(http, "ana")
    forged = answer.callback.replace(f"state={answer.state}", "state=" + "x" * 43)
    response = await http.get(forged)
    assert_refused(response, 400, "state_unknown")
    assert "start the sign-in again" in response.text
    assert sessions(node) == []


async def test_a_replayed_answer_is_refused(http: httpx.AsyncClient, node: Node) -> None:
    answer = await provider_answer(http, "ana")
    assert (await http.get(answer.callback)).status_code == 303
    http.cookies.clear()
    await start(http)  # a fresh flow cookie does not make the old state valid
    assert_refused(await http.get(answer.callback), 400, "state_unknown")
    assert len(sessions(node)) == 1


async def test_a_replayed_code_with_a_new_state_is_refused_by_the_provider(http: httpx.AsyncClient, node: Node) -> None:
    first = await provider_answer(http, "ana")
    assert (await http.get(first.callback)).status_code == 303
    second = await provider_answer(http, "ana")
    replay = second.callback.replace(f"code={second.code}", f"code={first.code}")
    # The code was redeemed already (and its PKCE verifier belongs to the first flow).
    assert_refused(await http.get(replay), 502, "token_invalid_grant")
    assert len(sessions(node)) == 1


async def test_an_answer_in_another_browser_is_refused(http: httpx.AsyncClient, node: Node) -> None:
    answer = await provider_answer(http, "ana")
    http.cookies.clear()  # the attacker's browser lacks the flow cookie of the victim's
    assert_refused(await http.get(answer.callback), 400, "browser_mismatch")
    assert sessions(node) == []


async def test_an_answer_naming_another_issuer_is_refused(http: httpx.AsyncClient, node: Node) -> None:
    answer = await provider_answer(http, "ana")
    mixed_up = answer.callback.replace("iss=http", "iss=https")
    assert_refused(await http.get(mixed_up), 400, "iss_mismatch")
    assert sessions(node) == []


# -- who the provider vouches for ------------------------------------------------------


async def test_a_group_that_maps_to_no_role_is_refused_with_a_clear_page(http: httpx.AsyncClient, node: Node) -> None:
    answer = await provider_answer(http, "carla")
    response = await http.get(answer.callback)
    assert_refused(response, 403, "no_role")
    assert "Not allowed to use this console" in response.text
    assert "give no role in this console" in response.text
    with node.transaction() as session:
        assert session.scalars(select(Officer).where(Officer.oidc_subject == "u-carla")).first() is None
    assert sessions(node) == []
    assert sign_in_events(node) == []


async def test_an_unverified_email_is_refused(http: httpx.AsyncClient, node: Node) -> None:
    answer = await provider_answer(http, "dario")
    assert_refused(await http.get(answer.callback), 403, "email_unverified")
    assert sessions(node) == []


async def test_a_user_disabled_at_the_provider_cannot_start_a_new_session(
    http: httpx.AsyncClient, node: Node, provider: TestProvider
) -> None:
    provider.disable("elena", False)  # the provider is shared by both backends' runs
    with httpx.Client(timeout=10) as browser:  # keeps the provider's own session cookie
        answer = authorize(await start(http), user("elena"), redirect_uri=REDIRECT_URI, browser=browser)
        assert isinstance(answer, Authorization)
        assert (await http.get(answer.callback)).status_code == 303
        provider.disable("elena")
        # The provider's session no longer counts: it asks for the login again, and refuses it.
        again = authorize(await start(http), None, redirect_uri=REDIRECT_URI, browser=browser)
        assert isinstance(again, httpx.Response)
        assert 'id="idp-username"' in again.text
        refused = authorize(await start(http), user("elena"), redirect_uri=REDIRECT_URI, browser=browser)
        assert isinstance(refused, httpx.Response)
        assert "This account is disabled." in refused.text
    assert len(sessions(node)) == 1


async def test_an_officer_disabled_on_the_node_is_refused(http: httpx.AsyncClient, node: Node) -> None:
    from gateway.console.service import set_disabled

    answer = await provider_answer(http, "ana")
    assert (await http.get(answer.callback)).status_code == 303
    with node.transaction() as session:
        set_disabled(session, "ana@migracion.example", True, node.now())
    http.cookies.clear()
    answer = await provider_answer(http, "ana")
    assert_refused(await http.get(answer.callback), 403, "disabled")
    assert sessions(node) == []


# -- sign-out --------------------------------------------------------------------------


async def test_sign_out_ends_the_session_and_goes_to_the_providers_end_session_endpoint(
    http: httpx.AsyncClient, node: Node, provider: TestProvider
) -> None:
    answer = await provider_answer(http, "ana")
    assert (await http.get(answer.callback)).status_code == 303
    inbox = await http.get("/console/inbox")
    # The sign-out form's POST is redirected to the provider: the page's CSP must allow that origin.
    assert f"form-action 'self' {provider.issuer};" in inbox.headers["content-security-policy"]
    csrf = inbox.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await http.post("/console/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{provider.issuer}/session/end?client_id=co-console&post_logout_redirect_uri=")
    assert "http%3A%2F%2Fagency.test%2Fconsole%2Flogin%3Fbye%3D1" in location
    assert sessions(node) == []
    end = httpx.get(location, timeout=10)  # the provider accepts the request (its confirmation page)
    assert end.status_code == 200, end.text


async def test_sign_out_of_a_local_session_stays_on_the_node(http: httpx.AsyncClient, node: Node) -> None:
    officer = officer_on(node, Role.VIEWER)
    assert (await sign_in(http, officer, code_at(officer, node.now()))).status_code == 303
    inbox = await http.get("/console/inbox")
    csrf = inbox.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await http.post("/console/logout", data={"csrf_token": csrf})
    assert response.headers["location"] == "/console/login?bye=1"
    assert sign_in_events(node) == [(f"officer:{officer.username}", f"signin:password_totp:{officer.username}")]


# -- a provider that is down -------------------------------------------------------------


async def test_a_provider_that_is_down_shows_a_clear_page_and_break_glass_still_works(
    database_url: str, pki: TestPKI, clock: ManualClock, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    node = sso_node(database_url, pki, clock, sso_settings(pki, dead, tmp_path / "secret"))
    try:
        transport = httpx.ASGITransport(app=create_agency_app(node))
        async with httpx.AsyncClient(transport=transport, base_url=ASGI_BASE) as http:
            response = await http.get("/console/sso/start")
            assert_refused(response, 503, "unreachable")
            assert "Identity provider unavailable" in response.text
            assert 'id="sso-break-glass"' in response.text
            officer = officer_on(node, Role.ADMIN)
            assert (await sign_in(http, officer, code_at(officer, node.now()))).status_code == 303
            assert (await http.get("/console/inbox")).status_code == 200
    finally:
        node.close()


# -- the oversight report ------------------------------------------------------------------


async def test_the_oversight_report_counts_sign_ins_by_method(http: httpx.AsyncClient, node: Node) -> None:
    from gateway.oversight.rendering import csv_text
    from gateway.oversight.service import SignInCount, build_report

    for _ in range(2):
        http.cookies.clear()
        answer = await provider_answer(http, "ana")
        assert (await http.get(answer.callback)).status_code == 303
    http.cookies.clear()
    officer = officer_on(node, Role.ADMIN)
    assert (await sign_in(http, officer, code_at(officer, node.now()))).status_code == 303
    with node.transaction() as session:
        report = build_report(session, node, node.now() - timedelta(hours=1), node.now() + timedelta(hours=1))
    assert report.sign_ins == (SignInCount("oidc", 2), SignInCount("password_totp", 1))
    text = csv_text(report)
    assert "sign_ins,,,oidc,count,2" in text
    assert "sign_ins,,,password_totp,count,1" in text
    assert "ana@" not in text  # counts only: no officer names, no provider subjects
    assert "u-ana" not in text


# -- break-glass: local sign-in limited or off ----------------------------------------------


async def local_node_client(
    database_url: str, pki: TestPKI, clock: ManualClock, tmp_path: Path, provider: TestProvider, **extra: object
) -> tuple[Node, AsyncIterator[httpx.AsyncClient]]:
    node = sso_node(database_url, pki, clock, sso_settings(pki, provider.issuer, tmp_path / "secret", **extra))

    async def client() -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=create_agency_app(node))
        async with httpx.AsyncClient(transport=transport, base_url=ASGI_BASE) as opened:
            yield opened

    return node, client()


async def test_local_sign_in_can_be_limited_to_named_break_glass_accounts(
    database_url: str, pki: TestPKI, clock: ManualClock, tmp_path: Path, provider: TestProvider
) -> None:
    node, clients = await local_node_client(
        database_url, pki, clock, tmp_path, provider, console_local_accounts=["breakglass-admin"]
    )
    try:
        with node.transaction() as session:
            named = add_officer(session, Role.ADMIN, node.now(), name="breakglass-admin")
            other = add_officer(session, Role.ADMIN, node.now(), name="ordinary-admin")
        async for http in clients:
            login = await http.get("/console/login")
            assert 'id="local-limited"' in login.text
            refused = await sign_in(http, other, code_at(other, node.now()))
            assert refused.status_code == 403
            assert "Password sign-in is not allowed for this account on this node" in refused.text
            assert (await sign_in(http, named, code_at(named, node.now()))).status_code == 303
        assert sign_in_events(node) == [("officer:breakglass-admin", "signin:password_totp:breakglass-admin")]
    finally:
        node.close()


async def test_local_sign_in_can_be_turned_off(
    database_url: str, pki: TestPKI, clock: ManualClock, tmp_path: Path, provider: TestProvider
) -> None:
    node, clients = await local_node_client(database_url, pki, clock, tmp_path, provider, console_local_signin=False)
    try:
        officer = officer_on(node, Role.ADMIN)
        async for http in clients:
            login = await http.get("/console/login")
            assert 'id="local-off"' in login.text
            assert 'id="login-form"' not in login.text
            assert 'id="sso-start"' in login.text
            # A hand-made post (the page shows no form) is refused all the same.
            refused = await http.post(
                "/console/login",
                data={
                    "username": officer.username,
                    "password": officer.password,
                    "code": code_at(officer, node.now()),
                    "login_token": http.cookies["mou_console_login"],
                },
            )
            assert refused.status_code == 403
            assert "Password sign-in is not allowed" in refused.text
            assert sessions(node) == []
            answer = await provider_answer(http, "ana")  # the agency's sign-in still works
            assert (await http.get(answer.callback)).status_code == 303
    finally:
        node.close()


async def test_multi_factor_proof_can_be_required(
    database_url: str, pki: TestPKI, clock: ManualClock, tmp_path: Path, provider: TestProvider
) -> None:
    node, clients = await local_node_client(
        database_url, pki, clock, tmp_path, provider, oidc_required_amr=["otp", "mfa"]
    )
    try:
        async for http in clients:
            weak = await provider_answer(http, "bruno")  # amr: pwd
            assert_refused(await http.get(weak.callback), 403, "amr_insufficient")
            strong = await provider_answer(http, "ana")  # amr: pwd, otp
            assert (await http.get(strong.callback)).status_code == 303
    finally:
        node.close()


async def test_a_local_account_of_the_same_name_is_never_taken_over(
    database_url: str, pki: TestPKI, clock: ManualClock, tmp_path: Path, provider: TestProvider
) -> None:
    node, clients = await local_node_client(
        database_url, pki, clock, tmp_path, provider, oidc_username_claim="preferred_username"
    )
    try:
        with node.transaction() as session:
            add_officer(session, Role.ADMIN, node.now(), name="bruno")  # a local admin named like the SSO user
        async for http in clients:
            answer = await provider_answer(http, "bruno")
            response = await http.get(answer.callback)
            assert_refused(response, 403, "name_taken")
            assert "a local console account named &#39;bruno&#39; already exists" in response.text
            assert sessions(node) == []
            answer = await provider_answer(http, "ana")  # no such local name: created as "ana"
            assert (await http.get(answer.callback)).status_code == 303
        with node.transaction() as session:
            assert session.scalars(select(Officer.username).where(Officer.oidc_subject == "u-ana")).one() == "ana"
    finally:
        node.close()
