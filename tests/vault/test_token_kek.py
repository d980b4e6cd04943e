"""A key-encryption key in a PKCS#11 token (SoftHSM2): generated there, wrapping in the token, refusals, rotation.

Each test names its own key (object=) in the session's throwaway tokens
(tests/support/softhsm.py), so tests never share a key.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from pkcs11 import Attribute, ObjectClass

from gateway.node import open_vault
from gateway.settings import load_settings
from gateway.vault.errors import BodyTamperedError, KeyEncryptionKeyError, KeyEncryptionKeyUnavailableError
from gateway.vault.sealing import KeyEncryptionKey
from gateway.vault.token_kek import TokenKeyEncryptionKey, generate_token_kek, load_token_kek
from tests.support.cli import run_gateway
from tests.support.exchange import write_settings_toml
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI
from tests.support.softhsm import USER_PIN, SoftHSM
from tests.vault.test_cli import PARTNERS, key_file


def fresh_uri(softhsm: SoftHSM, token: str = "gateway-test") -> str:  # noqa: S107 - a token label
    return softhsm.uri(f"kek-{uuid.uuid4().hex[:12]}", token=token)


def token_config(pki: TestPKI, tmp_path: Path, softhsm: SoftHSM, name: str = "gateway", **changes: Any) -> str:
    url = f"sqlite:///{tmp_path / 'gateway.sqlite3'}"
    settings = node_settings(pki, "PA", url, tmp_path / "var", PARTNERS).model_copy(
        update={"pkcs11_module": softhsm.module, "pkcs11_pin_file": softhsm.pin_file, **changes}
    )
    return str(write_settings_toml(tmp_path / f"{name}.toml", settings))


def test_a_token_kek_wraps_in_the_token_and_never_leaves_it(softhsm: SoftHSM) -> None:
    uri = fresh_uri(softhsm)
    kek = generate_token_kek(uri, softhsm.module, USER_PIN)
    try:
        stored = kek._session.handle.get_key(object_class=ObjectClass.SECRET_KEY, label=uri.split("object=")[1])
        assert (stored[Attribute.SENSITIVE], stored[Attribute.EXTRACTABLE], stored[Attribute.TOKEN]) == (
            True,
            False,
            True,
        )
        assert (stored[Attribute.VALUE_LEN], stored[Attribute.WRAP]) == (32, False)
        data_key = bytes(range(32))
        wrapped = kek.wrap("ref-1", data_key)
        assert len(wrapped) == 12 + 32 + 16
        assert data_key not in wrapped
        assert kek.wrap("ref-1", data_key) != wrapped  # a fresh nonce each time
        assert kek.unwrap("ref-1", wrapped) == data_key
        with pytest.raises(BodyTamperedError, match="the data key ref-2 does not open under this key-encryption key"):
            kek.unwrap("ref-2", wrapped)  # bound to its reference
        altered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
        with pytest.raises(BodyTamperedError, match="the data key ref-1 does not open"):
            kek.unwrap("ref-1", altered)
        again = load_token_kek(uri, softhsm.module, USER_PIN)
        try:
            assert again.kek_id == kek.kek_id  # derived in the token, stable
            assert again.unwrap("ref-1", wrapped) == data_key
        finally:
            again.close()
        other = generate_token_kek(fresh_uri(softhsm), softhsm.module, USER_PIN)
        try:
            assert other.kek_id != kek.kek_id
            with pytest.raises(BodyTamperedError):
                other.unwrap("ref-1", wrapped)
        finally:
            other.close()
    finally:
        kek.close()


def test_a_token_that_vanishes_while_running_is_unavailable_not_a_tampered_body(softhsm: SoftHSM) -> None:
    kek = generate_token_kek(fresh_uri(softhsm, token="vanishing-kek"), softhsm.module, USER_PIN)
    wrapped = kek.wrap("ref-1", bytes(range(32)))
    softhsm.delete_token("vanishing-kek")
    lost_token = "token 'vanishing-kek' could not unwrap a data key"
    with pytest.raises(KeyEncryptionKeyUnavailableError, match=lost_token) as lost:
        kek.unwrap("ref-1", wrapped)
    assert (lost.value.status, lost.value.type_uri().rsplit("/", 1)[1]) == (503, "key-encryption-key-unavailable")
    with pytest.raises(KeyEncryptionKeyUnavailableError, match="could not wrap a data key"):
        kek.wrap("ref-2", bytes(32))


def test_refusals_are_one_named_error(softhsm: SoftHSM, tmp_path: Path) -> None:
    uri = fresh_uri(softhsm)
    with pytest.raises(KeyEncryptionKeyError, match=r"no key-encryption key 'kek-\w+' in PKCS#11 token 'gateway-test'"):
        load_token_kek(uri, softhsm.module, USER_PIN)
    with pytest.raises(
        KeyEncryptionKeyError, match="kek_uri: cannot log in to PKCS#11 token 'gateway-test': wrong PIN"
    ):
        load_token_kek(uri, softhsm.module, "0000-wrong")
    with pytest.raises(KeyEncryptionKeyError, match="kek_uri: PKCS#11 token 'no-such-token' is not present"):
        load_token_kek("pkcs11:token=no-such-token;object=k", softhsm.module, USER_PIN)
    with pytest.raises(KeyEncryptionKeyError, match=f"kek_uri: PKCS#11 module {tmp_path / 'none.so'} does not exist"):
        load_token_kek(uri, tmp_path / "none.so", USER_PIN)
    generate_token_kek(uri, softhsm.module, USER_PIN).close()
    with pytest.raises(KeyEncryptionKeyError, match=r"already holds a key 'kek-\w+'"):
        generate_token_kek(uri, softhsm.module, USER_PIN)
    signing = softhsm.uri(f"sig-{uuid.uuid4().hex[:8]}")
    from gateway.trust.token_keys import generate_token_key

    generate_token_key(signing, softhsm.module, USER_PIN).token_session.close()
    with pytest.raises(KeyEncryptionKeyError, match=r"no key-encryption key 'sig-\w+'"):
        load_token_kek(signing, softhsm.module, USER_PIN)  # an EC key pair is no secret key


def test_new_kek_in_the_token_through_the_command_line(
    softhsm: SoftHSM, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = fresh_uri(softhsm)
    args = ("keys", "new-kek", "--pkcs11", uri, "--pkcs11-module", str(softhsm.module), "--pin-file")
    outcome = run_gateway(capsys, monkeypatch, *args, str(softhsm.pin_file))
    assert outcome.code == 0, outcome.stderr
    kek = load_token_kek(uri, softhsm.module, USER_PIN)
    kek.close()
    assert outcome.stdout.strip() == (
        f"generated key-encryption key {kek.kek_id} in the token: {uri} "
        "(set kek_uri to it, or pass it to `gateway keys rotate-kek --new-pkcs11`)"
    )
    again = run_gateway(capsys, monkeypatch, *args, str(softhsm.pin_file))
    assert again.code == 1
    assert again.error_lines == [
        f"error: Key-encryption key unusable: PKCS#11 token 'gateway-test' already holds a key "
        f"'{uri.split('object=')[1]}' — a key-encryption key is never replaced; name another object= in the URI"
    ]
    both = run_gateway(capsys, monkeypatch, "keys", "new-kek", "--pkcs11", uri, "--out", "/tmp/x.key")
    assert (both.code, both.error_lines) == (1, ["error: give exactly one of --out FILE and --pkcs11 URI"])


@pytest.mark.parametrize(
    ("pin", "uri", "message"),
    [
        (
            "0000-wrong",
            None,
            "kek_uri: cannot log in to PKCS#11 token 'gateway-test': wrong PIN",
        ),
        (
            None,
            "pkcs11:token=absent-token;object=kek",
            "kek_uri: PKCS#11 token 'absent-token' is not present — plug it in or check token= in the URI",
        ),
    ],
)
def test_a_wrong_pin_or_an_absent_token_stops_the_node_at_start_in_one_line(
    pki: TestPKI,
    tmp_path: Path,
    softhsm: SoftHSM,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    pin: str | None,
    uri: str | None,
    message: str,
) -> None:
    kek_uri = uri or fresh_uri(softhsm)
    if uri is None:
        generate_token_kek(kek_uri, softhsm.module, USER_PIN).close()
    changes: dict[str, Any] = {"kek_file": None, "kek_uri": kek_uri}
    if pin is not None:
        bad_pin = tmp_path / "bad.pin"
        bad_pin.write_text(pin)
        changes["pkcs11_pin_file"] = bad_pin
    path = token_config(pki, tmp_path, softhsm, **changes)
    outcome = run_gateway(capsys, monkeypatch, "serve", "--config", path)
    assert outcome.code == 1
    assert outcome.error_lines == [f"error: Key-encryption key unusable: {message}"]


def test_both_kek_file_and_kek_uri_are_refused_in_one_line(
    pki: TestPKI,
    tmp_path: Path,
    softhsm: SoftHSM,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = token_config(pki, tmp_path, softhsm, kek_uri=fresh_uri(softhsm))  # kek_file stays set
    outcome = run_gateway(capsys, monkeypatch, "serve", "--config", path)
    assert (outcome.code, outcome.error_lines) == (
        1,
        [
            "error: Key-encryption key unusable: both kek_file and kek_uri are set — "
            "keep the one the key store is wrapped under"
        ],
    )


def test_rotate_kek_from_a_file_to_the_token_and_back(
    pki: TestPKI,
    tmp_path: Path,
    softhsm: SoftHSM,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = KeyEncryptionKey.generate()
    file_config = token_config(pki, tmp_path, softhsm, kek_file=key_file(tmp_path / "first.key", first))
    vault = open_vault(load_settings(Path(file_config)))
    bodies = vault.seal_many([(f"body {i}", f"aad {i}") for i in range(3)])
    vault.keystore.engine.dispose()

    uri = fresh_uri(softhsm)
    generate_token_kek(uri, softhsm.module, USER_PIN).close()
    outcome = run_gateway(capsys, monkeypatch, "keys", "rotate-kek", "--config", file_config, "--new-pkcs11", uri)
    assert outcome.code == 0, outcome.stderr
    token_kek = load_token_kek(uri, softhsm.module, USER_PIN)
    token_kek.close()
    assert outcome.stdout.strip() == (
        f"re-wrapped 3 data keys under key-encryption key {token_kek.kek_id}; set kek_uri to {uri} "
        "(and unset kek_file) and restart, then destroy the old key (kek_file)"
    )

    # The node now opens with the token key only; the file key is refused.
    token_only = token_config(pki, tmp_path, softhsm, "token", kek_file=None, kek_uri=uri)
    vault = open_vault(load_settings(Path(token_only)))
    assert isinstance(vault.kek, TokenKeyEncryptionKey)
    assert [vault.open_body(b.key_ref, b.sealed, f"aad {i}") for i, b in enumerate(bodies)] == [
        "body 0",
        "body 1",
        "body 2",
    ]
    vault.keystore.engine.dispose()
    vault.kek.close()
    with pytest.raises(KeyEncryptionKeyError, match=f"kek_file holds key {first.kek_id}, but the key store"):
        open_vault(load_settings(Path(file_config)))

    # And back to a new file key.
    last = KeyEncryptionKey.generate()
    outcome = run_gateway(
        capsys,
        monkeypatch,
        "keys",
        "rotate-kek",
        "--config",
        token_only,
        "--new-kek",
        str(key_file(tmp_path / "l.key", last)),
    )
    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout.strip() == (
        f"re-wrapped 3 data keys under key-encryption key {last.kek_id}; set kek_file to {tmp_path / 'l.key'} "
        "(and unset kek_uri) and restart, then destroy the old key (kek_uri)"
    )
    vault = open_vault(load_settings(Path(token_config(pki, tmp_path, softhsm, "last", kek_file=tmp_path / "l.key"))))
    assert vault.open_body(bodies[0].key_ref, bodies[0].sealed, "aad 0") == "body 0"
    vault.keystore.engine.dispose()
    with pytest.raises(KeyEncryptionKeyError, match=f"kek_uri holds key {token_kek.kek_id}, but the key store"):
        open_vault(load_settings(Path(token_only)))


def test_a_node_with_a_token_kek_seals_what_it_stores_and_opens_it(
    pki: TestPKI, tmp_path: Path, softhsm: SoftHSM, database_url: str
) -> None:
    from sqlalchemy import select

    from gateway.node import build_node
    from gateway.records.models import StoredRecord
    from tests.retention.conftest import sign_flag

    uri = fresh_uri(softhsm)
    generate_token_kek(uri, softhsm.module, USER_PIN).close()
    settings = node_settings(pki, "PA", database_url, tmp_path / "var", {}).model_copy(
        update={"kek_file": None, "kek_uri": uri, "pkcs11_module": softhsm.module, "pkcs11_pin_file": softhsm.pin_file}
    )
    node = build_node(settings)
    try:
        assert node.vault is not None
        assert isinstance(node.vault.kek, TokenKeyEncryptionKey)
        record_id = sign_flag(node)
        with node.transaction() as session:
            row = session.scalars(select(StoredRecord).where(StoredRecord.record_id == record_id)).one()
            assert row.sealed_jws.startswith("sealed.v1.")
            assert row.jws.startswith("ey")
    finally:
        node.close()
    assert node.vault.kek._session._closed  # the token session ends with the node


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_readyz_reports_a_kek_token_that_disappears_while_the_node_runs(
    pki: TestPKI, tmp_path: Path, softhsm: SoftHSM, anyio_backend: str
) -> None:
    import httpx

    from gateway.app import create_agency_app
    from gateway.node import build_node
    from tests.support import nodes

    uri = fresh_uri(softhsm, token="vanishing-kek-node")
    generate_token_kek(uri, softhsm.module, USER_PIN).close()
    settings = node_settings(pki, "PA", f"sqlite:///{tmp_path / 'pa.sqlite3'}", tmp_path / "var", {}).model_copy(
        update={"kek_file": None, "kek_uri": uri, "pkcs11_module": softhsm.module, "pkcs11_pin_file": softhsm.pin_file}
    )
    node = build_node(settings)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_agency_app(node)), base_url="http://pa"
        ) as client:
            before = await client.get("/readyz", headers=nodes.OPERATIONS_HEADERS)
            assert (before.status_code, before.json()["checks"]["key_encryption_key"]) == (200, "ok")
            softhsm.delete_token("vanishing-kek-node")
            after = await client.get("/readyz", headers=nodes.OPERATIONS_HEADERS)
    finally:
        node.close()
    assert (after.status_code, after.json()["ready"]) == (503, False)
    assert after.json()["checks"]["key_encryption_key"] == (
        "error: the PKCS#11 token 'vanishing-kek-node' holding the key-encryption key does not answer"
    )
