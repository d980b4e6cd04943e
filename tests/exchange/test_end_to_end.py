"""A record submitted at PA arrives, verified, at CO and US; PA holds their signed receipts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import DatabaseFactory
from tests.support.nodes import Cluster, start_cluster, wait_for
from tests.support.pki import TestPKI

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


@pytest.fixture
def cluster(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Cluster]:
    urls = {p: database_factory.fresh_url() for p in ("PA", "CO", "US")}
    running = start_cluster(pki, urls, tmp_path)
    yield running
    running.stop()


def token(base_url: str, client_id: str, secret: str) -> str:
    response = httpx.post(
        f"{base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_manifest_reaches_partners_with_receipts(cluster: Cluster) -> None:
    pa = cluster["PA"]
    client_id, secret = pa.add_client()
    headers = {"Authorization": f"Bearer {token(pa.agency_url, client_id, secret)}"}
    draft = json.loads((EXAMPLES / "removal_manifest.json").read_text())
    response = httpx.post(f"{pa.agency_url}/v1/records", json=draft, headers=headers)
    assert response.status_code == 202, response.text
    record_id = response.json()["record_id"]

    def delivered() -> bool:
        detail = httpx.get(f"{pa.agency_url}/v1/records/{record_id}", headers=headers).json()
        return [d["status"] for d in detail["deliveries"]] == ["delivered", "delivered"]

    wait_for(delivered)
    detail = httpx.get(f"{pa.agency_url}/v1/records/{record_id}", headers=headers).json()
    assert {d["receipt"]["verdict"] for d in detail["deliveries"]} == {"accepted"}

    for party in ("CO", "US"):
        partner = cluster[party]
        pid, psecret = partner.add_client(("records:read",))
        pheaders = {"Authorization": f"Bearer {token(partner.agency_url, pid, psecret)}"}
        received = httpx.get(f"{partner.agency_url}/v1/records/{record_id}", headers=pheaders).json()
        assert received["direction"] == "in"
        assert received["verification"]["result"] == "valid"
        assert received["body"]["flight"]["destination_airport"] == "MDE"
        assert len(received["body"]["people"]) == 34
