"""Trust updates are monotonic and exclusive: no rollback, no claim on another party's CA, no older CRL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.records.signing import verify_record
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.bundle_update import apply_trust_update, sign_trust_update, verify_trust_update, with_sequence
from gateway.trust.errors import (
    CAInTwoPartiesError,
    CertificateRevokedError,
    CRLRollbackError,
    TrustUpdateRollbackError,
)
from gateway.trust.pki import load_certificates, make_crl
from tests.support.exchange import example_draft, signed_record
from tests.support.pki import TestPKI, make_test_pki


@pytest.fixture
def own_pki(tmp_path: Path) -> TestPKI:
    return make_test_pki(tmp_path / "pki")


def ca_of(pki: TestPKI, party: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    files = pki.parties[party]
    key = serialization.load_pem_private_key(files.ca_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return load_certificates(files.ca_cert)[0], key


def crl(
    pki: TestPKI,
    party: str,
    *,
    this_update: datetime,
    revoked: tuple[int, ...] = (),
    number: int | None = None,
) -> x509.CertificateRevocationList:
    """A CRL of ``party``'s root, signed by it; with a CRL number extension when ``number`` is given."""
    ca, key = ca_of(pki, party)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(this_update)
        .next_update(this_update + timedelta(days=30))
    )
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(this_update).build()
        )
    return builder.sign(key, hashes.SHA256())


def entry(pki: TestPKI, party: str, sequence: int, crls: tuple[x509.CertificateRevocationList, ...]) -> PartyTrust:
    return PartyTrust(party, pki.bundle().parties[party].cas, crls, sequence)


def write_update(pki: TestPKI, trust: PartyTrust, path: Path, signer: str | None = None) -> Path:
    path.write_text(sign_trust_update(trust, pki.signing_key(signer or trust.party), datetime.now(UTC)), "utf-8")
    return path


def gateway_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real entry point (its one-line error messages come from gateway.cli.main)."""
    return subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_adopt_refuses_an_older_update_after_a_newer_one(own_pki: TestPKI, tmp_path: Path) -> None:
    # PA revokes its TLS certificate (update 2) after an update without it (update 1).
    now = datetime.now(UTC)
    tls_serial = load_certificates(own_pki.parties["PA"].tls_cert)[0].serial_number
    first = write_update(own_pki, entry(own_pki, "PA", 1, (crl(own_pki, "PA", this_update=now),)), tmp_path / "1.jws")
    revoking = crl(own_pki, "PA", this_update=now + timedelta(seconds=5), revoked=(tls_serial,))
    second = write_update(own_pki, entry(own_pki, "PA", 2, (revoking,)), tmp_path / "2.jws")
    bundle = str(own_pki.bundle_path)

    assert gateway_cli("pki", "adopt", str(first), "--trust", bundle).returncode == 0
    adopted = gateway_cli("pki", "adopt", str(second), "--trust", bundle)
    assert adopted.returncode == 0, adopted.stderr
    assert "sequence 2" in adopted.stdout
    held = own_pki.bundle_path.read_text("utf-8")

    replayed = gateway_cli("pki", "adopt", str(first), "--trust", bundle)

    assert replayed.returncode == 1
    assert replayed.stderr.strip().splitlines() == [
        "error: Trust update is not newer than the one held: the update for PA has sequence 1, older than the "
        "sequence 2 already held; adopting it would undo later changes — ask the party for its latest update; "
        "it publishes with `gateway pki publish` (sequence + 1)"
    ]
    assert own_pki.bundle_path.read_text("utf-8") == held  # the revocation stays
    [pa_crl] = TrustBundle.load(own_pki.bundle_path).parties["PA"].crls
    assert pa_crl.get_revoked_certificate_by_serial_number(tls_serial) is not None


def test_adopting_the_update_already_held_changes_nothing(own_pki: TestPKI, tmp_path: Path) -> None:
    update = write_update(
        own_pki, entry(own_pki, "PA", 1, (crl(own_pki, "PA", this_update=datetime.now(UTC)),)), tmp_path / "u.jws"
    )
    assert gateway_cli("pki", "adopt", str(update), "--trust", str(own_pki.bundle_path)).returncode == 0
    before = own_pki.bundle_path.read_bytes()

    again = gateway_cli("pki", "adopt", str(update), "--trust", str(own_pki.bundle_path))

    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"PA: sequence 1 is already held; {own_pki.bundle_path} unchanged"
    assert own_pki.bundle_path.read_bytes() == before


def test_an_equal_sequence_with_other_content_is_refused(own_pki: TestPKI) -> None:
    now = datetime.now(UTC)
    bundle = apply_trust_update(
        own_pki.bundle(),
        verify_trust_update(
            sign_trust_update(
                entry(own_pki, "PA", 1, (crl(own_pki, "PA", this_update=now),)), own_pki.signing_key("PA"), now
            ),
            own_pki.bundle(),
            now,
        ),
    )
    other = entry(own_pki, "PA", 1, (crl(own_pki, "PA", this_update=now + timedelta(seconds=5), revoked=(7,)),))
    update = verify_trust_update(sign_trust_update(other, own_pki.signing_key("PA"), now), bundle, now)
    with pytest.raises(TrustUpdateRollbackError, match="sequence 1, the one already held, but different CAs or CRLs"):
        apply_trust_update(bundle, update)


def test_adopt_refuses_an_update_claiming_another_partys_ca(own_pki: TestPKI, tmp_path: Path) -> None:
    # CO signs an entry listing PA's root beside its own: it would make PA's certificates CO's.
    bundle = own_pki.bundle()
    co = bundle.parties["CO"]
    claim = PartyTrust("CO", co.cas + bundle.parties["PA"].cas, co.crls, 1)
    update = write_update(own_pki, claim, tmp_path / "claim.jws")
    before = own_pki.bundle_path.read_bytes()

    result = gateway_cli("pki", "adopt", str(update), "--trust", str(own_pki.bundle_path))

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "error: Trust update claims another party's CA: the update from CO lists CA CN=PA MOU Gateway Root CA,"
    )
    assert line.endswith(
        "which belongs to PA — a CA speaks for one party only; refuse the update and tell the publishing party"
    )
    assert own_pki.bundle_path.read_bytes() == before
    # PA's records still verify as PA's.
    record = signed_record(own_pki, "PA", example_draft("criminal_network_flag", recipients=["CO"]))
    assert verify_record(record.jws, own_pki.bundle(), datetime.now(UTC)).signer_party == "PA"


def test_a_crl_older_than_the_held_one_is_refused_by_its_number(own_pki: TestPKI) -> None:
    now = datetime.now(UTC)
    bundle = own_pki.bundle()
    held = apply_trust_update(
        bundle,
        verify_trust_update(
            sign_trust_update(
                entry(own_pki, "PA", 1, (crl(own_pki, "PA", this_update=now, number=5, revoked=(42,)),)),
                own_pki.signing_key("PA"),
                now,
            ),
            bundle,
            now,
        ),
    )
    # A later thisUpdate does not help: both carry a CRL number, and 4 < 5.
    older = entry(own_pki, "PA", 2, (crl(own_pki, "PA", this_update=now + timedelta(hours=1), number=4),))
    update = verify_trust_update(sign_trust_update(older, own_pki.signing_key("PA"), now), held, now)
    with pytest.raises(CRLRollbackError, match=r"\(number 4, .*older than the one held \(number 5, "):
        apply_trust_update(held, update)
    newer = entry(own_pki, "PA", 2, (crl(own_pki, "PA", this_update=now, number=6, revoked=(42,)),))
    update = verify_trust_update(sign_trust_update(newer, own_pki.signing_key("PA"), now), held, now)
    assert apply_trust_update(held, update).parties["PA"].sequence == 2


def test_a_crl_older_than_the_held_one_is_refused_by_this_update(own_pki: TestPKI, tmp_path: Path) -> None:
    # pki init's CRL has no CRL number: thisUpdate decides.
    ca, key = ca_of(own_pki, "PA")
    held = own_pki.bundle().parties["PA"].crls[0]
    older = make_crl(ca, key, [], now=held.last_update_utc - timedelta(days=1) + timedelta(minutes=1))
    update = write_update(own_pki, entry(own_pki, "PA", 1, (older,)), tmp_path / "older-crl.jws")

    result = gateway_cli("pki", "adopt", str(update), "--trust", str(own_pki.bundle_path))

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: Trust update carries an older CRL than the one held: the update for PA carries")
    assert line.endswith("— ask the party for an update with its current CRL")
    now = datetime.now(UTC)
    dropped = sign_trust_update(entry(own_pki, "PA", 1, ()), own_pki.signing_key("PA"), now)
    verified = verify_trust_update(dropped, own_pki.bundle(), now)
    with pytest.raises(CRLRollbackError, match="drops the CRL of CN=PA MOU Gateway Root CA"):
        apply_trust_update(own_pki.bundle(), verified)


def test_a_bundle_file_listing_one_ca_under_two_parties_is_refused(own_pki: TestPKI, tmp_path: Path) -> None:
    update = write_update(
        own_pki, entry(own_pki, "PA", 1, (crl(own_pki, "PA", this_update=datetime.now(UTC)),)), tmp_path / "u.jws"
    )
    document = json.loads(own_pki.bundle_path.read_text("utf-8"))
    document["parties"]["CO"]["cas"] += document["parties"]["PA"]["cas"]
    own_pki.bundle_path.write_text(json.dumps(document), "utf-8")

    with pytest.raises(CAInTwoPartiesError, match=r"CN=PA MOU Gateway Root CA.* is listed under CO and PA"):
        TrustBundle.load(own_pki.bundle_path)
    adopt = gateway_cli("pki", "adopt", str(update), "--trust", str(own_pki.bundle_path))
    assert adopt.returncode == 1
    assert adopt.stderr.startswith("error: Trust bundle lists one CA under two parties: CA CN=PA MOU Gateway Root CA")


def test_a_bundle_file_without_sequences_reads_as_sequence_0(own_pki: TestPKI) -> None:
    document = json.loads(own_pki.bundle_path.read_text("utf-8"))
    for party in document["parties"].values():
        party.pop("sequence", None)
    own_pki.bundle_path.write_text(json.dumps(document), "utf-8")

    bundle = TrustBundle.load(own_pki.bundle_path)

    assert {code: trust.sequence for code, trust in bundle.parties.items()} == {"PA": 0, "CO": 0, "US": 0}
    assert json.loads(bundle.to_json())["parties"]["PA"]["sequence"] == 0


def test_publish_takes_the_held_sequence_plus_one_and_records_it(own_pki: TestPKI, tmp_path: Path) -> None:
    files = own_pki.parties["PA"]
    node_bundle = tmp_path / "pa-node-bundle.json"
    node_bundle.write_bytes(own_pki.bundle_path.read_bytes())
    publish = ["pki", "publish", str(files.bundle_entry), "--key", str(files.signing_key)]
    publish += ["--cert", str(files.signing_cert), "--trust", str(node_bundle)]

    first = gateway_cli(*publish, "--out", str(tmp_path / "1.jws"))
    second = gateway_cli(*publish, "--out", str(tmp_path / "2.jws"))

    assert first.returncode == 0, first.stderr
    assert "signed trust update for PA, sequence 1" in first.stderr
    assert "signed trust update for PA, sequence 2" in second.stderr
    now = datetime.now(UTC)
    assert verify_trust_update((tmp_path / "2.jws").read_text(), own_pki.bundle(), now).sequence == 2
    assert TrustBundle.load(node_bundle).parties["PA"].sequence == 2  # what the node serves after a restart
    assert TrustBundle.load(files.bundle_entry).parties["PA"].sequence == 2

    stale = gateway_cli(*publish, "--sequence", "2", "--out", str(tmp_path / "3.jws"))
    assert stale.returncode == 1
    assert stale.stderr.strip().splitlines() == [
        "error: sequence 2 is not above 2, the sequence PA already published; partners would refuse it as a "
        "rollback — use --sequence 3 or leave --sequence out"
    ]
    assert not (tmp_path / "3.jws").exists()
    assert gateway_cli(*publish, "--sequence", "7", "--out", str(tmp_path / "7.jws")).returncode == 0
    assert verify_trust_update((tmp_path / "7.jws").read_text(), own_pki.bundle(), now).sequence == 7


def test_a_revoked_certificate_stays_revoked_after_a_replayed_update(own_pki: TestPKI) -> None:
    # The library form of the rollback: apply_trust_update itself refuses, not only the CLI.
    now = datetime.now(UTC)
    signing_serial = own_pki.signing_key("PA").certificate.serial_number
    plain = sign_trust_update(
        entry(own_pki, "PA", 1, (crl(own_pki, "PA", this_update=now),)), own_pki.signing_key("PA"), now
    )
    revoking = sign_trust_update(
        entry(
            own_pki, "PA", 2, (crl(own_pki, "PA", this_update=now + timedelta(seconds=1), revoked=(signing_serial,)),)
        ),
        own_pki.signing_key("PA"),
        now,
    )
    bundle = apply_trust_update(own_pki.bundle(), verify_trust_update(plain, own_pki.bundle(), now))
    bundle = apply_trust_update(bundle, verify_trust_update(revoking, bundle, now))
    record = signed_record(own_pki, "PA", example_draft("criminal_network_flag", recipients=["CO"]))
    with pytest.raises(CertificateRevokedError):
        verify_record(record.jws, bundle, now)
    # Verified against the trust from before the revocation (PA's key was good then), the
    # replayed update is still refused: the sequence, not the signature, decides.
    with pytest.raises(TrustUpdateRollbackError, match="sequence 1, older than the sequence 2"):
        apply_trust_update(bundle, verify_trust_update(plain, own_pki.bundle(), now))
    assert bundle.parties["PA"].crls[0].get_revoked_certificate_by_serial_number(signing_serial) is not None


def test_the_entry_already_held_comes_back_as_the_same_bundle(own_pki: TestPKI) -> None:
    bundle, now = own_pki.bundle(), datetime.now(UTC)
    same = sign_trust_update(with_sequence(bundle.parties["PA"], 0), own_pki.signing_key("PA"), now)
    assert apply_trust_update(bundle, verify_trust_update(same, bundle, now)) is bundle
