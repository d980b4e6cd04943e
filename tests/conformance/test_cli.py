"""``gateway conformance run`` through the real entry point: table, JUnit report, exit codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conformance import broken
from tests.conformance.conftest import start_target
from tests.support.cli import run_gateway
from tests.support.databases import DatabaseFactory, factory_for
from tests.support.exchange import closed_port_url
from tests.support.nodes import RunningNode
from tests.support.pki import TestPKI


def kit_arguments(pki: TestPKI, url: str) -> list[str]:
    pa, us = pki.parties["PA"], pki.parties["US"]
    return [
        "conformance", "run", "--target", url,
        "--cert", str(pa.tls_cert), "--key", str(pa.tls_key), "--ca", str(pki.parties["CO"].ca_cert),
        "--signing-cert", str(pa.signing_cert), "--signing-key", str(pa.signing_key),
        "--bundle", str(pki.bundle_path),
        "--other-cert", str(us.tls_cert), "--other-key", str(us.tls_key), "--ca-key", str(pa.ca_key),
    ]  # fmt: skip


def test_passing_run_exits_0_and_writes_junit(
    pki: TestPKI,
    conforming_node: RunningNode,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = tmp_path / "junit.xml"
    args = [*kit_arguments(pki, conforming_node.partner_url), "--only", "TLS", "--junit", str(report)]
    outcome = run_gateway(capsys, monkeypatch, *args)
    assert outcome.code == 0, outcome.stderr
    assert "PA → CO at https://127.0.0.1:" in outcome.stdout
    assert "6 passed, 0 failed, 0 skipped" in outcome.stdout
    suite = ET.parse(report).getroot().find("testsuite")  # noqa: S314 - the report just written
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("6", "0", "0")
    assert [case.get("classname") for case in suite.iter("testcase")] == [
        "TLS-01",
        "TLS-02",
        "TLS-03",
        "TLS-04",
        "TLS-05",
        "TLS-09",
    ]


def test_failing_run_exits_1_and_reports_the_failure(
    pki: TestPKI,
    database_factories: dict[str, DatabaseFactory],
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = factory_for("sqlite", database_factories, tmp_path_factory)
    running = start_target(pki, database.fresh_url(), tmp_path, broken.replay_answered_201)
    report = tmp_path / "junit.xml"
    try:
        args = [*kit_arguments(pki, running.partner_url), "--only", "IDM-01", "--junit", str(report)]
        outcome = run_gateway(capsys, monkeypatch, *args)
    finally:
        running.server.stop_thread()
        running.node.close()
    assert outcome.code == 1
    assert "0 passed, 1 failed, 0 skipped" in outcome.stdout
    failure = ET.parse(report).getroot().find("testsuite/testcase/failure")  # noqa: S314 - ours
    assert failure is not None
    assert failure.get("message") == "answered 201 (application/jose), expected 200"


def test_unreachable_target_is_one_line(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = run_gateway(capsys, monkeypatch, *kit_arguments(pki, closed_port_url()))
    assert outcome.code == 1
    assert len(outcome.error_lines) == 1
    assert outcome.error_lines[0].startswith("error: Invalid input: cannot reach https://127.0.0.1:")


def test_other_cert_without_key_is_refused(
    pki: TestPKI, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = kit_arguments(pki, "https://127.0.0.1:9")[:-4]  # drop --other-key, --ca-key and their values
    outcome = run_gateway(capsys, monkeypatch, *args)
    assert outcome.code == 1
    assert outcome.error_lines == ["error: --other-cert and --other-key go together — give both, or neither"]
