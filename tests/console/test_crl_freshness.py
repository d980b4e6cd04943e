"""The console's ledger page lists the trust bundle's CRLs and raises an alarm for a stale one."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.console.schemas import Role
from gateway.node import Node
from tests.console.conftest import ManualClock, signed_in

pytestmark = pytest.mark.anyio

DAY = 86_400.0


def crl_rows(page: str) -> list[list[str]]:
    table = re.search(r'<table id="crl-freshness">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert table is not None, page
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1))]


async def test_fresh_crls_are_listed_without_an_alarm(http: httpx.AsyncClient, node: Node) -> None:
    await signed_in(http, node, Role.VIEWER)
    page = await http.get("/console/ledger")
    assert page.status_code == 200
    assert 'id="crl-stale-alarm"' not in page.text
    rows = crl_rows(page.text)
    assert [(row[0], row[-1]) for row in rows] == [("CO", "fresh"), ("PA", "fresh"), ("US", "fresh")]


async def test_a_crl_past_its_next_update_raises_an_alarm(
    http: httpx.AsyncClient, node: Node, clock: ManualClock
) -> None:
    clock.advance(31 * DAY)  # the development CRLs are good for 30 days
    await signed_in(http, node, Role.VIEWER)

    page = await http.get("/console/ledger")

    assert page.status_code == 200
    assert re.search(
        r'<p class="alarm" id="crl-stale-alarm"><strong>A revocation list is past its next update', page.text
    )
    assert [(row[0], row[-1]) for row in crl_rows(page.text)] == [("CO", "STALE"), ("PA", "STALE"), ("US", "STALE")]
