"""``gateway officers add|list|unlock`` on an SQLite node database."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from typer.testing import CliRunner

from gateway.commands.officers import app
from gateway.console import service, throttle
from gateway.console.errors import OfficerExists
from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.migrate import upgrade
from gateway.settings import load_settings
from tests.support.nodes import TEST_SEED_CIPHER, TEST_TOTP_KEY

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A settings file whose node database (SQLite in data_dir) is migrated."""
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


def _field(output: str, label: str) -> str:
    match = re.search(rf"^{label}:\s+(\S+)", output, re.MULTILINE)
    assert match is not None, output
    return match.group(1)


def test_add_prints_a_one_time_password_and_a_totp_uri_that_sign_in(config: Path) -> None:
    result = runner.invoke(app, ["add", "--name", "Maria.Lopez", "--role", "reviewer", "--config", str(config)])
    assert result.exit_code == 0, result.output
    password = _field(result.stdout, "one-time password")
    uri = _field(result.stdout, "totp enrolment uri")
    assert _field(result.stdout, "officer") == "maria.lopez"
    assert uri.startswith("otpauth://totp/MOU%20Gateway%20CO:maria.lopez?secret=")
    assert "▀" in result.stdout or "█" in result.stdout  # the QR code
    assert "must be changed at first sign-in" in result.stderr

    totp = pyotp.parse_uri(uri)
    now = datetime.now(UTC)
    engine = make_engine(load_settings(config).sqlalchemy_url())
    try:
        with transaction(make_sessionmaker(engine)) as session:
            outcome = service.authenticate(session, "maria.lopez", password, totp.at(now), now, cipher=TEST_SEED_CIPHER)
            assert outcome.opened is not None
            principal = service.resolve_session(session, outcome.opened.token, now)
            assert principal is not None
            assert principal.password_change_required
    finally:
        engine.dispose()


def test_add_refuses_a_taken_name_and_an_unknown_role(config: Path) -> None:
    args = ["add", "--name", "ana", "--role", "viewer", "--no-qr", "--config", str(config)]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert isinstance(again.exception, OfficerExists)
    bad = runner.invoke(app, ["add", "--name", "bob", "--role", "boss", "--config", str(config)])
    assert bad.exit_code == 2
    assert "boss" in bad.output


def test_list_and_unlock(config: Path) -> None:
    added = runner.invoke(app, ["add", "--name", "ana", "--role", "admin", "--no-qr", "--config", str(config)])
    password = _field(added.stdout, "one-time password")
    engine = make_engine(load_settings(config).sqlalchemy_url())
    now = datetime.now(UTC)

    def attempt() -> str | None:
        with transaction(make_sessionmaker(engine)) as session:
            return service.authenticate(
                session, "ana", "wrong", "000000", now, remote_addr="198.51.100.9", cipher=TEST_SEED_CIPHER
            ).failure

    try:
        for _ in range(throttle.PAIR_FREE_FAILURES):
            assert attempt() == "wrong_password"
        assert attempt() == "throttled"
        listed = runner.invoke(app, ["list", "--config", str(config)])
        assert listed.exit_code == 0
        # Failures slow their source down; they never lock the account.
        assert re.search(r"^ana\s+admin\s+active", listed.stdout, re.MULTILINE)
        assert password not in listed.stdout
        unlocked = runner.invoke(app, ["unlock", "ana", "--config", str(config)])
        assert unlocked.exit_code == 0
        assert unlocked.stdout == "officer ana unlocked\n"
        assert attempt() == "wrong_password"  # checked again, not throttled
    finally:
        engine.dispose()


def test_commands_need_a_migrated_database(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\nparty = "CO"\ndata_dir = "{tmp_path}"\n', "utf-8")
    result = runner.invoke(app, ["list", "--config", str(path)])
    assert result.exit_code == 1
    assert "no schema" in result.stderr
