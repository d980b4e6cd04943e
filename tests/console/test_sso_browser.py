"""SSO sign-in end to end in a real browser: Chromium (Playwright) → the CO node → the real test provider.

The node runs on 127.0.0.1 (its agency listener over HTTP), the provider is
panva's oidc-provider on 127.0.0.1; the browser follows every redirect
itself. Locally the test skips when /usr/bin/chromium or the provider's
node_modules are missing; under CI=true it fails instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from gateway.console.models import Officer
from tests.console.sso_support import IN_CI, sso_settings, start_provider, user
from tests.console.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.nodes import Cluster, start_cluster
from tests.support.oidc_provider import TestProvider, free_port
from tests.support.pki import TestPKI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing; the browser tests are required under CI=true")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def sso_cluster(database_url: str, pki: TestPKI, tmp_path: Path) -> Iterator[tuple[Cluster, TestProvider]]:
    """The CO node configured for the test provider, and the provider registered for the node's URL."""
    port = free_port()
    settings = sso_settings(pki, f"http://127.0.0.1:{port}", tmp_path / "oidc-secret")
    cluster = start_cluster(pki, {"CO": database_url}, tmp_path, parties=("CO",), run_worker=False, **settings)
    try:
        provider = start_provider(tmp_path, [cluster["CO"].agency_url], port=port)
        try:
            yield cluster, provider
        finally:
            provider.stop()
    finally:
        cluster.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    opened = context.new_page()
    yield opened
    context.close()


def sign_in_at_provider(page: Page, agency_url: str, username: str) -> None:
    page.goto(f"{agency_url}/console/login")
    page.click("#sso-start")
    page.wait_for_selector("#idp-username")
    assert "/interaction/" in page.url
    who = user(username)
    page.fill("#idp-username", who.username)
    page.fill("#idp-password", who.password)
    page.click("#idp-submit")


def test_an_officer_signs_in_and_out_through_the_agencys_provider(
    sso_cluster: tuple[Cluster, TestProvider], page: Page, tmp_path: Path
) -> None:
    cluster, provider = sso_cluster
    running = cluster["CO"]
    sign_in_at_provider(page, running.agency_url, "ana")
    page.wait_for_url(re.compile(r".*/console/inbox$"))
    assert "ana@migracion.example" in page.inner_text("header")
    page.screenshot(path=str(tmp_path / "sso-inbox.png"))
    with running.node.transaction() as session:
        officer = session.scalars(select(Officer).where(Officer.oidc_subject == "u-ana")).one()
        assert officer.role == "reviewer"

    page.click("#logout")
    # The provider asks to confirm its own sign-out, then sends the browser back to the console.
    page.wait_for_url(re.compile(rf"^{re.escape(provider.issuer)}/session/end.*"))
    page.locator("button[autofocus], button").first.click()
    page.wait_for_url(re.compile(r".*/console/login\?bye=1$"))
    assert "You are signed out." in page.inner_text("main")
    page.goto(f"{running.agency_url}/console/inbox")
    page.wait_for_url(re.compile(r".*/console/login\?.*"))


def test_a_user_whose_groups_map_to_no_role_sees_a_clear_refusal(
    sso_cluster: tuple[Cluster, TestProvider], page: Page
) -> None:
    cluster, _ = sso_cluster
    sign_in_at_provider(page, cluster["CO"].agency_url, "carla")
    page.wait_for_selector("#error-title")
    assert page.inner_text("#error-title") == "Not allowed to use this console"
    assert "give no role in this console" in page.inner_text("#error-detail")
    assert page.inner_text("#sso-reason") == "no_role"
    page.goto(f"{cluster['CO'].agency_url}/console/inbox")
    page.wait_for_url(re.compile(r".*/console/login\?.*"))
