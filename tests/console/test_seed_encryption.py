"""TOTP seeds encrypted at rest (issue 14, item 7h): AES-256-GCM under a settings key, bound to the officer.

Before: the seed was a plain base32 column; a copy of the database gave every
officer's second factor.
"""

from __future__ import annotations

import base64
import logging
import subprocess
from pathlib import Path

import httpx
import pyotp
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.app import create_agency_app
from gateway.console import service
from gateway.console.models import Officer
from gateway.console.schemas import Role
from gateway.console.seeds import SeedCipher, SeedUnreadable, is_encrypted, load_seed_key, new_key
from gateway.errors import ConfigurationError
from gateway.node import Node
from gateway.settings import Settings
from tests.console.conftest import ISSUER, code_at, officer_on, sign_in
from tests.operations.processes import gateway_command
from tests.support.databases import DatabaseFactory
from tests.support.exchange import write_settings_toml
from tests.support.nodes import TEST_SEED_CIPHER, node_settings
from tests.support.pki import TestPKI

pytestmark = pytest.mark.anyio


def _stored(node: Node, username: str) -> str:
    with node.transaction() as session:
        return session.scalars(select(Officer.totp_secret).where(Officer.username == username)).one()


def test_a_new_officers_seed_is_stored_encrypted(session: Session) -> None:
    from datetime import UTC, datetime

    created = service.create_officer(
        session, "luz", Role.VIEWER, datetime.now(UTC), issuer=ISSUER, cipher=TEST_SEED_CIPHER
    )
    stored = session.scalars(select(Officer.totp_secret).where(Officer.username == "luz")).one()
    assert stored.startswith("v1:")
    assert created.totp_secret not in stored
    assert len(stored) == 83  # v1: + base64url(12-byte nonce + 32-byte seed + 16-byte tag)
    assert TEST_SEED_CIPHER.decrypt("luz", stored) == created.totp_secret


def test_a_seed_does_not_decrypt_for_another_officer_or_under_another_key() -> None:
    stored = TEST_SEED_CIPHER.encrypt("ana", pyotp.random_base32())
    with pytest.raises(SeedUnreadable, match=r"^the TOTP seed of officer 'bob' does not decrypt under this key$"):
        TEST_SEED_CIPHER.decrypt("bob", stored)  # copied onto bob's row
    other = SeedCipher(base64.b64decode(new_key()))
    with pytest.raises(SeedUnreadable):
        other.decrypt("ana", stored)
    tampered = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    with pytest.raises(SeedUnreadable):
        TEST_SEED_CIPHER.decrypt("ana", tampered)


async def test_officers_sign_in_with_encrypted_seeds(http: httpx.AsyncClient, node: Node) -> None:
    officer = officer_on(node, Role.VIEWER)
    assert is_encrypted(_stored(node, officer.username))
    response = await sign_in(http, officer, code_at(officer, node.now()))
    assert response.status_code == 303, response.text


async def test_plain_seeds_of_an_older_version_are_encrypted_when_the_listener_starts(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    officer = officer_on(node, Role.VIEWER)
    with node.transaction() as session:  # as a row written before encryption existed
        row = session.scalars(select(Officer).where(Officer.username == officer.username)).one()
        row.totp_secret = officer.totp_secret
    with caplog.at_level(logging.INFO, logger="gateway.app"):
        create_agency_app(node)
    stored = _stored(node, officer.username)
    assert is_encrypted(stored)
    assert TEST_SEED_CIPHER.decrypt(officer.username, stored) == officer.totp_secret
    assert "encrypted 1 TOTP seeds stored in clear" in caplog.messages


def test_the_agency_listener_does_not_start_without_the_key(node: Node) -> None:
    keyless = Node(Settings(party="CO"), node.engine, node.sessions, node.signing_key, node.bundle, clock=node.clock)
    with pytest.raises(ConfigurationError) as raised:
        create_agency_app(keyless)
    assert raised.value.detail == "totp_encryption_key is not set (officers' TOTP seeds are encrypted with it)"
    assert raised.value.cli_message().startswith(
        "Configuration error: totp_encryption_key is not set (officers' TOTP seeds are encrypted with it) — "
        "set GATEWAY_TOTP_ENCRYPTION_KEY (or GATEWAY_TOTP_ENCRYPTION_KEY_FILE)"
    )


def test_key_settings_are_checked(tmp_path: Path) -> None:
    key = new_key()
    path = tmp_path / "key"
    path.write_text(key + "\n")
    assert load_seed_key(Settings(party="PA", totp_encryption_key_file=path)) == base64.b64decode(key)
    with pytest.raises(ConfigurationError, match=r"^totp_encryption_key is not base64$"):
        load_seed_key(Settings(party="PA", totp_encryption_key=SecretStr("not base64!")))
    with pytest.raises(ConfigurationError, match=r"^totp_encryption_key must hold 32 bytes \(base64\), not 16$"):
        load_seed_key(Settings(party="PA", totp_encryption_key=SecretStr(base64.b64encode(b"x" * 16).decode())))
    with pytest.raises(ConfigurationError, match=r"^set totp_encryption_key or totp_encryption_key_file, not both$"):
        load_seed_key(Settings(party="PA", totp_encryption_key=SecretStr(key), totp_encryption_key_file=path))
    with pytest.raises(ConfigurationError, match=r"^cannot read totp_encryption_key_file "):
        load_seed_key(Settings(party="PA", totp_encryption_key_file=tmp_path / "missing"))


def test_gateway_serve_without_the_key_exits_1_with_one_line(
    pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    settings = node_settings(pki, "PA", database_factory.fresh_url(), tmp_path / "pa", {}, totp_encryption_key=None)
    config = write_settings_toml(tmp_path / "gateway.toml", settings)
    done = subprocess.run(
        [gateway_command(), "serve", "--config", str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1, done.stdout + done.stderr
    # Besides the JSON log lines of the migration that runs first: one line, no traceback.
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("{")]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    # serve runs the start checks (those of `gateway doctor`), which name the check and the fix.
    assert lines[0] == (
        "error: Configuration error: TOTP key: totp_encryption_key is not set: officers' TOTP seeds cannot be "
        "encrypted — set GATEWAY_TOTP_ENCRYPTION_KEY_FILE to a file of base64 of 32 random bytes"
    )
