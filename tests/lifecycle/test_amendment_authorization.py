"""Who may amend what (issue 14, item 8): only the issuing agency's clients, or admin clients.

Before: any client with records:write could correct or retract any record the
node originated, whichever agency issued it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.lifecycle.agencies import Agency, assert_problem, draft
from tests.support.exchange import access_token
from tests.support.nodes import TEST_AGENCIES

SNM = TEST_AGENCIES["PA"]  # the agency of PA's example drafts


@pytest.fixture
def clients(pa: Agency) -> Iterator[dict[str, httpx.Client]]:
    """PA API clients of several agencies and scopes."""
    made: dict[str, httpx.Client] = {}

    def make(key: str, scopes: tuple[str, ...], agency: str | None) -> None:
        with pa.running.node.transaction() as session:
            from gateway.clients.service import create_client

            client_id, secret = create_client(session, key, list(scopes), pa.running.node.now(), agency=agency)
        token = access_token(pa.running.agency_url, client_id, secret)
        made[key] = httpx.Client(
            base_url=pa.running.agency_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    writer = ("records:write", "records:read")
    make("police", writer, "Policía Nacional de Panamá")
    make("no-agency", writer, None)
    make("snm-other-case", writer, SNM.upper())
    make("admin", (*writer, "admin"), None)
    yield made
    for client in made.values():
        client.close()


def _correction(manifest: dict[str, Any]) -> dict[str, Any]:
    corrected = copy.deepcopy(manifest["body"])
    corrected["escorts_count"] = 21
    return {"reason": "two more escorts", "body": corrected}


def test_another_agency_may_neither_correct_nor_retract(pa: Agency, clients: dict[str, httpx.Client]) -> None:
    manifest = draft("removal_manifest")
    record_id = pa.submit(manifest)
    corrected = clients["police"].post(f"/v1/records/{record_id}/corrections", json=_correction(manifest))
    problem = assert_problem(corrected, 403, "not-issuing-agency")
    assert problem["detail"] == (
        f"record {record_id} was issued by {SNM!r}; this client acts for 'Policía Nacional de Panamá'"
    )
    retracted = clients["police"].post(f"/v1/records/{record_id}/retractions", json={"reason": "acquitted"})
    assert_problem(retracted, 403, "not-issuing-agency")
    # Nothing was issued: the record is neither superseded nor retracted.
    lifecycle = pa.record(record_id)["lifecycle"]
    assert (lifecycle["superseded_by"], lifecycle["retracted_by"]) == (None, None)


def test_a_client_without_an_agency_amends_nothing(pa: Agency, clients: dict[str, httpx.Client]) -> None:
    manifest = draft("removal_manifest")
    record_id = pa.submit(manifest)
    response = clients["no-agency"].post(f"/v1/records/{record_id}/retractions", json={"reason": "acquitted"})
    problem = assert_problem(response, 403, "not-issuing-agency")
    assert problem["detail"] == f"record {record_id} was issued by {SNM!r}; this client has no agency"


def test_the_issuing_agency_corrects_in_its_own_name(pa: Agency, clients: dict[str, httpx.Client]) -> None:
    manifest = draft("removal_manifest")
    record_id = pa.submit(manifest)
    # The agency name is matched without regard to case.
    response = clients["snm-other-case"].post(f"/v1/records/{record_id}/corrections", json=_correction(manifest))
    assert response.status_code == 202, response.text
    correction_id = response.json()["record_id"]
    correction = pa.record(correction_id)
    assert correction["envelope"]["originator"]["agency"] == SNM
    # The correction is the issuing agency's too: the same client may correct it again.
    again = clients["snm-other-case"].post(
        f"/v1/records/{correction_id}/corrections", json=_correction(manifest) | {"reason": "one more"}
    )
    assert again.status_code == 202, again.text


def test_an_admin_client_may_amend_any_agencys_record(pa: Agency, clients: dict[str, httpx.Client]) -> None:
    record_id = pa.submit(draft("removal_manifest"))
    response = clients["admin"].post(f"/v1/records/{record_id}/retractions", json={"reason": "data_inaccurate"})
    assert response.status_code == 202, response.text
    assert pa.record(record_id)["lifecycle"]["retracted_by"] == response.json()["record_id"]


def test_a_legal_hold_needs_the_admin_scope(pa: Agency, clients: dict[str, httpx.Client]) -> None:
    record_id = pa.submit(draft("removal_manifest"))
    path = f"/v1/records/{record_id}/legal-hold"
    refused = clients["snm-other-case"].post(path, json={"reason": "Fiscalía case 1"})
    assert_problem(refused, 403, "insufficient-scope")
    placed = clients["admin"].post(path, json={"reason": "Fiscalía case 1"})
    assert placed.status_code == 200, placed.text


def test_an_unknown_record_is_still_a_404_for_any_client(clients: dict[str, httpx.Client]) -> None:
    response = clients["police"].post(
        "/v1/records/0193f5a2-7c1e-7b3a-9d4e-1f2a3b4c5d6e/retractions", json={"reason": "acquitted"}
    )
    assert response.status_code == 404, response.text


def test_a_client_submits_drafts_only_in_its_own_agency_name(pa: Agency, clients: dict[str, httpx.Client]) -> None:
    # Before: a client of the police could submit a manifest in SNM's name, and
    # SNM's clients then had to amend a record SNM never issued.
    manifest = draft("removal_manifest")
    response = clients["police"].post("/v1/records", json=manifest)
    problem = assert_problem(response, 403, "not-issuing-agency")
    assert problem["detail"] == (
        f"the draft names the agency {SNM!r} as originator; this client acts for 'Policía Nacional de Panamá'"
    )
    # The same draft from a client of that agency (any case), an admin client, or
    # a client made before agencies existed is accepted.
    for key in ("snm-other-case", "admin", "no-agency"):
        accepted = clients[key].post("/v1/records", json=draft("removal_manifest"))
        assert accepted.status_code == 202, (key, accepted.text)
