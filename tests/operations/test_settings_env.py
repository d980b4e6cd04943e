"""List and map settings from the environment in the forms operators type, and one-line settings errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_gateway
from tests.support.exchange import write_settings_toml
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI


def config_without_lists(pki: TestPKI, tmp_path: Path) -> str:
    """A settings file without partners and terms_files (the environment gives them)."""
    settings = node_settings(pki, "PA", f"sqlite:///{tmp_path / 'g.sqlite3'}", tmp_path / "var", {})
    path = write_settings_toml(tmp_path / "full.toml", settings)
    lines = [
        line
        for line in path.read_text("utf-8").splitlines()
        if not line.startswith(("terms_files =", "[gateway.partners]"))
    ]
    out = tmp_path / "gateway.toml"
    out.write_text("\n".join(lines) + "\n", "utf-8")
    return str(out)


def doctor_detail(stdout: str, check: str) -> str:
    return str(next(row["detail"] for row in json.loads(stdout) if row["check"] == check))


@pytest.mark.parametrize(
    "partners",
    [
        "CO=https://127.0.0.1:9443,US=https://127.0.0.1:9444",
        " CO = https://127.0.0.1:9443 , US=https://127.0.0.1:9444 ,",
        '{"CO": "https://127.0.0.1:9443", "US": "https://127.0.0.1:9444"}',
    ],
)
def test_partners_and_terms_files_in_plain_form(
    partners: str,
    pki: TestPKI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = config_without_lists(pki, tmp_path)
    monkeypatch.setenv("GATEWAY_PARTNERS", partners)
    monkeypatch.setenv("GATEWAY_TERMS_FILES", str(pki.terms_path))  # one path, no JSON brackets
    outcome = run_gateway(capsys, monkeypatch, "doctor", "--config", path, "--output", "json")
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert doctor_detail(outcome.stdout, "partners") == "CO https://127.0.0.1:9443, US https://127.0.0.1:9444"
    assert doctor_detail(outcome.stdout, "terms").startswith("pa-co-us-removal-mou v1: live flows ")


def test_terms_files_as_a_comma_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.settings import load_settings

    monkeypatch.setenv("GATEWAY_PARTY", "PA")
    monkeypatch.setenv("GATEWAY_TERMS_FILES", "/etc/mou/terms-v1.yaml,/etc/mou/terms-v2.yaml")
    assert load_settings().terms_files == [Path("/etc/mou/terms-v1.yaml"), Path("/etc/mou/terms-v2.yaml")]


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "GATEWAY_PARTNERS",
            "CO",
            "error: Configuration error: GATEWAY_PARTNERS: 'CO' is not KEY=VALUE — write "
            "GATEWAY_PARTNERS=KEY=VALUE,KEY=VALUE (e.g. CO=https://co.example:8443) or a JSON object",
        ),
        (
            "GATEWAY_PARTNERS",
            "{CO: https://x}",
            "error: Configuration error: GATEWAY_PARTNERS is not valid JSON (Expecting property name enclosed in "
            "double quotes at character 2) — write a comma-separated list instead, or correct the JSON",
        ),
        (
            "GATEWAY_AGENCY_PORT",
            "eighty",
            "error: Configuration error: GATEWAY_AGENCY_PORT: Input should be a valid integer, unable to parse "
            "string as an integer — check the GATEWAY_* environment variables or the --config file",
        ),
    ],
)
def test_bad_environment_value_is_one_line_naming_the_variable(
    variable: str,
    value: str,
    line: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_PARTY", "PA")
    monkeypatch.setenv(variable, value)
    outcome = run_gateway(capsys, monkeypatch, "doctor")
    assert outcome.code == 1
    assert outcome.error_lines == [line]


def test_missing_party_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWAY_PARTY", raising=False)
    outcome = run_gateway(capsys, monkeypatch, "doctor")
    assert outcome.code == 1
    assert outcome.error_lines == [
        "error: Configuration error: GATEWAY_PARTY is not set — check the GATEWAY_* environment variables or the "
        "--config file"
    ]


def test_bad_value_in_the_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[gateway]\nparty = "PA"\nagency_port = "eighty"\n', "utf-8")
    outcome = run_gateway(capsys, monkeypatch, "doctor", "--config", str(config))
    assert outcome.code == 1
    assert outcome.error_lines == [
        f"error: Configuration error: agency_port in {config}: Input should be a valid integer, unable to parse "
        "string as an integer — check the GATEWAY_* environment variables or the --config file"
    ]
