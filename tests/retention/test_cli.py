"""``gateway retention run | due | hold | release`` on a node database, with the real clock.

The records say they were created 400 days ago (a draft's ``created_at`` is
kept), so that the commands, which run on the real clock, find a flag expired
and a manifest due for review.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.node import Node
from tests.retention.conftest import DAY, ManualClock, events_about, make_node, rows_of, sign_flag, sign_manifest
from tests.support.exchange import write_settings_toml
from tests.support.pki import TestPKI

runner = CliRunner()


@pytest.fixture
def node_today(pki: TestPKI, database_url: str, tmp_path: Path, long_terms: Path) -> Iterator[Node]:
    """A PA node on the real clock."""
    built = make_node(pki, database_url, tmp_path / "pa", ManualClock(datetime.now(UTC)), terms_files=[long_terms])
    yield built
    built.close()


def ago(days: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - days * DAY


@pytest.fixture
def config(node_today: Node, tmp_path: Path) -> Path:
    return write_settings_toml(tmp_path / "gateway.toml", node_today.settings)


def invoke(*args: str) -> str:
    result = runner.invoke(app, ["retention", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_run_deletes_the_expired_body_and_prints_what_it_did(node_today: Node, config: Path) -> None:
    flag = sign_flag(node_today, keep_days=365, at=ago(400))
    manifest = sign_manifest(node_today, keep_days=730, at=ago(400))
    output = invoke("run", "--config", str(config))
    assert flag in output
    assert manifest not in output
    assert "1 bodies deleted, 0 kept under legal hold, 0 deletion notices queued" in output
    assert rows_of(node_today, flag)[0].jws == ""
    assert rows_of(node_today, manifest)[0].jws != ""
    assert events_about(node_today, flag)[-1] == "records:body:deleted"
    assert "0 bodies deleted" in invoke("run", "--config", str(config))


def test_due_hold_and_release(node_today: Node, config: Path) -> None:
    flag = sign_flag(node_today, keep_days=365, at=ago(400))
    manifest = sign_manifest(node_today, keep_days=730, at=ago(400))
    due = invoke("due", "--config", str(config))
    assert manifest in due
    assert flag not in due  # expired: no longer a review, the job's
    assert "1 records past their review date; 0 expired but held" in due

    held = invoke("hold", flag, "--reason", "Fiscalía case 2027-114", "--config", str(config))
    assert f"legal hold placed on {flag} (out): Fiscalía case 2027-114" in held
    assert (rows_of(node_today, flag)[0].legal_hold_by, rows_of(node_today, flag)[0].legal_hold_reason) == (
        "cli",
        "Fiscalía case 2027-114",
    )
    output = invoke("run", "--config", str(config))
    assert "0 bodies deleted, 1 kept under legal hold" in output
    assert "Fiscalía case 2027-114" in output
    assert "1 expired but held" in invoke("due", "--config", str(config))

    assert f"legal hold released on {flag}" in invoke("release", flag, "--config", str(config))
    assert "1 bodies deleted, 0 kept under legal hold" in invoke("run", "--config", str(config))


def test_a_blank_reason_is_one_line_and_exit_status_1(node_today: Node, config: Path) -> None:
    flag = sign_flag(node_today, at=ago(400))
    command = ["retention", "hold", flag, "--reason", " ", "--config", str(config)]
    result = subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: A legal hold needs a reason: the reason must be 1 to 500 characters, got 0 — give the case or "
        "order the hold serves (1 to 500 characters)"
    ]
    assert rows_of(node_today, flag)[0].legal_hold_at is None
