"""``gateway verify --at`` answers "valid when received"; ``pki revoke --reason/--invalidity-date`` feed it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.records.signing import rfc3339
from tests.test_cli_offline import EXAMPLES, gateway_cli, originator


def signed_pa_record(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Return (PA's PKI dir, its bundle, a record PA signed), all made with the CLI."""
    pa = tmp_path / "pa"
    assert gateway_cli("pki", "init", "--party", "PA", "--out", pa).code == 0
    draft = next(p for p in EXAMPLES if originator(p) == "PA")
    run = gateway_cli("sign", draft, "--key", pa / "signing.key", "--cert", pa / "signing.pem")
    assert run.code == 0, run.stderr
    record = tmp_path / "record.jws"
    record.write_text(run.stdout, "ascii")
    return pa, pa / "bundle-entry.json", record


# The certificates of `pki init` begin five minutes before now: two minutes ago the key was in use.
def received_two_minutes_ago() -> str:
    return rfc3339(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2))


def test_a_record_signed_before_a_superseded_revocation_is_valid_when_received(tmp_path: Path) -> None:
    pa, bundle, record = signed_pa_record(tmp_path)
    run = gateway_cli("pki", "revoke", "--ca-dir", pa, pa / "signing.pem", "--reason", "superseded")
    assert run.code == 0, run.stderr

    today = gateway_cli("verify", record, "--trust", bundle)
    assert today.code == 1
    assert "verification failed at step 5-revocation" in today.error_line

    then = gateway_cli("verify", record, "--trust", bundle, "--at", received_two_minutes_ago())
    assert then.code == 0, then.stderr
    assert then.stdout.startswith("valid when received: ")
    assert "(superseded) after it was received" in then.stdout


def test_key_compromise_since_before_the_receipt_makes_the_record_suspect(tmp_path: Path) -> None:
    pa, bundle, record = signed_pa_record(tmp_path)
    compromised_since = rfc3339(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4))
    run = gateway_cli(
        "pki", "revoke", "--ca-dir", pa, pa / "signing.pem",
        "--reason", "keyCompromise", "--invalidity-date", compromised_since,
    )  # fmt: skip
    assert run.code == 0, run.stderr

    then = gateway_cli("verify", record, "--trust", bundle, "--at", received_two_minutes_ago())
    assert then.code == 1
    assert then.error_line.startswith("error: suspect: ")
    assert "for key_compromise; the key is held compromised since" in then.error_line


def test_a_receipt_time_before_the_certificate_is_not_valid_when_received(tmp_path: Path) -> None:
    _, bundle, record = signed_pa_record(tmp_path)
    run = gateway_cli("verify", record, "--trust", bundle, "--at", "2020-01-01T00:00:00Z")
    assert run.code == 1
    assert run.error_line.startswith(
        "error: not valid when received on 2020-01-01T00:00:00Z: verification failed at step 4"
    )


def test_revoke_refuses_an_invalidity_date_without_key_compromise_and_unknown_reasons(tmp_path: Path) -> None:
    pa, _, _ = signed_pa_record(tmp_path)
    run = gateway_cli(
        "pki", "revoke", "--ca-dir", pa, pa / "signing.pem",
        "--reason", "superseded", "--invalidity-date", "2026-01-01T00:00:00Z",
    )  # fmt: skip
    assert run.code == 1
    assert "--invalidity-date goes with --reason keyCompromise" in run.error_line
    run = gateway_cli("pki", "revoke", "--ca-dir", pa, pa / "signing.pem", "--reason", "stolen")
    assert run.code == 1  # a usage error: one line naming the option
    assert "Invalid value for --reason: 'stolen' is not one of unspecified, keyCompromise" in run.error_line
