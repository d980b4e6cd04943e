"""``/readyz`` with certificate expiry: warnings before, not ready once the TLS certificate expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_agency_app
from gateway.node import Node
from gateway.trust.pki import issue_from_dir
from tests.observability.conftest import BuildNode
from tests.support.nodes import OPERATIONS_HEADERS
from tests.support.pki import TestPKI

pytestmark = pytest.mark.anyio

EXISTING_KEYS = {
    "database",
    "signing_certificate_days_left",
    "signing_certificate",
    "terms",
    "partner_terms",
    "ledger",
}


async def _readyz(node: Node) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_agency_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="http://pa.test") as client:
        return await client.get("/readyz", headers=OPERATIONS_HEADERS)


async def test_ready_node_reports_certificates_without_warnings(build_test_node: BuildNode, pki: TestPKI) -> None:
    response = await _readyz(build_test_node())
    assert response.status_code == 200
    checks: dict[str, Any] = response.json()["checks"]
    assert set(checks) >= EXISTING_KEYS | {"tls_certificate", "tls_certificate_days_left", "certificate_warnings"}
    assert checks["tls_certificate"] == "ok"
    assert checks["certificate_warnings"] == []
    days = (pki.signing_key("PA").certificate.not_valid_after_utc - datetime.now(UTC)).days
    assert checks["tls_certificate_days_left"] in (days - 1, days, days + 1)


async def test_certificates_close_to_expiry_are_warned_about_but_still_ready(build_test_node: BuildNode) -> None:
    response = await _readyz(build_test_node(certificate_warning_days=100_000))
    assert response.status_code == 200
    warnings = response.json()["checks"]["certificate_warnings"]
    assert [w.split(" certificate expires in ")[0] for w in warnings] == ["signing", "tls"]
    assert all(w.endswith("; rotate it") for w in warnings)


async def test_an_expired_tls_certificate_makes_the_node_not_ready(
    build_test_node: BuildNode, pki: TestPKI, tmp_path: Path
) -> None:
    cert, key = tmp_path / "expired-tls.pem", tmp_path / "expired-tls.key"
    issue_from_dir(pki.parties["PA"].root, "tls", cert, key, not_before=datetime.now(UTC) - timedelta(days=10), days=9)
    response = await _readyz(build_test_node(tls_cert=cert, tls_key=key))
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["tls_certificate"] == "expired"
    assert checks["tls_certificate_days_left"] < 0
    assert any(w.startswith("tls certificate expired on ") for w in checks["certificate_warnings"])
    assert checks["signing_certificate"] == "ok"


async def test_an_unreadable_tls_certificate_is_reported(build_test_node: BuildNode, tmp_path: Path) -> None:
    response = await _readyz(build_test_node(tls_cert=tmp_path / "absent.pem"))
    assert response.json()["checks"]["tls_certificate"] == "unreadable"
