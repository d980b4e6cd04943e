"""The console in a real browser (Playwright driving Debian's Chromium) against real nodes.

PA, CO and US run on 127.0.0.1 with mutual TLS between them; records travel
through the partner listeners and the delivery workers as in production.
Locally the tests skip when /usr/bin/chromium is missing; under CI=true they fail.

Set CONSOLE_SCREENSHOTS_DIR=docs to refresh docs/console-inbox.png and
docs/console-record.png.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pyotp
import pytest
from sqlalchemy import select

from gateway.console import service
from gateway.console.models import ConsoleAction
from gateway.console.schemas import NewOfficer, Role
from gateway.exchange.models import Delivery
from gateway.records import repository as records
from gateway.records.models import StoredRecord
from gateway.records.signing import build_record, sign_record
from gateway.transport.tls import client_context
from gateway.trust.jws import b64url_decode, b64url_encode
from tests.conftest import BACKENDS
from tests.console.conftest import example, unique_name
from tests.support.databases import DatabaseFactory, require_postgres
from tests.support.nodes import TEST_AGENCIES, TEST_SEED_CIPHER, Cluster, RunningNode, start_cluster, wait_for
from tests.support.pki import TestPKI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() == "true"
CSRF_INPUT = 'input[name="csrf_token"]'

pytestmark = pytest.mark.slow


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; the browser tests are required under CI=true")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for this module only: Playwright's sync API holds an event loop while it runs."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
        raise
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module", params=BACKENDS)
def cluster(
    request: pytest.FixtureRequest,
    pki: TestPKI,
    database_factories: dict[str, DatabaseFactory],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """PA, CO and US with embedded workers, shared by the tests of this module."""
    backend: str = request.param
    if backend == "postgres":
        require_postgres()
    if backend not in database_factories:
        database_factories[backend] = DatabaseFactory(backend, tmp_path_factory.mktemp(f"db-{backend}"))
    factory = database_factories[backend]
    urls = {party: factory.fresh_url() for party in ("PA", "CO", "US")}
    running = start_cluster(pki, urls, tmp_path_factory.mktemp(f"console-{backend}"))
    yield running
    settle(running)
    running.stop()


def settle(cluster: Cluster, timeout: float = 30) -> None:
    """Wait until no delivery is pending (stopping a node mid-delivery stalls its peer)."""

    def idle() -> bool:
        for running in cluster.nodes.values():
            with running.node.transaction() as session:
                if session.scalar(select(Delivery.pk).where(Delivery.status == "pending").limit(1)):
                    return False
        return True

    with contextlib.suppress(AssertionError):  # stop anyway; the assertions already ran
        wait_for(idle, timeout=timeout, interval=0.1)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    opened = context.new_page()
    yield opened
    context.close()


# -- helpers -------------------------------------------------------------------------------


def officer(running: RunningNode, role: Role, name: str = "") -> NewOfficer:
    with running.node.transaction() as session:
        return service.create_officer(
            session,
            name or unique_name(role.value),
            role,
            running.node.now(),
            issuer=f"MOU Gateway {running.party}",
            password_change_required=False,
            cipher=TEST_SEED_CIPHER,
        )


def log_in(page: Page, running: RunningNode, who: NewOfficer, *, code: str | None = None) -> None:
    page.goto(f"{running.agency_url}/console/login")
    page.fill('input[name="username"]', who.username)
    page.fill('input[name="password"]', who.password)
    page.fill('input[name="code"]', code or pyotp.TOTP(who.totp_secret).now())
    page.click('#login-form button[type="submit"]')


def submit(running: RunningNode, draft: dict[str, Any]) -> str:
    """Submit a draft through the agency API; return its record id."""
    client_id, secret = running.add_client()
    with httpx.Client(base_url=running.agency_url, timeout=30) as http:
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)).json()[
            "access_token"
        ]
        response = http.post("/v1/records", json=draft, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.text
    return str(response.json()["record_id"])


def stored(running: RunningNode, direction: str, record_id: str) -> StoredRecord | None:
    with running.node.transaction() as session:
        copies = [c for c in records.by_record_id(session, record_id) if c.direction == direction]
    return copies[0] if copies else None


def status_of(running: RunningNode, direction: str, record_id: str) -> str | None:
    record = stored(running, direction, record_id)
    return record.status if record is not None else None


def received_pk(running: RunningNode, record_id: str) -> int:
    """Wait until ``running`` holds the received record ``record_id``; return its pk."""
    wait_for(lambda: stored(running, "in", record_id) is not None, timeout=30)
    record = stored(running, "in", record_id)
    assert record is not None
    return record.pk


def post_tampered_flag(cluster: Cluster, pki: TestPKI, workdir: Path) -> str:
    """PA signs a flag for CO, the payload is altered in transit; return its record id."""
    pa = cluster["PA"].node
    draft = example("criminal_network_flag")
    draft["recipients"] = ["CO"]
    signed = sign_record(build_record(draft, datetime.now(UTC)), pki.signing_key("PA"))
    header, payload, signature = signed.jws.split(".")
    document = json.loads(b64url_decode(payload))
    document["body"]["subject_status"] = "convicted"  # the alteration
    forged_payload = b64url_encode(json.dumps(document, separators=(",", ":")).encode())
    forged = ".".join([header, forged_payload, signature])
    settings = pa.settings
    assert settings.tls_cert is not None
    assert settings.tls_key is not None
    context = client_context(settings.tls_cert, settings.tls_key, pa.bundle, workdir, "CO")
    with httpx.Client(verify=context, timeout=30) as http:
        response = http.post(
            f"{cluster['CO'].partner_url}/v1/exchange/records",
            content=forged,
            headers={"Content-Type": "application/jose"},
        )
    assert response.status_code == 201, response.text
    receipt = json.loads(b64url_decode(response.text.split(".")[1]))
    assert receipt["verdict"] == "rejected"
    assert receipt["jws_sha256"] == hashlib.sha256(forged.encode()).hexdigest()
    return str(document["record_id"])


def until(page: Page, check: Callable[[], bool], timeout: float = 30) -> None:
    """Reload ``page`` until ``check`` holds."""

    def reloaded() -> bool:
        page.reload()
        return check()

    wait_for(reloaded, timeout=timeout, interval=0.3)


# -- tests -----------------------------------------------------------------------------------


def test_review_and_acknowledge_a_manifest(cluster: Cluster, page: Page, browser: Browser) -> None:
    pa, co = cluster["PA"], cluster["CO"]
    record_id = submit(pa, example("removal_manifest"))
    pk = received_pk(co, record_id)
    reviewer = officer(co, Role.REVIEWER)

    log_in(page, co, reviewer)
    assert page.url.endswith("/console/inbox")
    assert page.inner_text("#signed-in-as") == f"{reviewer.username} · reviewer"
    # Filter the inbox: type and record id.
    page.select_option('select[name="record_type"]', "removal_manifest")
    page.fill('input[name="q"]', record_id[:18])
    page.click("#apply-filters")
    rows = page.locator("#inbox-table tbody tr")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-record-type") == "removal_manifest"
    assert "record_type=removal_manifest" in page.url
    rows.first.locator("a.record-link").click()

    assert page.url.endswith(f"/console/records/{pk}")
    assert page.inner_text("#verification-verdict") == "VALID"
    assert "valid" in page.inner_text("#signature-status")
    assert page.inner_text("#signer-party").startswith("PA")
    assert "PA" in page.inner_text("#signer-subject")
    assert re.fullmatch(r"[0-9a-f]{64}", page.inner_text("#signer-fingerprint"))
    assert "signed receipt sent" in page.inner_text("#receipt-sent")
    assert page.locator("#people tbody tr").count() == 34
    assert page.inner_text("#flight-number").startswith("IST4501")
    timeline = page.locator("#timeline li")
    assert [timeline.nth(i).get_attribute("data-event") for i in range(timeline.count())][:2] == [
        "exchange:record:received",
        "records:record:viewed",
    ]

    page.click("#acknowledge")
    assert page.url.endswith(f"/console/records/{pk}?done=accept")
    assert page.inner_text("#action-done") == "Acknowledgement signed and queued for delivery."
    assert page.locator("#answer-form").count() == 0
    assert page.locator("#answers tbody tr").count() == 1
    # The acknowledgement reaches the originator, which marks its manifest acknowledged by CO.
    wait_for(lambda: status_of(pa, "out", record_id) == "acknowledged", timeout=30)
    record = stored(pa, "out", record_id)
    assert record is not None
    assert record.answered_by == "CO"
    until(page, lambda: "PA: delivered" in page.inner_text("#answers"))

    pa_page = browser.new_context().new_page()
    try:
        log_in(pa_page, pa, officer(pa, Role.VIEWER))
        outgoing = stored(pa, "out", record_id)
        assert outgoing is not None
        pa_page.goto(f"{pa.agency_url}/console/records/{outgoing.pk}")
        answer = pa_page.locator('#partner-answers tr[data-partner="CO"]')
        assert "acknowledged" in answer.inner_text()
        assert "CO: delivered" in pa_page.inner_text("#deliveries")
    finally:
        pa_page.context.close()


def test_a_record_with_a_broken_signature_is_invalid_and_cannot_be_acknowledged(
    cluster: Cluster, page: Page, pki: TestPKI, tmp_path: Path
) -> None:
    co = cluster["CO"]
    record_id = post_tampered_flag(cluster, pki, tmp_path)
    pk = received_pk(co, record_id)
    log_in(page, co, officer(co, Role.ADMIN))
    page.select_option('select[name="status"]', "invalid")
    page.click("#apply-filters")
    assert page.locator(f'a.record-link[href="/console/records/{pk}"]').count() == 1
    page.click(f'a.record-link[href="/console/records/{pk}"]')

    assert page.inner_text("#verification-verdict") == "INVALID"
    assert "bad_signature" in page.inner_text("#invalid-banner")
    assert page.locator("#answer-form").count() == 0
    assert page.locator("#acknowledge").count() == 0
    assert page.is_visible("#not-acknowledgeable")
    # Even a hand-made POST with a valid CSRF token is refused.
    token = page.locator(CSRF_INPUT).first.get_attribute("value")
    response = page.request.post(
        f"{co.agency_url}/console/records/{pk}/answer",
        form={"decision": "accept", "csrf_token": token or ""},
        max_redirects=0,
    )
    assert response.status == 409
    assert "INVALID" in response.text()
    with co.node.transaction() as session:
        record = session.get(StoredRecord, pk)
        assert record is not None
        assert record.status == "failed_verification"
        actions = session.scalars(select(ConsoleAction).where(ConsoleAction.record_pk == pk))
        assert actions.all() == []


def test_wrong_totp_is_refused(cluster: Cluster, page: Page) -> None:
    co = cluster["CO"]
    reviewer = officer(co, Role.REVIEWER)
    right = pyotp.TOTP(reviewer.totp_secret).now()
    log_in(page, co, reviewer, code=f"{(int(right) + 500_000) % 1_000_000:06d}")
    assert page.url.startswith(f"{co.agency_url}/console/login")
    assert "Sign-in failed" in page.inner_text("#login-error")
    page.goto(f"{co.agency_url}/console/inbox")
    assert "/console/login" in page.url
    log_in(page, co, reviewer)
    assert page.url.endswith("/console/inbox")


def test_a_post_without_the_csrf_token_is_refused(cluster: Cluster) -> None:
    pa, co = cluster["PA"], cluster["CO"]
    record_id = submit(pa, example("removal_manifest"))
    pk = received_pk(co, record_id)
    reviewer = officer(co, Role.REVIEWER)
    with httpx.Client(base_url=co.agency_url, timeout=30) as http:
        form = http.get("/console/login")
        login_token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert login_token is not None
        signed_in = http.post(
            "/console/login",
            data={
                "username": reviewer.username,
                "password": reviewer.password,
                "code": pyotp.TOTP(reviewer.totp_secret).now(),
                "login_token": login_token.group(1),
            },
        )
        assert signed_in.status_code == 303
        assert "mou_console" in http.cookies
        assert http.get(f"/console/records/{pk}").status_code == 200  # the session is valid
        refused = http.post(f"/console/records/{pk}/answer", data={"decision": "accept"})
    assert refused.status_code == 403
    assert "Form token missing or invalid" in refused.text
    record = stored(co, "in", record_id)
    assert record is not None
    assert record.status == "new"


def test_a_script_in_a_record_is_rendered_inert(cluster: Cluster, page: Page) -> None:
    pa, co = cluster["PA"], cluster["CO"]
    draft = example("criminal_network_flag")
    payload = '<script>window.__xss = 1; document.title = \'pwned\'</script><img src="x" onerror="window.__xss = 2">'
    draft["body"]["summary_of_facts"] = f"Facts. {payload}"
    record_id = submit(pa, draft)
    pk = received_pk(co, record_id)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, co, officer(co, Role.VIEWER))
    page.goto(f"{co.agency_url}/console/records/{pk}")

    assert page.inner_text("#summary-of-facts") == f"Facts. {payload}"
    assert page.evaluate("() => window.__xss") is None
    assert page.title() != "pwned"
    assert page.locator("#summary-of-facts script, #summary-of-facts img").count() == 0
    assert errors == []


def test_a_viewer_cannot_acknowledge(cluster: Cluster, page: Page) -> None:
    pa, co = cluster["PA"], cluster["CO"]
    record_id = submit(pa, example("removal_manifest"))
    pk = received_pk(co, record_id)
    log_in(page, co, officer(co, Role.VIEWER))
    page.goto(f"{co.agency_url}/console/records/{pk}")
    assert page.inner_text("#verification-verdict") == "VALID"
    assert page.locator("#answer-form").count() == 0
    assert page.is_visible("#role-cannot-answer")
    token = page.locator(CSRF_INPUT).first.get_attribute("value")
    response = page.request.post(
        f"{co.agency_url}/console/records/{pk}/answer",
        form={"decision": "accept", "csrf_token": token or ""},
        max_redirects=0,
    )
    assert response.status == 403
    assert "Not allowed for your role" in response.text()
    record = stored(co, "in", record_id)
    assert record is not None
    assert record.status == "new"


def test_screenshots_of_the_inbox_and_a_record(cluster: Cluster, page: Page, pki: TestPKI, tmp_path: Path) -> None:
    pa, co, us = cluster["PA"], cluster["CO"], cluster["US"]
    manifest_id = submit(pa, example("removal_manifest"))
    sent = [submit(pa, example("removal_confirmation")), submit(pa, example("criminal_network_flag"))]
    us_flag = example("criminal_network_flag")
    us_flag["originator"] = {**us_flag["originator"], "party": "US", "agency": TEST_AGENCIES["US"]}
    us_flag["recipients"] = ["CO"]
    sent.append(submit(us, us_flag))
    post_tampered_flag(cluster, pki, tmp_path)
    for record_id in sent:
        received_pk(co, record_id)
    pk = received_pk(co, manifest_id)

    log_in(page, co, officer(co, Role.REVIEWER, name="ana.restrepo"))
    target = Path(os.environ.get("CONSOLE_SCREENSHOTS_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.goto(f"{co.agency_url}/console/inbox")
    page.screenshot(path=str(target / "console-inbox.png"), full_page=False)
    page.goto(f"{co.agency_url}/console/records/{pk}")
    assert page.inner_text("#verification-verdict") == "VALID"
    page.screenshot(path=str(target / "console-record.png"), full_page=False)
    page.goto(f"{co.agency_url}/console/ledger")
    page.screenshot(path=str(target / "console-ledger.png"), full_page=False)
    for name in ("console-inbox.png", "console-record.png", "console-ledger.png"):
        data = (target / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(data) > 10_000


def test_a_record_opens_by_its_record_id_with_its_actions_in_view(cluster: Cluster, browser: Browser) -> None:
    pa, co = cluster["PA"], cluster["CO"]
    record_id = submit(pa, example("removal_manifest"))
    pk = received_pk(co, record_id)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = context.new_page()
    try:
        log_in(page, co, officer(co, Role.REVIEWER))
        page.goto(f"{co.agency_url}/console/records/{record_id}")  # the id an agency system quotes
        assert page.url.endswith(f"/console/records/{record_id}")
        assert page.inner_text("h1 code.id") == record_id
        assert page.evaluate("window.scrollY") == 0
        for button in ("#acknowledge", "#query", "#reject"):
            box = page.locator(button).bounding_box()
            assert box is not None, button
            assert box["y"] >= 0
            assert box["y"] + box["height"] <= 800, f"{button} is below the fold at y={box['y']}"
        # The 34-person table fits the 1280 px page: it wraps (or scrolls inside its card); no column is cut off.
        assert page.locator("#people tbody tr").count() == 34
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        card = page.locator("#record-body").bounding_box()
        table = page.locator("#people").bounding_box()
        assert card is not None
        assert table is not None
        assert table["x"] + table["width"] <= card["x"] + card["width"] + 1
        if os.environ.get("CONSOLE_SCREENSHOTS_DIR"):
            shots = Path(os.environ["CONSOLE_SCREENSHOTS_DIR"])
            page.screenshot(path=str(shots / "console-record-1280.png"), full_page=False)
        # The same record by its number here, and an unknown id quoted whole.
        page.goto(f"{co.agency_url}/console/records/{pk}")
        assert page.inner_text("h1 code.id") == record_id
        unknown = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
        answer = page.goto(f"{co.agency_url}/console/records/{unknown}")
        assert answer is not None
        assert answer.status == 404
        assert f"no record {unknown} at this node" in page.content()
    finally:
        context.close()
