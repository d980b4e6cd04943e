"""``gateway party admit`` / ``adopt``: the operator's path for a fourth party's CA into a node's bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.trust.bundle import TrustBundle, spki_sha256
from gateway.trust.pki import PartyFiles, init_party
from tests.support.pki import TestPKI
from tests.test_cli_offline import gateway_cli


@pytest.fixture(scope="module")
def cr(tmp_path_factory: pytest.TempPathFactory) -> PartyFiles:
    return init_party("CR", tmp_path_factory.mktemp("cr") / "cr")


def cr_fingerprint(cr: PartyFiles) -> str:
    (entry,) = TrustBundle.load(cr.bundle_entry).parties.values()
    return spki_sha256(entry.cas[0])


def admission_by(pki: TestPKI, cr: PartyFiles, sponsor: str, out: Path) -> Path:
    files = pki.parties[sponsor]
    run = gateway_cli(
        "party", "admit", cr.bundle_entry, "--sponsor", sponsor, "--key", files.signing_key,
        "--cert", files.signing_cert, "--out", out,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert f"{sponsor} admits CR; partners adopt it with --ca-sha256 {cr_fingerprint(cr)}" in run.stderr
    return out


def test_a_partner_adopts_an_admission_whose_fingerprint_matches(pki: TestPKI, cr: PartyFiles, tmp_path: Path) -> None:
    admission = admission_by(pki, cr, "PA", tmp_path / "cr.admission")
    bundle = shutil.copy(pki.bundle_path, tmp_path / "co-bundle.json")

    run = gateway_cli("party", "adopt", admission, "--trust", bundle, "--ca-sha256", cr_fingerprint(cr))

    assert run.code == 0, run.stderr
    assert "CR: admitted by PA" in run.stdout
    assert sorted(TrustBundle.load(Path(bundle)).parties) == ["CO", "CR", "PA", "US"]
    again = gateway_cli("party", "adopt", admission, "--trust", bundle, "--ca-sha256", cr_fingerprint(cr))
    assert again.code == 0, again.stderr
    assert "CR is already held with this entry" in again.stdout


def test_an_admission_whose_fingerprint_differs_is_refused(pki: TestPKI, cr: PartyFiles, tmp_path: Path) -> None:
    admission = admission_by(pki, cr, "PA", tmp_path / "cr.admission")
    bundle = Path(shutil.copy(pki.bundle_path, tmp_path / "co-bundle.json"))
    before = bundle.read_text("utf-8")

    run = gateway_cli("party", "adopt", admission, "--trust", bundle, "--ca-sha256", "0" * 64)

    assert run.code == 1
    assert run.error_line.startswith(f"error: CR's CAs in the admission have SPKI SHA-256 {cr_fingerprint(cr)}")
    assert bundle.read_text("utf-8") == before


def test_an_admission_signed_by_a_stranger_is_refused(pki: TestPKI, cr: PartyFiles, tmp_path: Path) -> None:
    # CR vouching for itself: nothing in the bundle speaks for CR's key.
    out = tmp_path / "self.admission"
    run = gateway_cli(
        "party", "admit", cr.bundle_entry, "--sponsor", "CR", "--key", cr.signing_key,
        "--cert", cr.signing_cert, "--out", out,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    bundle = Path(shutil.copy(pki.bundle_path, tmp_path / "co-bundle.json"))

    refused = gateway_cli("party", "adopt", out, "--trust", bundle, "--ca-sha256", cr_fingerprint(cr))

    assert refused.code == 1
    assert "chain" in refused.error_line.lower()
    assert sorted(TrustBundle.load(bundle).parties) == ["CO", "PA", "US"]
