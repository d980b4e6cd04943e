"""Key and CA rotation: new leaves need nothing from partners; a new CA arrives as a signed update."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.records.signing import verify_record
from gateway.trust.bundle import TrustBundle
from gateway.trust.bundle_update import (
    apply_trust_update,
    combine_entries,
    sign_trust_update,
    verify_trust_update,
    with_sequence,
)
from gateway.trust.errors import BadSignatureError, PartyMismatchError, UntrustedChainError
from gateway.trust.jws import b64url_decode, b64url_encode
from gateway.trust.keys import SigningKey
from gateway.trust.pki import init_party
from tests.support.exchange import example_draft, signed_record
from tests.support.pki import TestPKI, make_test_pki

runner = CliRunner()


@pytest.fixture
def own_pki(tmp_path: Path) -> TestPKI:
    return make_test_pki(tmp_path / "pki")


def flag_draft() -> dict[str, object]:
    draft = example_draft("criminal_network_flag", recipients=["CO"])
    return draft


def test_rotate_issues_new_leaves_that_verify_beside_the_old_ones(own_pki: TestPKI, tmp_path: Path) -> None:
    old = signed_record(own_pki, "PA", flag_draft())
    result = runner.invoke(
        app, ["pki", "rotate", "--ca-dir", str(own_pki.parties["PA"].root), "--out", str(tmp_path / "new")]
    )
    assert result.exit_code == 0, result.output
    [cert] = sorted((tmp_path / "new").glob("signing-*.pem"))
    [key] = sorted((tmp_path / "new").glob("signing-*.key"))
    assert (key.stat().st_mode & 0o777) == 0o600
    assert len(list((tmp_path / "new").glob("tls-*.pem"))) == 1
    new_key = SigningKey.from_files(key, cert)
    assert new_key.kid != own_pki.signing_key("PA").kid

    from gateway.records.signing import build_record, sign_record

    new = sign_record(build_record(flag_draft(), datetime.now(UTC)), new_key)
    bundle = own_pki.bundle()  # unchanged: partners trust the CA, not the leaf
    now = datetime.now(UTC)
    assert verify_record(new.jws, bundle, now).kid == new_key.kid
    assert verify_record(old.jws, bundle, now).kid == own_pki.signing_key("PA").kid


def test_a_new_ca_is_adopted_only_through_an_update_signed_under_the_old_one(own_pki: TestPKI, tmp_path: Path) -> None:
    # PA makes a new CA and a signing key under it.
    new_ca = init_party("PA", tmp_path / "pa-2027")
    new_ca_key = SigningKey.from_files(new_ca.signing_key, new_ca.signing_cert)
    from gateway.records.signing import build_record, sign_record

    record = sign_record(build_record(flag_draft(), datetime.now(UTC)), new_ca_key)
    bundle, now = own_pki.bundle(), datetime.now(UTC)
    with pytest.raises(UntrustedChainError):
        verify_record(record.jws, bundle, now)

    # PA publishes old + new CA, signed with the key partners already trust.
    entries = [TrustBundle.load(own_pki.parties["PA"].bundle_entry), TrustBundle.load(new_ca.bundle_entry)]
    combined = with_sequence(combine_entries([e.parties["PA"] for e in entries]), 1)
    update = sign_trust_update(combined, own_pki.signing_key("PA"), now)

    verified = verify_trust_update(update, bundle, now)
    assert (verified.party, len(verified.trust.cas)) == ("PA", 2)
    adopted = apply_trust_update(bundle, verified)
    assert verify_record(record.jws, adopted, now).signer_party == "PA"
    assert set(adopted.parties) == set(bundle.parties)

    # The same update signed by the NEW (not yet trusted) key is refused.
    with pytest.raises(UntrustedChainError):
        verify_trust_update(sign_trust_update(combined, new_ca_key, now), bundle, now)


def test_a_party_cannot_publish_another_partys_trust(own_pki: TestPKI) -> None:
    now = datetime.now(UTC)
    pa_entry = own_pki.bundle().parties["PA"]
    forged = sign_trust_update(pa_entry, own_pki.signing_key("CO"), now)
    with pytest.raises(PartyMismatchError, match="CO"):
        verify_trust_update(forged, own_pki.bundle(), now)


def test_a_tampered_update_is_refused(own_pki: TestPKI, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    update = sign_trust_update(own_pki.bundle().parties["PA"], own_pki.signing_key("PA"), now)
    header, payload, signature = update.split(".")
    document = b64url_decode(payload).replace(b'"party":"PA"', b'"party":"PA" ')
    with pytest.raises(BadSignatureError):
        verify_trust_update(f"{header}.{b64url_encode(document)}.{signature}", own_pki.bundle(), now)


def test_publish_and_adopt_cli_round_trip(own_pki: TestPKI, tmp_path: Path) -> None:
    new_ca = init_party("PA", tmp_path / "pa-2027")
    update_file = tmp_path / "pa-update.jws"
    files = own_pki.parties["PA"]
    published = runner.invoke(
        app,
        [
            "pki",
            "publish",
            str(files.bundle_entry),
            str(new_ca.bundle_entry),
            "--key",
            str(files.signing_key),
            "--cert",
            str(files.signing_cert),
            "--out",
            str(update_file),
        ],
    )
    assert published.exit_code == 0, published.output
    out = tmp_path / "bundle-new.json"
    adopted = runner.invoke(
        app, ["pki", "adopt", str(update_file), "--trust", str(own_pki.bundle_path), "--out", str(out)]
    )
    assert adopted.exit_code == 0, adopted.output
    assert "PA: 2 CA(s)" in adopted.output
    assert len(TrustBundle.load(out).parties["PA"].cas) == 2

    # An update signed by the new CA's own key cannot introduce itself.
    forged = tmp_path / "forged.jws"
    runner.invoke(
        app,
        [
            "pki",
            "publish",
            str(new_ca.bundle_entry),
            "--key",
            str(new_ca.signing_key),
            "--cert",
            str(new_ca.signing_cert),
            "--out",
            str(forged),
        ],
    )
    refused = runner.invoke(app, ["pki", "adopt", str(forged), "--trust", str(own_pki.bundle_path)])
    assert refused.exit_code != 0
    assert isinstance(refused.exception, UntrustedChainError)
