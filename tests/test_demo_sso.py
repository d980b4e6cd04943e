"""``gateway demo --serve --sso``: the demo's identity provider (the test suite's real oidc-provider)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gateway.console.sso.provider import OidcClient, OidcConfig
from gateway.demo.sso import reserve_provider
from gateway.settings import Settings
from tests.console.sso_support import IN_CI
from tests.support.cli import run_gateway
from tests.support.oidc_provider import Authorization, TestUser, authorize, provider_ready


def test_sso_without_serve_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = run_gateway(capsys, monkeypatch, "demo", "--sso")
    assert outcome.code == 1
    assert outcome.error_lines == [
        "error: --sso needs --serve: the provider and the nodes must keep running for you to sign in"
    ]


def test_the_demo_provider_signs_in_its_users_for_each_node(tmp_path: Path) -> None:
    reason = provider_ready()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason}; required under CI=true")
        pytest.skip(reason)
    provider = reserve_provider(tmp_path, ["PA", "CO"])
    console = "http://127.0.0.1:1"  # a console URL the provider redirects to (nothing needs to listen)
    provider.start([console])
    try:
        entry = provider.nodes_json_entry()
        assert entry["provider_url"] == provider.issuer
        assert [u["name"] for u in entry["users"]] == [
            "pa-reviewer",
            "pa-admin",
            "pa-cafeteria",
            "co-reviewer",
            "co-admin",
            "co-cafeteria",
        ]
        settings = Settings(party="CO", **provider.node_settings("CO"))
        assert settings.oidc_group_roles == {"co-liaison-reviewers": "reviewer", "co-liaison-admins": "admin"}
        config = OidcConfig.from_settings(settings)
        assert config is not None
        client = OidcClient(config)
        reviewer = next(u for u in entry["users"] if u["name"] == "co-reviewer")
        url = client.authorization_url(
            redirect_uri=f"{console}/console/sso/callback", state="s" * 16, nonce="n" * 16, code_verifier="v" * 43
        )
        answer = authorize(
            url,
            TestUser("", reviewer["name"], reviewer["password"], "", []),
            redirect_uri=f"{console}/console/sso/callback",
        )
        assert isinstance(answer, Authorization)
        raw = client.exchange_code(
            code=answer.code, redirect_uri=f"{console}/console/sso/callback", code_verifier="v" * 43
        )
        verified = client.verify_id_token(raw, nonce="n" * 16, now=datetime.now(UTC))
        assert verified.claims["groups"] == ["co-liaison-reviewers"]
    finally:
        provider.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=2)
