"""A party's signed trust update over mTLS, and `gateway pki fetch` adopting it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.bundle_update import verify_trust_update
from tests.support.databases import DatabaseFactory
from tests.support.exchange import partner_client, party_certificate, write_settings_toml
from tests.support.nodes import Cluster, start_cluster
from tests.support.pki import TestPKI, make_test_pki


@pytest.fixture
def own_pki(tmp_path: Path) -> TestPKI:
    return make_test_pki(tmp_path / "pki")


@pytest.fixture
def pair(own_pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Cluster]:
    urls = {p: database_factory.fresh_url() for p in ("PA", "CO")}
    cluster = start_cluster(own_pki, urls, tmp_path / "nodes", parties=("PA", "CO"))
    yield cluster
    cluster.stop()


def test_trust_update_is_served_signed_over_mtls(own_pki: TestPKI, pair: Cluster, tmp_path: Path) -> None:
    with partner_client(own_pki, pair["PA"].partner_url, party_certificate(own_pki, "CO"), "PA", tmp_path) as client:
        response = client.get("/v1/exchange/trust-update")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jose"
    update = verify_trust_update(response.content, own_pki.bundle(), datetime.now(UTC))
    assert update.party == "PA"
    assert [ca.subject for ca in update.trust.cas] == [ca.subject for ca in own_pki.bundle().parties["PA"].cas]

    # Without a partner certificate there is no answer at all (mTLS refuses the peer).
    with (
        pytest.raises(httpx.HTTPError),
        partner_client(own_pki, pair["PA"].partner_url, None, "PA", tmp_path) as anonymous,
    ):
        anonymous.get("/v1/exchange/trust-update")


def test_gateway_pki_fetch_verifies_and_writes_the_bundle(own_pki: TestPKI, pair: Cluster, tmp_path: Path) -> None:
    config = write_settings_toml(tmp_path / "co.toml", pair["CO"].node.settings)
    # CO's copy lacks PA's CRL (say, PA revoked a certificate since): the fetch brings it.
    stale = TrustBundle.load(own_pki.bundle_path)
    pa = stale.parties["PA"]
    without_crl = TrustBundle({**stale.parties, "PA": PartyTrust("PA", pa.cas, ())})
    own_pki.bundle_path.write_text(without_crl.to_json(), "utf-8")

    result = CliRunner().invoke(app, ["pki", "fetch", "PA", "--config", str(config)])

    assert result.exit_code == 0, result.output
    assert "PA: 1 CA(s), 1 CRL(s)" in result.output
    after = TrustBundle.load(own_pki.bundle_path)
    assert set(after.parties) == {"PA", "CO", "US"}
    assert len(after.parties["PA"].crls) == 1
    assert after.parties["CO"].cas == stale.parties["CO"].cas  # other parties untouched
