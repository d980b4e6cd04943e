"""``gateway clients add`` and ``gateway clients list`` on an SQLite node database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.clients import service
from gateway.clients.errors import UnknownScope
from gateway.commands.clients import app
from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.errors import ConfigurationError
from gateway.migrate import upgrade
from gateway.settings import load_settings

runner = CliRunner()


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\nparty = "PA"\ndata_dir = "{tmp_path / "var"}"\n', "utf-8")
    return config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A settings file whose node database (SQLite in data_dir) is migrated."""
    path = _config(tmp_path)
    settings = load_settings(path)
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.sqlalchemy_url())
    upgrade(engine)
    engine.dispose()
    return path


def _add(config: Path, *scopes: str, name: str = "Migración Panamá API") -> tuple[str, str, str]:
    args = ["add", "--name", name, "--config", str(config)]
    for scope in scopes:
        args += ["--scope", scope]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    client_id = re.search(r"^client_id:\s+(\S+)$", result.stdout, re.MULTILINE)
    secret = re.search(r"^client_secret:\s+(\S+)$", result.stdout, re.MULTILINE)
    assert client_id is not None
    assert secret is not None
    return client_id.group(1), secret.group(1), result.stderr


def test_add_prints_a_secret_that_authenticates(config: Path) -> None:
    client_id, secret, warnings = _add(config, "records:write", "records:read")
    assert "cannot show it again" in warnings

    engine = make_engine(load_settings(config).sqlalchemy_url())
    try:
        with transaction(make_sessionmaker(engine)) as session:
            client = service.authenticate_client(session, client_id, secret)
            assert client.name == "Migración Panamá API"
            assert client.scopes == "records:read records:write"
            assert client.secret_hash.startswith("$argon2id$")
    finally:
        engine.dispose()


def test_list_shows_clients_but_no_secrets(config: Path) -> None:
    first_id, first_secret, _ = _add(config, "records:read")
    second_id, second_secret, _ = _add(config, "admin", name="[bold]Ops[/bold]")

    result = runner.invoke(app, ["list", "--config", str(config)])
    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["client", "id", "status", "created", "scopes", "agency", "name"]
    assert len(lines) == 2
    assert lines[0].startswith(f"{first_id}  active")
    assert lines[0].endswith("Migración Panamá API")
    assert "records:read" in lines[0]
    assert lines[1].startswith(f"{second_id}  active")
    assert lines[1].endswith("[bold]Ops[/bold]")  # names are shown, not rendered
    for secret in (first_secret, second_secret):
        assert secret not in result.output
    assert "argon2" not in result.output


def test_list_without_clients(config: Path) -> None:
    result = runner.invoke(app, ["list", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "no API clients" in result.stderr
    assert result.stdout == ""


def test_add_refuses_an_unknown_scope(config: Path) -> None:
    result = runner.invoke(app, ["add", "--name", "A", "--scope", "records:delete", "--config", str(config)])
    assert isinstance(result.exception, UnknownScope)
    assert "records:delete" in str(result.exception)
    assert "client_secret" not in result.output


def test_add_on_a_node_without_a_database(tmp_path: Path) -> None:
    config = _config(tmp_path)
    load_settings(config).data_dir.mkdir(parents=True)
    result = runner.invoke(app, ["add", "--name", "A", "--scope", "admin", "--config", str(config)])
    assert result.exit_code == 1
    assert "has no schema" in result.stderr
    assert "gateway db upgrade" in result.stderr


def test_add_on_a_node_without_its_data_dir(tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = runner.invoke(app, ["add", "--name", "A", "--scope", "admin", "--config", str(config)])
    assert isinstance(result.exception, ConfigurationError)
    assert result.exception.detail == (
        f"the directory of the SQLite database {tmp_path / 'var' / 'gateway.sqlite3'} does not exist"
    )
