"""Sign-in throttling over HTTP (issue 14, item 7d): slow the guesser, never lock the officer out.

Before: five wrong passwords from anyone locked the account for 15 minutes.
Each client here has its own source address (ASGITransport's ``client``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from sqlalchemy import select

from gateway.app import create_agency_app
from gateway.console import throttle
from gateway.console.models import LoginAttempt
from gateway.console.schemas import NewOfficer, Role
from gateway.node import Node
from tests.console.conftest import ManualClock, code_at, csrf_of, officer_on, sign_in

pytestmark = pytest.mark.anyio

THROTTLED_TEXT = "Too many failed sign-ins from this address: wait a few minutes, then try again."
FAILED_TEXT = "Sign-in failed: wrong username, password or code"
Source = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def source(node: Node) -> Source:
    """Open an HTTP client of the agency app whose requests come from ``address``."""
    app = create_agency_app(node)

    @asynccontextmanager
    async def open_from(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://agency.test") as client:
            yield client

    return open_from


async def _fail(client: httpx.AsyncClient, officer: NewOfficer) -> httpx.Response:
    return await sign_in(client, officer, "000000", password="not the password")


def _reasons(node: Node, username: str) -> list[str]:
    with node.transaction() as session:
        return list(
            session.scalars(
                select(LoginAttempt.reason).where(LoginAttempt.username == username).order_by(LoginAttempt.pk)
            )
        )


async def test_an_outsider_cannot_lock_an_officer_out(node: Node, source: Source) -> None:
    officer = officer_on(node, Role.REVIEWER)
    async with source("203.0.113.5") as attacker:
        for _ in range(20):
            response = await _fail(attacker, officer)
            assert response.status_code in (401, 429)
        assert response.status_code == 429
    async with source("198.51.100.20") as own:
        response = await sign_in(own, officer, code_at(officer, node.now()))
        assert response.status_code == 303, response.text
        assert (await own.get("/console/inbox")).status_code == 200


async def test_failures_from_one_source_grow_an_exponential_delay(
    node: Node, clock: ManualClock, source: Source
) -> None:
    officer = officer_on(node, Role.VIEWER)
    async with source("203.0.113.6") as attacker:
        for _ in range(throttle.PAIR_FREE_FAILURES):
            assert (await _fail(attacker, officer)).status_code == 401
        refused = await _fail(attacker, officer)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "5"
        assert THROTTLED_TEXT in refused.text
        # Even the right password and code are not checked while throttled.
        right = await sign_in(attacker, officer, code_at(officer, node.now()))
        assert right.status_code == 429
        clock.advance(5)
        assert (await _fail(attacker, officer)).status_code == 401  # checked again: 4th failure
        doubled = await _fail(attacker, officer)
        assert (doubled.status_code, doubled.headers["retry-after"]) == (429, "10")
        clock.advance(10)
        assert (await _fail(attacker, officer)).status_code == 401
        assert (await _fail(attacker, officer)).headers["retry-after"] == "20"
    failures = ["wrong_password"] * throttle.PAIR_FREE_FAILURES
    assert _reasons(node, officer.username) == [
        *failures,
        "throttled",
        "throttled",
        "wrong_password",
        "throttled",
        "wrong_password",
        "throttled",
    ]


async def test_the_delay_never_exceeds_the_cap() -> None:
    assert throttle.pair_delay(throttle.PAIR_FREE_FAILURES - 1).total_seconds() == 0
    assert throttle.pair_delay(throttle.PAIR_FREE_FAILURES).total_seconds() == 5
    assert throttle.pair_delay(1000) == throttle.PAIR_MAX_DELAY


async def test_one_source_guessing_many_names_is_refused_for_every_name(
    node: Node, clock: ManualClock, source: Source
) -> None:
    officer = officer_on(node, Role.VIEWER)
    async with source("203.0.113.7") as sprayer:
        for n in range(throttle.SOURCE_MAX_FAILURES):
            form = await sprayer.get("/console/login")
            token = form.cookies.get("mou_console_login") or sprayer.cookies.get("mou_console_login")
            response = await sprayer.post(
                "/console/login",
                data={"username": f"guess-{n}", "password": "x" * 12, "code": "000000", "login_token": token},
            )
            assert response.status_code == 401, n
        refused = await sign_in(sprayer, officer, code_at(officer, node.now()))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == str(int(throttle.WINDOW.total_seconds()))
    async with source("198.51.100.21") as own:
        assert (await sign_in(own, officer, code_at(officer, node.now()))).status_code == 303
    clock.advance(throttle.WINDOW.total_seconds() + 1)
    async with source("203.0.113.7") as sprayer:
        assert (await _fail(sprayer, officer)).status_code == 401  # the window passed


async def test_an_admin_unlock_lifts_the_throttle(http: httpx.AsyncClient, node: Node, source: Source) -> None:
    officer = officer_on(node, Role.VIEWER)
    async with source("203.0.113.8") as attacker:
        for _ in range(throttle.PAIR_FREE_FAILURES):
            await _fail(attacker, officer)
        assert (await _fail(attacker, officer)).status_code == 429
        admin = officer_on(node, Role.ADMIN)
        assert (await sign_in(http, admin, code_at(admin, node.now()))).status_code == 303
        csrf = csrf_of(await http.get("/console/officers"))
        response = await http.post(f"/console/officers/{officer.username}/unlock", data={"csrf_token": csrf})
        assert response.status_code == 303
        assert (await _fail(attacker, officer)).status_code == 401  # checked again
    assert _reasons(node, officer.username)[-2:] == ["unlocked", "wrong_password"]
