"""docs/protocol.md, the OpenAPI document of the partner listener and the kit agree with each other and the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from gateway.app import create_partner_app
from gateway.conformance.registry import CASES
from gateway.conformance.runner import CASE_MODULES
from gateway.exchange.openapi import FILE_NAME, partner_openapi, partner_openapi_text
from tests.support.nodes import OPERATIONS_HEADERS, RunningNode

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text("utf-8")
MARKER = "<!-- endpoint-table:"


def documented_endpoints() -> dict[tuple[str, str], set[int]]:
    """(method, path) → every status the endpoint table of docs/protocol.md section 3 lists."""
    table = PROTOCOL[PROTOCOL.index(MARKER) :].split("\n\n")[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| method")]
    endpoints: dict[tuple[str, str], set[int]] = {}
    for row in rows:
        method, path, _request, success, errors = (cell.strip() for cell in row.strip("|").split("|"))
        statuses = {int(s) for s in re.findall(r"\b[1-5][0-9]{2}\b", f"{success} {errors}")}
        endpoints[(method.lower(), path)] = statuses
    return endpoints


def openapi_endpoints(document: dict[str, object]) -> dict[tuple[str, str], set[int]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {
        (method, path): {int(status) for status in operation["responses"]}
        for path, operations in paths.items()
        for method, operation in operations.items()
    }


def test_the_endpoint_table_is_read() -> None:
    endpoints = documented_endpoints()
    assert len(endpoints) == 8
    assert endpoints[("post", "/v1/exchange/records")] == {200, 201, 403, 409, 413, 415, 422, 429}


def test_openapi_endpoints_and_statuses_are_those_of_the_specification() -> None:
    assert openapi_endpoints(partner_openapi()) == documented_endpoints()


def test_every_route_of_the_partner_listener_is_specified(conforming_node: RunningNode) -> None:
    # The app's own (unserved) OpenAPI view lists every route it would answer.
    app = create_partner_app(conforming_node.node)
    served = {(method, path) for path, operations in app.openapi()["paths"].items() for method in operations}
    assert served == set(documented_endpoints())


def test_committed_openapi_document_is_current() -> None:
    committed = (ROOT / "schemas" / FILE_NAME).read_text("utf-8")
    assert committed == partner_openapi_text(), (
        "schemas/openapi-partner.json is out of date: run `gateway schemas export`"
    )


def test_the_agency_listener_serves_it_with_the_operations_token(conforming_node: RunningNode) -> None:
    url = f"{conforming_node.agency_url}/openapi-partner.json"
    refused = httpx.get(url, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    served = httpx.get(url, headers=OPERATIONS_HEADERS, timeout=10)
    assert served.status_code == 200
    assert served.json() == json.loads(partner_openapi_text())
    assert served.json()["components"]["securitySchemes"]["partnerCertificate"]["type"] == "mutualTLS"


def test_every_kit_case_names_a_specified_requirement() -> None:
    assert CASE_MODULES  # importing them registered the cases
    specified = set(re.findall(r"\*\*([A-Z]{2,4}-[0-9]{2})\*\*", PROTOCOL)) | set(
        re.findall(r"^\| (RCP-[0-9]{2}) \|", PROTOCOL, re.MULTILINE)
    )
    missing = sorted({case.requirement for case in CASES} - specified)
    assert missing == []
    assert len({case.requirement for case in CASES}) == len(CASES), "two cases share one requirement id"
