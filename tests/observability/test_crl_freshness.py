"""A CRL past its nextUpdate shows in ``/readyz`` detail; the node stays ready (deploy/README.md policy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.app import create_agency_app, readiness
from gateway.node import Node
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.pki import load_certificates, make_crl
from tests.observability.conftest import BuildNode
from tests.support import nodes
from tests.support.pki import TestPKI

pytestmark = pytest.mark.anyio


def bundle_with_stale_co_crl(pki: TestPKI, path: Path) -> tuple[Path, datetime]:
    """Write ``pki``'s bundle with CO's CRL replaced by one whose nextUpdate passed a day ago."""
    files = pki.parties["CO"]
    key = serialization.load_pem_private_key(files.ca_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ca = load_certificates(files.ca_cert)[0]
    stale = make_crl(ca, key, [], now=datetime.now(UTC) - timedelta(days=8), days=7)
    assert stale.next_update_utc is not None
    bundle = pki.bundle()
    co = bundle.parties["CO"]
    path.write_text(TrustBundle({**bundle.parties, "CO": PartyTrust("CO", co.cas, (stale,))}).to_json(), "utf-8")
    return path, stale.next_update_utc


async def _readyz(node: Node) -> httpx.Response:
    # The detail may sit behind the operations token (settings of tests.support.nodes); send it when there is one.
    headers: dict[str, str] = getattr(nodes, "OPERATIONS_HEADERS", {})
    transport = httpx.ASGITransport(app=create_agency_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="http://pa.test") as client:
        return await client.get("/readyz", headers=headers)


async def test_fresh_crls_are_reported_ok(build_test_node: BuildNode) -> None:
    response = await _readyz(build_test_node())
    assert response.status_code == 200
    checks: dict[str, Any] = response.json()["checks"]
    assert (checks["crl_freshness"], checks["crl_warnings"]) == ("ok", [])


async def test_a_stale_crl_shows_in_readyz_detail_but_the_node_stays_ready(
    build_test_node: BuildNode, pki: TestPKI, tmp_path: Path
) -> None:
    path, next_update = bundle_with_stale_co_crl(pki, tmp_path / "stale-bundle.json")
    node = build_test_node(trust_bundle=path)

    response = await _readyz(node)

    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert body["checks"]["crl_freshness"] == "stale"
    assert body["checks"]["crl_warnings"] == [
        f"CO CRL of {load_certificates(pki.parties['CO'].ca_cert)[0].subject.rfc4514_string()} stale since "
        f"{next_update.isoformat()}; TLS with CO fails until a fresh CRL is adopted "
        "(`gateway pki adopt` of CO's newest update)"
    ]
    assert readiness(node)["crl_freshness"] == "stale"
