"""Signing keys in a PKCS#11 token (SoftHSM2): RFC 7512 URIs, generation, signing, refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws as jose_jws
from joserfc.jwk import ECKey
from pkcs11 import Attribute, ObjectClass

from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import PKIError
from gateway.trust.jws import RECORD_TYP, sign_compact
from gateway.trust.keys import SigningKey, load_certificates, load_private_key
from gateway.trust.pki import init_party, issue_certificate
from gateway.trust.token_keys import (
    TokenError,
    generate_token_key,
    key_status,
    load_token_key,
    parse_pkcs11_uri,
)
from gateway.trust.verify import verify_compact
from tests.support.softhsm import USER_PIN, SoftHSM

# -- RFC 7512 URIs -----------------------------------------------------------------


def test_a_uri_names_token_and_key_with_percent_encoding() -> None:
    uri = parse_pkcs11_uri("pkcs11:token=PA%20gateway;object=record%2Dsigning;id=%01%02?module-path=/usr/lib/x.so")
    assert (uri.token, uri.object, uri.id, uri.module_path) == (
        "PA gateway",
        "record-signing",
        b"\x01\x02",
        Path("/usr/lib/x.so"),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("token=a;object=b", "is not a PKCS#11 URI"),
        ("pkcs11:object=b", "names no token"),
        ("pkcs11:token=a", "names no key"),
        ("pkcs11:token=a;object=b?pin-value=1234", "must not carry the PIN"),
        ("pkcs11:token=a;object=b;colour=red", "unknown attribute 'colour'"),
        ("pkcs11:token=a;object=b;type=public", "type=public does not name a private key"),
        ("pkcs11:token=a;token=c;object=b", "'token' is repeated"),
        ("pkcs11:token=a;object", "'object' is not name=value"),
    ],
)
def test_malformed_uris_are_refused_naming_the_fault(text: str, message: str) -> None:
    with pytest.raises(PKIError, match=message):
        parse_pkcs11_uri(text)


def test_with_object_names_another_key_in_the_same_token() -> None:
    uri = parse_pkcs11_uri("pkcs11:token=PA;object=signing-2026?module-path=/m.so").with_object("signing 2027")
    assert (uri.token, uri.object, uri.module_path) == ("PA", "signing 2027", Path("/m.so"))
    assert uri.text == "pkcs11:token=PA;object=signing%202027?module-path=/m.so"


# -- keys in SoftHSM2 ---------------------------------------------------------------


def _party_ca(tmp_path: Path) -> tuple[Path, TrustBundle]:
    files = init_party("PA", tmp_path / "pa")
    return files.root, TrustBundle.load(files.bundle_entry)


def test_a_generated_token_key_signs_records_that_verify_and_never_leaves_the_token(
    softhsm: SoftHSM, tmp_path: Path
) -> None:
    ca_dir, bundle = _party_ca(tmp_path)
    key = generate_token_key(softhsm.uri("sign-verify"), softhsm.module, USER_PIN)
    ca_cert = load_certificates(ca_dir / "ca.pem")[0]
    cert = issue_certificate("PA", "signing", key, ca_cert, load_private_key(ca_dir / "ca.key"))
    signing = SigningKey(key, (cert,))

    token = sign_compact(b'{"originator":{"party":"PA"}}', signing, RECORD_TYP)

    verified = verify_compact(
        token,
        bundle=bundle,
        at=datetime.now(UTC),
        typ=RECORD_TYP,
        parse=lambda value: value,
        claimed_party=lambda value: value["originator"]["party"],
    )
    assert (verified.signer_party, verified.algorithm, verified.kid) == ("PA", "ES256", signing.kid)
    # Any JOSE library checks it with the certificate's public key alone.
    registry = jose_jws.JWSRegistry(algorithms=["ES256"])
    registry.max_header_length = 16 * 1024  # x5c makes the header longer than joserfc's default allows
    checked = jose_jws.deserialize_compact(token, ECKey.import_key(cert.public_key()), registry=registry)
    assert checked.payload == verified.payload_bytes
    # The private key is sensitive and non-extractable in the token, and the object refuses export.
    private = key.token_session._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="sign-verify")
    assert (private[Attribute.SENSITIVE], private[Attribute.EXTRACTABLE]) == (True, False)
    with pytest.raises(TokenError, match="cannot be exported"):
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(TokenError, match="ECDSA with SHA-256 only"):
        key.sign(b"x", ec.ECDSA(hashes.SHA384()))
    key.token_session.close()


def test_the_same_key_loads_again_by_uri_and_a_second_generation_is_refused(softhsm: SoftHSM) -> None:
    made = generate_token_key(softhsm.uri("load-again"), softhsm.module, USER_PIN)
    loaded = load_token_key(softhsm.uri("load-again"), softhsm.module, USER_PIN)
    assert loaded.public_key().public_numbers() == made.public_key().public_numbers()
    with pytest.raises(TokenError, match="already holds a key 'load-again'"):
        generate_token_key(softhsm.uri("load-again"), softhsm.module, USER_PIN)
    made.token_session.close()
    loaded.token_session.close()


@pytest.mark.parametrize(
    ("uri", "pin", "message"),
    [
        ("pkcs11:token=gateway-test;object=load-again-x", USER_PIN, "no key 'load-again-x' in token 'gateway-test'"),
        ("pkcs11:token=no-such-token;object=k", USER_PIN, "PKCS#11 token 'no-such-token' is not present"),
        (
            "pkcs11:token=gateway-test;object=k",
            "0000-wrong",
            "cannot log in to PKCS#11 token 'gateway-test': wrong PIN",
        ),
    ],
)
def test_an_absent_token_a_wrong_pin_or_a_missing_key_is_one_named_error(
    softhsm: SoftHSM, uri: str, pin: str, message: str
) -> None:
    with pytest.raises(TokenError, match=message):
        load_token_key(uri, softhsm.module, pin)


def test_a_missing_module_is_named(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match=f"PKCS#11 module {tmp_path / 'none.so'} does not exist"):
        load_token_key("pkcs11:token=a;object=b", tmp_path / "none.so", "1234")
    with pytest.raises(TokenError, match="no PKCS#11 module configured"):
        load_token_key("pkcs11:token=a;object=b", None, "1234")


def test_key_status_reports_a_token_that_disappears(softhsm: SoftHSM) -> None:
    key = generate_token_key(softhsm.uri("probe", token="vanishing"), softhsm.module, USER_PIN)
    assert key_status(key) == "ok"
    assert key_status(ec.generate_private_key(ec.SECP256R1())) == "ok"

    softhsm.delete_token("vanishing")

    status = key_status(key)
    assert status.startswith("error: the token could not sign"), status


def test_settings_refuse_a_pin_in_the_toml_file(tmp_path: Path) -> None:
    from gateway.errors import ConfigurationError
    from gateway.settings import load_settings

    config = tmp_path / "node.toml"
    config.write_text('party = "PA"\npkcs11_pin = "1234"\n', "utf-8")
    with pytest.raises(ConfigurationError, match="holds pkcs11_pin; a token PIN never goes into the configuration"):
        load_settings(config)
