"""The retention routes of the real agency app (httpx ASGITransport), on both backends."""

from __future__ import annotations

import httpx
import pytest

from gateway.errors import PROBLEM_BASE
from gateway.node import Node
from tests.retention.conftest import DAY, ManualClock, authorized, events_about, rows_of, sign_flag, sign_manifest

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"
UNKNOWN = "01ba3c31-f739-79c4-9a2b-3c4d5e6f7000"


def problem_type(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    return str(response.json()["type"]).removeprefix(PROBLEM_BASE)


async def test_legal_hold_through_the_api(api: httpx.AsyncClient, node: Node, clock: ManualClock) -> None:
    admin = await authorized(api, node, "admin")
    reader = await authorized(api, node, "records:read")
    flag = sign_flag(node)
    path = f"/v1/records/{flag}/legal-hold"

    missing = await api.post(path, json={}, headers=admin)
    assert (missing.status_code, problem_type(missing)) == (422, "request-validation")
    blank = await api.post(path, json={"reason": "  "}, headers=admin)
    assert (blank.status_code, problem_type(blank)) == (422, "legal-hold-reason-required")
    unknown = await api.post(f"/v1/records/{UNKNOWN}/legal-hold", json={"reason": "case"}, headers=admin)
    assert (unknown.status_code, problem_type(unknown)) == (404, "record-not-held")

    placed = await api.post(path, json={"reason": "Fiscalía case 2027-114"}, headers=admin)
    assert placed.status_code == 200, placed.text
    client = placed.json()["by"]
    assert placed.json() | {"at": None} == {
        "legal_hold": "placed",
        "record_id": flag,
        "directions": ["out"],
        "reason": "Fiscalía case 2027-114",
        "by": client,
        "at": None,
    }
    assert client.startswith("client:")
    twice = await api.post(path, json={"reason": "another"}, headers=admin)
    assert (twice.status_code, problem_type(twice)) == (409, "legal-hold-exists")

    clock.advance(400 * DAY)
    admin = await authorized(api, node, "admin")  # tokens of the old clock have expired
    reader = await authorized(api, node, "records:read")
    shown = (await api.get(f"/v1/records/{flag}", headers=reader)).json()
    assert shown["lifecycle"]["retention"] == "held"
    assert shown["lifecycle"]["legal_hold"]["reason"] == "Fiscalía case 2027-114"

    run = await api.post("/v1/retention/run", headers=admin)
    assert run.status_code == 200, run.text
    assert (run.json()["deleted"], [h["record_id"] for h in run.json()["held"]]) == ([], [flag])

    released = await api.delete(path, headers=admin)
    assert (released.status_code, released.json()["legal_hold"]) == (200, "released")
    again = await api.delete(path, headers=admin)
    assert (again.status_code, problem_type(again)) == (409, "no-legal-hold")
    run = await api.post("/v1/retention/run", headers=admin)
    assert run.json()["deleted"] == [{"record_id": flag, "direction": "out", "record_type": "criminal_network_flag"}]

    shown = (await api.get(f"/v1/records/{flag}", headers=reader)).json()
    assert (shown["body"], shown["envelope"]["record_id"], shown["lifecycle"]["retention"]) == (None, flag, "deleted")
    assert shown["jws_sha256"] == rows_of(node, flag)[0].jws_sha256
    late = await api.post(path, json={"reason": "too late"}, headers=admin)
    assert (late.status_code, problem_type(late)) == (409, "record-withdrawn")
    assert "records:hold:released" in events_about(node, flag)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/v1/records/{UNKNOWN}/legal-hold"),
        ("DELETE", f"/v1/records/{UNKNOWN}/legal-hold"),
        ("POST", "/v1/retention/run"),
    ],
)
async def test_only_administrators_hold_release_and_run(
    api: httpx.AsyncClient, node: Node, method: str, path: str
) -> None:
    writer = await authorized(api, node, "records:write", "records:read")
    body = {"reason": "case"} if method == "POST" and "legal-hold" in path else None
    refused = await api.request(method, path, json=body, headers=writer)
    assert (refused.status_code, problem_type(refused)) == (403, "insufficient-scope")
    anonymous = await api.request(method, path, json=body)
    assert anonymous.status_code == 401


async def test_review_due_lists_what_needs_a_decision(api: httpx.AsyncClient, node: Node, clock: ManualClock) -> None:
    flag = sign_flag(node, keep_days=365)
    manifest = sign_manifest(node, keep_days=730)
    clock.advance(31 * DAY)
    reader = await authorized(api, node, "records:read")
    response = await api.get("/v1/retention/review-due", headers=reader)
    assert response.status_code == 200, response.text
    listing = response.json()
    assert (listing["review_due"], listing["expired_held"]) == (2, 0)
    assert [(i["record_id"], i["record_type"], i["days_left"]) for i in listing["items"]] == [
        (flag, "criminal_network_flag", 334),
        (manifest, "removal_manifest", 699),
    ]
    limited = await api.get("/v1/retention/review-due?limit=1", headers=reader)
    assert [i["record_id"] for i in limited.json()["items"]] == [flag]
    assert limited.json()["review_due"] == 2
    no_scope = await api.get("/v1/retention/review-due", headers=await authorized(api, node, "admin"))
    assert no_scope.status_code == 403
