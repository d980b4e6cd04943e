"""Officer administration (issue 14, item 7e): the self-disable guard on normalised names; CLI disable/enable."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gateway.commands.officers import app
from gateway.console.errors import OfficerNotFound
from gateway.console.models import Officer
from gateway.console.schemas import Role
from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.migrate import upgrade
from gateway.node import Node
from gateway.settings import load_settings
from tests.console.conftest import signed_in
from tests.support.nodes import TEST_TOTP_KEY

runner = CliRunner()


def _disabled(node: Node, username: str) -> bool:
    with node.transaction() as session:
        officer = session.query(Officer).filter_by(username=username).one()
        return officer.disabled_at is not None


@pytest.mark.anyio
@pytest.mark.parametrize("spelling", ["upper", "padded"])
async def test_an_admin_cannot_disable_themself_under_another_spelling(
    http: httpx.AsyncClient, node: Node, spelling: str
) -> None:
    admin, csrf = await signed_in(http, node, Role.ADMIN)
    name = admin.username.upper() if spelling == "upper" else f"%20{admin.username}%20"
    response = await http.post(f"/console/officers/{name}/disable", data={"csrf_token": csrf})
    assert response.status_code == 409
    assert "you cannot disable your own account" in response.text
    assert not _disabled(node, admin.username)
    assert (await http.get("/console/inbox")).status_code == 200  # still signed in


@pytest.mark.anyio
async def test_an_admin_still_disables_another_officer_by_any_spelling(http: httpx.AsyncClient, node: Node) -> None:
    from tests.console.conftest import officer_on

    viewer = officer_on(node, Role.VIEWER)
    _, csrf = await signed_in(http, node, Role.ADMIN)
    response = await http.post(f"/console/officers/{viewer.username.upper()}/disable", data={"csrf_token": csrf})
    assert (response.status_code, response.headers["location"]) == (303, "/console/officers")
    assert _disabled(node, viewer.username)


# -- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[gateway]\nparty = "CO"\ndata_dir = "{tmp_path / "var"}"\ntotp_encryption_key = "{TEST_TOTP_KEY}"\n', "utf-8"
    )
    settings = load_settings(path)
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.sqlalchemy_url())
    upgrade(engine)
    engine.dispose()
    return path


def _state(config: Path, name: str) -> str:
    listed = runner.invoke(app, ["list", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    match = re.search(rf"^{name}\s+\S+\s+(\S+)", listed.stdout, re.MULTILINE)
    assert match is not None, listed.stdout
    return match.group(1)


def test_cli_disable_then_enable(config: Path) -> None:
    added = runner.invoke(app, ["add", "--name", "ana", "--role", "viewer", "--no-qr", "--config", str(config)])
    assert added.exit_code == 0, added.output
    disabled = runner.invoke(app, ["disable", "ANA", "--config", str(config)])
    assert disabled.exit_code == 0, disabled.output
    assert disabled.stdout == "officer ana disabled\n"
    assert _state(config, "ana") == "disabled"
    enabled = runner.invoke(app, ["enable", "ana", "--config", str(config)])
    assert enabled.exit_code == 0, enabled.output
    assert enabled.stdout == "officer ana enabled\n"
    assert _state(config, "ana") == "active"
    engine = make_engine(load_settings(config).sqlalchemy_url())
    try:
        with transaction(make_sessionmaker(engine)) as session:
            officer = session.query(Officer).filter_by(username="ana").one()
            assert officer.disabled_at is None
    finally:
        engine.dispose()


def test_cli_enable_of_an_unknown_officer_fails(config: Path) -> None:
    result = runner.invoke(app, ["enable", "nobody", "--config", str(config)])
    assert isinstance(result.exception, OfficerNotFound)
    assert result.exception.detail == "no officer named 'nobody'"


def test_cli_enable_exits_1_with_one_line(config: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "officers",
            "enable",
            "nobody",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == "error: Officer not found: no officer named 'nobody'"
