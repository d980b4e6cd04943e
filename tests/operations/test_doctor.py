"""Start-up checks: ``gateway doctor`` prints them all; ``serve`` and ``worker`` refuse on the first error."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_gateway
from tests.support.exchange import expired_certificate, write_settings_toml
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI

PARTNERS = {"CO": "https://127.0.0.1:9443", "US": "https://127.0.0.1:9444"}


def config(pki: TestPKI, tmp_path: Path, **changes: Any) -> str:
    url = f"sqlite:///{tmp_path / 'gateway.sqlite3'}"
    settings = node_settings(pki, "PA", url, tmp_path / "var", PARTNERS).model_copy(update=changes)
    return str(write_settings_toml(tmp_path / "gateway.toml", settings))


def doctor_rows(outcome_stdout: str) -> dict[str, list[dict[str, str]]]:
    rows: dict[str, list[dict[str, str]]] = {}
    for row in json.loads(outcome_stdout):
        rows.setdefault(row["check"], []).append(row)
    return rows


def test_doctor_on_a_sound_node_is_all_ok(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = run_gateway(capsys, monkeypatch, "doctor", "--config", config(pki, tmp_path), "--output", "json")
    assert outcome.code == 0, outcome.stderr
    rows = doctor_rows(outcome.stdout)
    assert {row["status"] for group in rows.values() for row in group} == {"ok"}
    assert set(rows) == {
        "trust bundle",
        "TLS certificate",
        "tls validity",
        "signing certificate",
        "signing validity",
        "TLS certificate party",
        "signing certificate party",
        "partners",
        "terms",
        "TOTP key",
    }
    assert rows["partners"][0]["detail"] == "CO https://127.0.0.1:9443, US https://127.0.0.1:9444"


def test_doctor_table_piped_is_plain_full_width(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = run_gateway(capsys, monkeypatch, "doctor", "--config", config(pki, tmp_path))
    assert outcome.code == 0
    lines = outcome.stdout.splitlines()
    assert lines[0].split() == ["check", "status", "detail", "fix"]
    partners = next(line for line in lines if line.startswith("partners "))
    assert "CO https://127.0.0.1:9443, US https://127.0.0.1:9444" in partners  # not cut short
    assert "…" not in outcome.stdout


def test_party_mismatch_refuses_to_serve(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    co = pki.parties["CO"]
    path = config(pki, tmp_path, tls_cert=co.tls_cert, tls_key=co.tls_key)
    outcome = run_gateway(capsys, monkeypatch, "serve", "--config", path)
    assert outcome.code == 1
    assert outcome.error_lines == [
        "error: Configuration error: TLS certificate party: this node is PA but its TLS certificate was issued by "
        "a CA of CO — use PA's TLS certificate, or correct GATEWAY_PARTY"
    ]
    assert "listener" not in outcome.stdout  # nothing announced


def test_signing_certificate_of_another_party_refuses_the_worker(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    us = pki.parties["US"]
    path = config(pki, tmp_path, signing_cert=us.signing_cert, signing_key=us.signing_key)
    outcome = run_gateway(capsys, monkeypatch, "worker", "--config", path)
    assert outcome.code == 1
    assert outcome.error_lines == [
        "error: Configuration error: signing certificate party: this node is PA but its signing certificate was "
        "issued by a CA of US — use PA's signing certificate, or correct GATEWAY_PARTY"
    ]


def test_expired_tls_certificate_refuses_to_serve(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expired = expired_certificate(pki, "PA", tmp_path)
    path = config(pki, tmp_path, tls_cert=expired.cert, tls_key=expired.key)
    outcome = run_gateway(capsys, monkeypatch, "serve", "--config", path)
    assert outcome.code == 1
    assert len(outcome.error_lines) == 1
    line = outcome.error_lines[0]
    assert line.startswith(
        f"error: Configuration error: tls validity: the tls certificate ({expired.cert}) expired on "
    )
    assert line.endswith(" — issue a new tls certificate (`gateway pki issue --kind tls`) and restart")


def test_certificate_expiring_soon_is_a_warning(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test PKI's certificates are valid for about a year: warning 10 000 days ahead makes them "soon".
    path = config(pki, tmp_path, certificate_warning_days=10_000)
    outcome = run_gateway(capsys, monkeypatch, "doctor", "--config", path, "--output", "json")
    assert outcome.code == 0  # warnings do not fail the check
    rows = doctor_rows(outcome.stdout)
    for name in ("tls", "signing"):
        (row,) = rows[f"{name} validity"]
        assert row["status"] == "warning"
        assert row["detail"].startswith(f"the {name} certificate (")
        assert " expires in " in row["detail"]
        assert row["fix"] == f"rotate it before then (`gateway pki issue --kind {name}`)"


def test_partner_outside_the_bundle_refuses_to_serve(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(pki, tmp_path, partners={**PARTNERS, "MX": "https://127.0.0.1:9445"})
    outcome = run_gateway(capsys, monkeypatch, "serve", "--config", path)
    assert outcome.code == 1
    assert outcome.error_lines == [
        f"error: Configuration error: partners: partner MX is not a party of the trust bundle {pki.bundle_path} "
        "— add MX's CA to the bundle, or remove MX from GATEWAY_PARTNERS"
    ]


def test_doctor_lists_every_error_and_exits_1(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    co = pki.parties["CO"]
    path = config(pki, tmp_path, tls_cert=co.tls_cert, tls_key=co.tls_key, partners={"MX": "https://x.invalid"})
    outcome = run_gateway(capsys, monkeypatch, "doctor", "--config", path, "--output", "tsv")
    assert outcome.code == 1
    errors = [line.split("\t")[0] for line in outcome.stdout.splitlines()[1:] if line.split("\t")[1] == "error"]
    assert errors == ["TLS certificate party", "partners"]


def test_serve_logs_a_warning_line_at_start(pki: TestPKI, tmp_path: Path) -> None:
    from gateway.commands.node import _checked
    from gateway.settings import load_settings

    settings = load_settings(Path(config(pki, tmp_path, certificate_warning_days=10_000)))
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(f"{record.levelname} {record.getMessage()}")  # type: ignore[method-assign]
    logger = logging.getLogger("gateway.start")
    logger.addHandler(handler)
    try:
        _checked(settings, listener=True)
    finally:
        logger.removeHandler(handler)
    assert len(lines) == 2
    assert lines[0].startswith(f"WARNING start-up check: tls validity: the tls certificate ({settings.tls_cert}) ")
    assert lines[1].startswith("WARNING start-up check: signing validity: the signing certificate (")


def test_a_tls_key_of_another_certificate_names_the_files(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pa = pki.parties["PA"]
    path = config(pki, tmp_path, tls_key=pa.signing_key)  # the signing key beside the TLS certificate
    outcome = run_gateway(capsys, monkeypatch, "serve", "--config", path)
    assert outcome.code == 1
    assert len(outcome.error_lines) == 1
    line = outcome.error_lines[0]
    assert line.startswith(
        f"error: Configuration error: TLS certificate: the TLS key {pa.signing_key} cannot be used with {pa.tls_cert} ("
    )
    assert line.endswith("— give the key that belongs to this certificate (PEM, unencrypted)")
    assert "listener" not in outcome.stdout


def test_terms_without_a_live_flow_are_a_warning(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    unsigned = tmp_path / "pa-co.yaml"
    assert run_gateway(capsys, monkeypatch, "terms", "new", "--parties", "PA,CO", "--out", str(unsigned)).code == 0
    path = config(pki, tmp_path, terms_files=[unsigned])
    outcome = run_gateway(capsys, monkeypatch, "doctor", "--config", path, "--output", "json")
    assert outcome.code == 0
    (row,) = doctor_rows(outcome.stdout)["terms"]
    assert row["status"] == "warning"
    assert row["detail"].endswith("v1 has no live flow to or from PA: a flow is live once every party to it signed")
    assert row["fix"] == "sign the terms (`gateway terms sign`) and collect the partners' signatures"
