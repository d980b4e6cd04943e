"""The record lifecycle in a real browser (Playwright driving Debian's Chromium) across real nodes.

PA sends a manifest to CO; a CO reviewer reports a discrepancy and PA's console
shows the manifest contested; a PA reviewer answers, then retracts the manifest,
and CO's console shows it retracted with its body deleted. Records travel
through the partner listeners (mutual TLS) and the delivery workers.
Set CONSOLE_SCREENSHOTS_DIR to keep the screenshots taken on the way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateway.console.schemas import Role
from tests.console.conftest import example
from tests.console.test_browser import (  # noqa: F401 - browser and cluster are fixtures shared with it
    browser,
    cluster,
    log_in,
    officer,
    received_pk,
    settle,
    stored,
    submit,
    until,
)
from tests.support.nodes import Cluster, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow


def _shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_a_discrepancy_then_a_retraction_seen_from_both_consoles(
    cluster: Cluster,  # noqa: F811 - the shared fixture imported above
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    pa, co = cluster["PA"], cluster["CO"]
    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    record_id = submit(pa, example("removal_manifest"))
    co_pk = received_pk(co, record_id)
    outgoing = stored(pa, "out", record_id)
    assert outgoing is not None

    co_page = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB").new_page()
    pa_page = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB").new_page()
    try:
        # CO: a reviewer reports that one person was not on the flight.
        log_in(co_page, co, officer(co, Role.REVIEWER))
        co_page.goto(f"{co.agency_url}/console/records/{co_pk}")
        assert co_page.locator("#lifecycle-badges [data-lifecycle]").count() == 0
        co_page.click("#discrepancy-details > summary")  # the form opens on demand
        co_page.select_option('#discrepancy-form select[name="category"]', "person_not_on_flight")
        co_page.fill('#discrepancy-form input[name="person_ref"]', "P07")
        co_page.fill('#discrepancy-form textarea[name="details"]', "P07 no abordó el vuelo IST4501")
        co_page.click("#report-discrepancy")
        assert co_page.url.endswith(f"/console/records/{co_pk}?done=reported")
        assert "Discrepancy report signed" in co_page.inner_text("#action-done")
        assert "person not on the flight" in co_page.inner_text("#contested-banner")
        assert co_page.locator("#discrepancy-form").count() == 0

        # PA: the manifest is contested once the report arrives; a reviewer answers it.
        wait_for(lambda: (stored(pa, "out", record_id) or outgoing).contested_by is not None, timeout=30)
        log_in(pa_page, pa, officer(pa, Role.REVIEWER))
        pa_page.goto(f"{pa.agency_url}/console/records/{outgoing.pk}")
        banner = pa_page.locator("#contested-banner")
        assert "P07 no abordó el vuelo IST4501" in banner.inner_text()
        assert pa_page.locator('#lifecycle-badges [data-lifecycle="contested"]').count() == 1
        _shot(pa_page, shots, "lifecycle-contested-at-pa")
        banner.locator("a").click()
        assert pa_page.locator("#discrepancy-answer-form").count() == 1
        pa_page.fill('#discrepancy-answer-form textarea[name="comment"]', "Verificado: P07 abordó con escolta")
        pa_page.click("#answer-discrepancy")
        assert "?done=answered" in pa_page.url
        wait_for(lambda: (stored(co, "in", record_id) or outgoing).contested_by is None, timeout=30)
        until(co_page, lambda: co_page.locator("#contested-banner").count() == 0)

        # PA retracts the manifest everywhere; CO's copy loses its body and says why.
        pa_page.goto(f"{pa.agency_url}/console/records/{outgoing.pk}")
        assert pa_page.locator('#dissemination-table tr[data-party="CO"]').get_attribute("data-state") == "current"
        pa_page.select_option('#retract-form select[name="reason"]', "data_inaccurate")
        pa_page.fill('#retract-form textarea[name="comment"]', "Manifiesto con datos erróneos")
        pa_page.click("#retract")
        assert "?done=retracted" in pa_page.url
        assert "data inaccurate" in pa_page.inner_text("#retracted-banner")
        assert "(retraction); envelope and SHA-256 kept" in pa_page.inner_text("#verification-body-deleted")

        until(co_page, lambda: co_page.locator("#retracted-banner").count() == 1)
        assert "data inaccurate" in co_page.inner_text("#retraction-reason")
        assert "Manifiesto con datos erróneos" in co_page.inner_text("#retracted-banner")
        assert "(retraction); envelope and SHA-256 kept" in co_page.inner_text("#verification-body-deleted")
        assert co_page.locator("#people").count() == 0
        assert co_page.locator("#lifecycle-actions").count() == 0
        # Never a bare VALID for a withdrawn record: the signature holds, the content does not.
        verdict = co_page.inner_text("#verification-verdict")
        assert verdict.startswith("Signature valid; record withdrawn: retracted by its originator"), verdict
        assert "VALID" not in verdict
        _shot(co_page, shots, "lifecycle-retracted-at-co")
        co_page.goto(f"{co.agency_url}/console/inbox?lifecycle=retracted")
        assert co_page.locator(f'a.record-link[href="/console/records/{co_pk}"]').count() == 1
        assert co_page.locator('#inbox-table [data-lifecycle="retracted"]').count() == 1
        _shot(co_page, shots, "lifecycle-inbox-at-co")

        # CO's application acknowledgement reaches PA: its dissemination table shows the copy retracted.
        pa_page.goto(f"{pa.agency_url}/console/records/{outgoing.pk}")
        until(
            pa_page,
            lambda: (
                pa_page.locator('#dissemination-table tr[data-party="CO"]').get_attribute("data-state") == "retracted"
            ),
        )
        assert "applied" in pa_page.inner_text('#dissemination-table tr[data-party="CO"]')
        _shot(pa_page, shots, "lifecycle-dissemination-at-pa")
        pa_page.goto(f"{pa.agency_url}/console/lifecycle")
        assert pa_page.locator("#no-laggards").count() == 1
        _shot(pa_page, shots, "lifecycle-page-at-pa")
    finally:
        co_page.context.close()
        pa_page.context.close()
