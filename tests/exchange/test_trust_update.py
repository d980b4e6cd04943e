"""A party's signed trust update over mTLS, and `gateway pki fetch` adopting it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.bundle_update import verify_trust_update, with_sequence
from tests.support.databases import DatabaseFactory
from tests.support.exchange import partner_client, party_certificate, write_settings_toml
from tests.support.nodes import Cluster, start_cluster
from tests.support.pki import TestPKI, make_test_pki


@pytest.fixture
def own_pki(tmp_path: Path) -> TestPKI:
    return make_test_pki(tmp_path / "pki")


def bundle_with(path: Path, source: TrustBundle, **entries: PartyTrust) -> Path:
    path.write_text(TrustBundle({**source.parties, **entries}).to_json(), "utf-8")
    return path


@pytest.fixture
def pair(own_pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Cluster]:
    """PA and CO nodes; PA's own bundle holds its entry at sequence 1 (as `pki publish --trust` leaves it).

    CO's bundle (``own_pki.bundle_path``) holds PA's entry at sequence 0, so PA's served update is newer.
    """
    urls = {p: database_factory.fresh_url() for p in ("PA", "CO")}
    held = own_pki.bundle()
    pa_bundle = bundle_with(tmp_path / "pa-bundle.json", held, PA=with_sequence(held.parties["PA"], 1))
    cluster = start_cluster(
        own_pki, urls, tmp_path / "nodes", parties=("PA", "CO"), per_party={"PA": {"trust_bundle": pa_bundle}}
    )
    yield cluster
    cluster.stop()


def gateway_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real entry point (its one-line error messages come from gateway.cli.main)."""
    return subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


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
    assert "PA: 1 CA(s), 1 CRL(s), sequence 1" in result.output
    after = TrustBundle.load(own_pki.bundle_path)
    assert after.parties["PA"].sequence == 1
    assert set(after.parties) == {"PA", "CO", "US"}
    assert len(after.parties["PA"].crls) == 1
    assert after.parties["CO"].cas == stale.parties["CO"].cas  # other parties untouched


def test_gateway_pki_fetch_refuses_an_update_older_than_the_one_held(
    own_pki: TestPKI, pair: Cluster, tmp_path: Path
) -> None:
    # CO already adopted PA's update 2; PA's node still serves 1 (say, restored from a backup).
    config = write_settings_toml(tmp_path / "co.toml", pair["CO"].node.settings)
    held = own_pki.bundle()
    bundle_with(own_pki.bundle_path, held, PA=with_sequence(held.parties["PA"], 2))
    before = own_pki.bundle_path.read_bytes()

    result = gateway_cli("pki", "fetch", "PA", "--config", str(config))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: Trust update is not newer than the one held: the update for PA has sequence 1, older than the "
        "sequence 2 already held; adopting it would undo later changes — ask the party for its latest update; "
        "it publishes with `gateway pki publish` (sequence + 1)"
    ]
    assert own_pki.bundle_path.read_bytes() == before


@pytest.fixture
def claiming_co(own_pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Cluster]:
    """CO and US nodes; CO's node serves an entry that lists PA's root beside CO's (sequence 1).

    CO's bundle leaves PA out (a bundle may not list one CA under two parties),
    so CO's node starts and signs that entry as its trust update.
    """
    urls = {p: database_factory.fresh_url() for p in ("CO", "US")}
    held = own_pki.bundle()
    co = held.parties["CO"]
    claim = PartyTrust("CO", co.cas + held.parties["PA"].cas, co.crls, 1)
    co_bundle = tmp_path / "co-bundle.json"
    co_bundle.write_text(TrustBundle({"CO": claim, "US": held.parties["US"]}).to_json(), "utf-8")
    cluster = start_cluster(
        own_pki,
        urls,
        tmp_path / "nodes",
        parties=("CO", "US"),
        per_party={"CO": {"trust_bundle": co_bundle}},
    )
    yield cluster
    cluster.stop()


def test_gateway_pki_fetch_refuses_a_partner_claiming_another_partys_ca(
    own_pki: TestPKI, claiming_co: Cluster, tmp_path: Path
) -> None:
    config = write_settings_toml(tmp_path / "us.toml", claiming_co["US"].node.settings)
    before = own_pki.bundle_path.read_bytes()

    result = gateway_cli("pki", "fetch", "CO", "--config", str(config))

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "error: Trust update claims another party's CA: the update from CO lists CA CN=PA MOU Gateway Root CA,"
    )
    assert line.endswith(
        "which belongs to PA — a CA speaks for one party only; refuse the update and tell the publishing party"
    )
    assert own_pki.bundle_path.read_bytes() == before
    anchor = TrustBundle.load(own_pki.bundle_path).issuing_party(own_pki.signing_key("PA").certificate)
    assert anchor is not None
    assert anchor[0] == "PA"
