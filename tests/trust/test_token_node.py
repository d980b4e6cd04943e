"""A node whose record-signing key is in a SoftHSM2 token: pki init/rotate --pkcs11, start-up errors, /readyz."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gateway.app import create_agency_app
from gateway.node import build_node
from gateway.trust.errors import PKIError
from gateway.trust.keys import load_certificates
from gateway.trust.token_keys import TokenECPrivateKey, TokenError
from tests.support import nodes
from tests.support.pki import TestPKI
from tests.support.softhsm import SoftHSM
from tests.test_cli_offline import gateway_cli


def token_settings(pki: TestPKI, softhsm: SoftHSM, cert: Path, uri: str, data_dir: Path, **extra: Any) -> Any:
    values: dict[str, Any] = {
        "signing_key": None,
        "signing_cert": cert,
        "signing_key_uri": uri,
        "pkcs11_module": softhsm.module,
        "pkcs11_pin_file": softhsm.pin_file,
        **extra,
    }
    return nodes.node_settings(pki, "PA", f"sqlite:///{data_dir / 'gateway.sqlite3'}", data_dir, {}, **values)


def rotate_into_token(pki: TestPKI, softhsm: SoftHSM, uri: str, out: Path) -> Path:
    run = gateway_cli(
        "pki", "rotate", "--ca-dir", pki.parties["PA"].root, "--out", out,
        "--pkcs11", uri, "--pkcs11-module", softhsm.module, "--pin-file", softhsm.pin_file,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert f"GATEWAY_SIGNING_KEY_URI='{uri}'" in run.stdout
    [cert] = out.glob("signing-*.pem")
    assert not list(out.glob("signing-*.key"))  # the key stayed in the token
    return cert


def test_pki_init_pkcs11_generates_the_signing_key_in_the_token(softhsm: SoftHSM, tmp_path: Path) -> None:
    uri = softhsm.uri("init-signing")
    run = gateway_cli(
        "pki", "init", "--party", "CO", "--out", tmp_path / "co",
        "--pkcs11", uri, "--pkcs11-module", softhsm.module, "--pin-file", softhsm.pin_file,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert f"{uri} (in the token" in run.stdout
    assert not (tmp_path / "co" / "signing.key").exists()
    cert = load_certificates(tmp_path / "co" / "signing.pem")[0]
    # The same key again in the same token is refused in one line, and nothing is left behind.
    again = gateway_cli(
        "pki", "init", "--party", "CO", "--out", tmp_path / "co2",
        "--pkcs11", uri, "--pkcs11-module", softhsm.module, "--pin-file", softhsm.pin_file,
    )  # fmt: skip
    assert again.code == 1
    assert "already holds a key 'init-signing'" in again.error_line
    assert not (tmp_path / "co2" / "ca.key").exists()
    assert cert.subject.rfc4514_string().startswith("CN=CO MOU Gateway record signing")


def test_a_wrong_pin_or_absent_token_stops_pki_init_in_one_line(softhsm: SoftHSM, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("not-the-pin\n", "utf-8")
    run = gateway_cli(
        "pki", "init", "--party", "US", "--out", tmp_path / "us",
        "--pkcs11", softhsm.uri("x"), "--pkcs11-module", softhsm.module, "--pin-file", wrong,
    )  # fmt: skip
    assert run.code == 1
    assert "cannot log in to PKCS#11 token 'gateway-test': wrong PIN" in run.error_line
    run = gateway_cli(
        "pki", "init", "--party", "US", "--out", tmp_path / "us2",
        "--pkcs11", softhsm.uri("x", token="absent"), "--pkcs11-module", softhsm.module,
        "--pin-file", softhsm.pin_file,
    )  # fmt: skip
    assert run.code == 1
    assert "PKCS#11 token 'absent' is not present" in run.error_line


def test_a_node_signs_with_its_token_key_and_refuses_to_start_with_a_wrong_pin(
    pki: TestPKI, softhsm: SoftHSM, tmp_path: Path
) -> None:
    uri = softhsm.uri("node-signing")
    cert = rotate_into_token(pki, softhsm, uri, tmp_path / "rotated")
    node = build_node(token_settings(pki, softhsm, cert, uri, tmp_path / "pa"))
    try:
        assert isinstance(node.signing_key.private_key, TokenECPrivateKey)
        assert node.signing_key.certificate == load_certificates(cert)[0]
    finally:
        node.close()

    wrong = tmp_path / "wrong"
    wrong.write_text("0000\n", "utf-8")
    with pytest.raises(TokenError, match="cannot log in to PKCS#11 token 'gateway-test': wrong PIN"):
        build_node(token_settings(pki, softhsm, cert, uri, tmp_path / "pa2", pkcs11_pin_file=wrong))
    with pytest.raises(PKIError, match="no PIN for the PKCS#11 token"):
        build_node(token_settings(pki, softhsm, cert, uri, tmp_path / "pa3", pkcs11_pin_file=None))
    # The PIN may come from the environment (GATEWAY_PKCS11_PIN) instead of a file.
    pin = softhsm.pin_file.read_text("utf-8").strip()
    node = build_node(
        token_settings(pki, softhsm, cert, uri, tmp_path / "pa4", pkcs11_pin_file=None, pkcs11_pin=SecretStr(pin))
    )
    node.close()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_readyz_reports_a_token_that_disappears_while_the_node_runs(
    pki: TestPKI, softhsm: SoftHSM, tmp_path: Path, anyio_backend: str
) -> None:
    uri = softhsm.uri("readyz", token="vanishing-node")
    cert = rotate_into_token(pki, softhsm, uri, tmp_path / "rotated")
    node = build_node(token_settings(pki, softhsm, cert, uri, tmp_path / "pa"))
    app = create_agency_app(node)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://pa.test") as client:
            before = await client.get("/readyz", headers=nodes.OPERATIONS_HEADERS)
            assert (before.status_code, before.json()["checks"]["signing_key"]) == (200, "ok")
            softhsm.delete_token("vanishing-node")
            after = await client.get("/readyz", headers=nodes.OPERATIONS_HEADERS)
    finally:
        node.close()
    assert after.status_code == 503
    assert after.json()["ready"] is False
    assert after.json()["checks"]["signing_key"].startswith("error: the token could not sign")
