"""The key-encryption key at start and through ``gateway keys`` (new-kek, rotate-kek, seal-existing)."""

from __future__ import annotations

import base64
import json
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.records.models import StoredRecord
from gateway.records.states import Direction, RecordStatus, Verification
from gateway.settings import load_settings
from gateway.vault.sealing import SEALED_PREFIX, KeyEncryptionKey
from gateway.vault.vault import Vault
from tests.support.at_rest import database_bytes, leaks
from tests.support.cli import run_gateway
from tests.support.exchange import write_settings_toml
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI

PARTNERS = {"CO": "https://127.0.0.1:1", "US": "https://127.0.0.1:2"}


def config(pki: TestPKI, tmp_path: Path, **changes: Any) -> str:
    url = f"sqlite:///{tmp_path / 'gateway.sqlite3'}"
    settings = node_settings(pki, "PA", url, tmp_path / "var", PARTNERS).model_copy(update=changes)
    return str(write_settings_toml(tmp_path / "gateway.toml", settings))


def key_file(path: Path, kek: KeyEncryptionKey) -> Path:
    path.write_text(kek.encoded() + "\n")
    return path


def test_a_missing_kek_stops_the_node_at_start_in_one_line(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(pki, tmp_path, kek_file=tmp_path / "no-such.key")
    outcome = run_gateway(capsys, monkeypatch, "serve", "--config", path)
    assert outcome.code == 1
    assert outcome.error_lines == [
        f"error: Key-encryption key unusable: kek_file {tmp_path / 'no-such.key'} does not exist — set GATEWAY_KEK_FILE"
    ]
    unset = config(pki, tmp_path, kek_file=None)
    outcome = run_gateway(capsys, monkeypatch, "serve", "--config", unset)
    assert outcome.code == 1
    assert outcome.error_lines == [
        "error: Key-encryption key unusable: kek_file is not set — create one with "
        "`gateway keys new-kek --out FILE` and set GATEWAY_KEK_FILE"
    ]


def test_a_wrong_kek_stops_the_node_at_start_in_one_line(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    right, wrong = KeyEncryptionKey.generate(), KeyEncryptionKey.generate()
    path = config(pki, tmp_path, kek_file=key_file(tmp_path / "wrong.key", wrong))
    keystore = make_engine(load_settings(Path(path)).keystore_sqlalchemy_url())
    Vault.open(right, keystore)  # the key store was first opened under the right key
    keystore.dispose()
    outcome = run_gateway(capsys, monkeypatch, "serve", "--config", path)
    assert outcome.code == 1
    assert outcome.error_lines == [
        f"error: Key-encryption key unusable: kek_file holds key {wrong.kek_id}, but the key store is wrapped "
        f"under key {right.kek_id} — set GATEWAY_KEK_FILE to the key the key store was last wrapped (or rotated) under"
    ]


def test_new_kek_writes_a_private_file_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "kek.key"
    outcome = run_gateway(capsys, monkeypatch, "keys", "new-kek", "--out", str(out))
    assert outcome.code == 0
    kek = KeyEncryptionKey.from_file(out)
    assert outcome.stdout.strip() == f"wrote key-encryption key {kek.kek_id} to {out}"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = run_gateway(capsys, monkeypatch, "keys", "new-kek", "--out", str(out))
    assert again.code == 1
    assert again.error_lines == [f"error: {out} exists; a key file is never overwritten — choose another --out"]
    assert KeyEncryptionKey.from_file(out).kek_id == kek.kek_id


def _legacy_row(index: int, name: str) -> StoredRecord:
    """A row as a node before sealing stored it: the JWS in the clear, no data key."""
    payload = {"record_id": f"0190-legacy-{index}", "record_type": "removal_manifest", "body": {"family_names": name}}
    encoded = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    now = datetime.now(UTC)
    return StoredRecord(
        record_id=f"0190-legacy-{index}",
        direction=Direction.OUT,
        originator_party="PA",
        recipients="CO",
        stored_at=now,
        jws=f"eyJhbGciOiJFUzI1NiJ9.{encoded}.c2ln",
        jws_sha256=f"{index:064d}",
        verification=Verification.VALID,
        status=RecordStatus.SENT,
    )


def test_seal_existing_then_rotate_kek(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = KeyEncryptionKey.generate(), KeyEncryptionKey.generate()
    path = config(pki, tmp_path, kek_file=key_file(tmp_path / "old.key", old))
    assert run_gateway(capsys, monkeypatch, "db", "upgrade", "--config", path).code == 0
    settings = load_settings(Path(path))
    engine = make_engine(settings.sqlalchemy_url())
    names = [f"Legacyperson Number{i}" for i in range(5)]
    with transaction(make_sessionmaker(engine)) as session:  # no vault: stored in the clear, as before 0011
        session.add_all([_legacy_row(i, name) for i, name in enumerate(names)])
    assert len(leaks(database_bytes(settings.sqlalchemy_url(), tmp_path), names)) == 5

    outcome = run_gateway(capsys, monkeypatch, "keys", "seal-existing", "--config", path, "--batch", "2")
    assert (outcome.code, outcome.stdout.strip()) == (0, "sealed 5 record bodies")
    again = run_gateway(capsys, monkeypatch, "keys", "seal-existing", "--config", path)
    assert (again.code, again.stdout.strip()) == (0, "sealed 0 record bodies")  # resumable: nothing left
    engine.dispose()
    connection = sqlite3.connect(str(engine.url.database), isolation_level=None)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as deploy/README.md says: VACUUM drops the old pages
    connection.execute("VACUUM")
    connection.close()
    assert leaks(database_bytes(settings.sqlalchemy_url(), tmp_path), names) == []

    outcome = run_gateway(
        capsys, monkeypatch, "keys", "rotate-kek", "--config", path, "--new-kek", str(key_file(tmp_path / "n.key", new))
    )
    assert outcome.code == 0
    assert outcome.stdout.startswith(f"re-wrapped 5 data keys under key-encryption key {new.kek_id}; ")
    keystore = make_engine(settings.keystore_sqlalchemy_url())
    with pytest.raises(Exception, match="wrapped under key " + new.kek_id):
        Vault.open(old, keystore)
    vault = Vault.open(new, keystore)
    with transaction(make_sessionmaker(engine, vault)) as session:
        rows = session.scalars(select(StoredRecord).order_by(StoredRecord.pk)).all()
        assert all(row.sealed_jws.startswith(SEALED_PREFIX) and row.body_key for row in rows)
        assert [
            json.loads(base64.urlsafe_b64decode(row.jws.split(".")[1] + "=="))["body"]["family_names"] for row in rows
        ] == names
    engine.dispose()
    keystore.dispose()
