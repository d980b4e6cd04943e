"""The relying party's ID token checks, on real tokens from a real provider (oidc-provider on 127.0.0.1).

Each test redeems a real code for a real ID token, then presents it (or a copy
re-signed with a key made here) to ``OidcClient.verify_id_token``: another
key, another audience, a time past ``exp``, another nonce.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from gateway.console.sso.errors import ProviderUnavailable, SsoTokenRejected
from gateway.console.sso.provider import OidcClient, OidcConfig
from gateway.errors import ConfigurationError
from gateway.settings import Settings
from tests.console.sso_support import ASGI_BASE, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, start_provider, user
from tests.support.oidc_provider import Authorization, TestProvider, authorize

SKEW = 60


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestProvider]:
    running = start_provider(tmp_path_factory.mktemp("oidc-tokens"), [ASGI_BASE])
    yield running
    running.stop()


def client_for(provider: TestProvider, *, client_id: str = CLIENT_ID, issuer: str | None = None) -> OidcClient:
    return OidcClient(
        OidcConfig(
            issuer=issuer or provider.issuer,
            client_id=client_id,
            client_secret=CLIENT_SECRET,
            scopes=("openid", "email", "profile", "groups"),
            redirect_uri=REDIRECT_URI,
            clock_skew_seconds=SKEW,
            max_auth_age_seconds=None,
        )
    )


@pytest.fixture(scope="module")
def real_token(provider: TestProvider) -> tuple[str, str]:
    """A real ID token for ana and the nonce it was issued for."""
    client = client_for(provider)
    nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(48)
    url = client.authorization_url(redirect_uri=REDIRECT_URI, state="s" * 20, nonce=nonce, code_verifier=verifier)
    answer = authorize(url, user("ana"), redirect_uri=REDIRECT_URI)
    assert isinstance(answer, Authorization)
    return client.exchange_code(code=answer.code, redirect_uri=REDIRECT_URI, code_verifier=verifier), nonce


def parts(raw: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def decode(segment: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        return value

    header, payload, _ = raw.split(".")
    return decode(header), decode(payload)


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_a_real_id_token_verifies(provider: TestProvider, real_token: tuple[str, str]) -> None:
    raw, nonce = real_token
    _, claims = parts(raw)
    verified = client_for(provider).verify_id_token(raw, nonce=nonce, now=at(claims["iat"]))
    assert verified.subject == "u-ana"
    assert verified.issuer == provider.issuer
    assert verified.claims["groups"] == ["co-liaison-reviewers"]
    assert verified.expires_at == at(claims["exp"])


def test_a_token_signed_by_another_key_under_the_providers_kid_is_refused(
    provider: TestProvider, real_token: tuple[str, str]
) -> None:
    raw, nonce = real_token
    header, claims = parts(raw)
    forged = jwt.encode({"alg": "RS256", "kid": header["kid"]}, claims, RSAKey.generate_key(2048))
    with pytest.raises(SsoTokenRejected, match="signature does not verify") as refused:
        client_for(provider).verify_id_token(forged, nonce=nonce, now=at(claims["iat"]))
    assert refused.value.reason == "signature"


def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused_after_a_jwks_refresh(
    provider: TestProvider, real_token: tuple[str, str]
) -> None:
    raw, nonce = real_token
    _, claims = parts(raw)
    client = client_for(provider)
    client.verify_id_token(raw, nonce=nonce, now=at(claims["iat"]))  # caches the JWKS
    fetched_before = client._keys_at
    client._keys_at -= 11  # past the refresh interval, as a real rotation would be
    forged = jwt.encode({"alg": "RS256", "kid": "rotated-away"}, claims, RSAKey.generate_key(2048))
    with pytest.raises(SsoTokenRejected, match="key the provider does not publish") as refused:
        client.verify_id_token(forged, nonce=nonce, now=at(claims["iat"]))
    assert refused.value.reason == "unknown_key"
    assert client._keys_at > fetched_before  # the unknown kid made the client fetch the JWKS again


def test_a_token_for_another_client_is_refused(provider: TestProvider, real_token: tuple[str, str]) -> None:
    raw, nonce = real_token
    _, claims = parts(raw)
    with pytest.raises(SsoTokenRejected, match="meant for another client") as refused:
        client_for(provider, client_id="us-console").verify_id_token(raw, nonce=nonce, now=at(claims["iat"]))
    assert refused.value.reason == "audience"


def test_an_expired_token_is_refused_past_the_clock_skew(provider: TestProvider, real_token: tuple[str, str]) -> None:
    raw, nonce = real_token
    _, claims = parts(raw)
    client = client_for(provider)
    # Just inside the skew: still accepted (the iat window is wider than this token's life).
    client.verify_id_token(raw, nonce=nonce, now=at(claims["exp"] + SKEW - 1))
    with pytest.raises(SsoTokenRejected, match="has expired") as refused:
        client.verify_id_token(raw, nonce=nonce, now=at(claims["exp"] + SKEW))
    assert refused.value.reason == "expired"


def test_a_token_issued_in_the_future_is_refused(provider: TestProvider, real_token: tuple[str, str]) -> None:
    raw, nonce = real_token
    _, claims = parts(raw)
    with pytest.raises(SsoTokenRejected, match="issue time") as refused:
        client_for(provider).verify_id_token(raw, nonce=nonce, now=at(claims["iat"] - SKEW - 1))
    assert refused.value.reason == "iat"


def test_a_token_for_another_sign_in_is_refused(provider: TestProvider, real_token: tuple[str, str]) -> None:
    raw, _ = real_token
    _, claims = parts(raw)
    with pytest.raises(SsoTokenRejected, match="nonce") as refused:
        client_for(provider).verify_id_token(raw, nonce="another-sign-in", now=at(claims["iat"]))
    assert refused.value.reason == "nonce"


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_unsigned_and_symmetric_tokens_are_refused(
    provider: TestProvider, real_token: tuple[str, str], alg: str
) -> None:
    raw, nonce = real_token
    _, payload, signature = raw.split(".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": alg}).encode()).rstrip(b"=").decode()
    with pytest.raises(SsoTokenRejected, match="algorithm") as refused:
        client_for(provider).verify_id_token(f"{header}.{payload}.{signature}", nonce=nonce, now=datetime.now(UTC))
    assert refused.value.reason == "alg"


def test_claims_from_another_issuer_or_several_audiences_without_azp_are_refused(
    provider: TestProvider, real_token: tuple[str, str]
) -> None:
    raw, nonce = real_token
    header, claims = parts(raw)
    key = RSAKey.generate_key(2048, parameters={"kid": header["kid"]})
    client = client_for(provider)
    client.metadata()
    client._keys, client._keys_at = KeySet([key]), 1e12  # a provider publishing this test's key
    now = at(claims["iat"])
    client.verify_id_token(jwt.encode(header, claims, key), nonce=nonce, now=now)  # control: accepted
    cases = [
        ({**claims, "iss": "http://127.0.0.1:1"}, "issuer"),
        ({**claims, "aud": [CLIENT_ID, "us-console"]}, "azp"),
        ({k: v for k, v in claims.items() if k != "sub"}, "subject"),
    ]
    for changed, reason in cases:
        with pytest.raises(SsoTokenRejected) as refused:
            client.verify_id_token(jwt.encode(header, changed, key), nonce=nonce, now=now)
        assert refused.value.reason == reason
    accepted = {**claims, "aud": [CLIENT_ID, "us-console"], "azp": CLIENT_ID}
    assert client.verify_id_token(jwt.encode(header, accepted, key), nonce=nonce, now=now).subject == "u-ana"


def test_a_discovery_document_naming_another_issuer_is_refused(provider: TestProvider) -> None:
    # The provider says http://127.0.0.1:PORT; this node was told http://localhost:PORT.
    impostor = client_for(provider, issuer=provider.issuer.replace("127.0.0.1", "localhost"))
    with pytest.raises(ProviderUnavailable, match="names another issuer"):
        impostor.metadata()


def test_configuration_errors_name_the_setting(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n", "utf-8")
    base: dict[str, Any] = {"party": "CO", "oidc_client_id": CLIENT_ID, "oidc_client_secret_file": secret}
    with pytest.raises(ConfigurationError, match="must be an https:// URL"):
        OidcConfig.from_settings(Settings(**base, oidc_issuer="http://idp.example.org"))
    with pytest.raises(ConfigurationError, match="GATEWAY_OIDC_CLIENT_SECRET_FILE is not"):
        OidcConfig.from_settings(Settings(**{**base, "oidc_client_secret_file": None}, oidc_issuer="https://idp.test"))
    with pytest.raises(ConfigurationError, match="cannot read the OIDC client secret file"):
        OidcConfig.from_settings(
            Settings(**{**base, "oidc_client_secret_file": tmp_path / "absent"}, oidc_issuer="https://idp.test")
        )
    config = OidcConfig.from_settings(Settings(**base, oidc_issuer="https://idp.test/"))
    assert config is not None
    assert config.issuer == "https://idp.test"
    assert config.client_secret == "s3cret"
    assert "s3cret" not in repr(config)
    assert OidcConfig.from_settings(Settings(party="CO")) is None
