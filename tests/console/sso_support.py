"""Shared pieces of the SSO tests: test users, the provider fixture's setup, an SSO-configured node."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.db import make_engine, make_sessionmaker
from gateway.node import Node
from gateway.settings import Settings
from gateway.terms.registry import TermsRegistry
from tests.console.conftest import ManualClock
from tests.support.nodes import TEST_TOTP_KEY
from tests.support.oidc_provider import ProviderUnavailableForTests, TestProvider, TestUser, client_registration
from tests.support.pki import TestPKI

IN_CI = os.environ.get("CI", "").lower() == "true"
CLIENT_ID = "co-console"
CLIENT_SECRET = "test-only-secret-made-for-this-run"
ASGI_BASE = "http://agency.test"
REDIRECT_URI = f"{ASGI_BASE}/console/sso/callback"
GROUP_ROLES = {"co-liaison-viewers": "viewer", "co-liaison-reviewers": "reviewer", "co-liaison-admins": "admin"}

USERS = [
    TestUser("u-ana", "ana", "ana-password-1", "ana@migracion.example", ["co-liaison-reviewers"], amr=["pwd", "otp"]),
    TestUser("u-bruno", "bruno", "bruno-password-1", "bruno@migracion.example", ["staff", "co-liaison-admins"]),
    TestUser("u-carla", "carla", "carla-password-1", "carla@migracion.example", ["co-cafeteria"]),
    TestUser("u-dario", "dario", "dario-password-1", "dario@migracion.example", ["co-liaison-reviewers"], False),
    TestUser("u-elena", "elena", "elena-password-1", "elena@migracion.example", ["co-liaison-viewers"]),
]


def user(username: str) -> TestUser:
    return next(u for u in USERS if u.username == username)


def start_provider(workdir: Path, base_urls: list[str], **kwargs: Any) -> TestProvider:
    """Start the provider, or skip (fail under CI=true) when node or its modules are missing."""
    fresh = [TestUser(**{**u.__dict__, "groups": list(u.groups), "amr": list(u.amr)}) for u in USERS]
    try:
        return TestProvider(workdir, fresh, [client_registration(CLIENT_ID, CLIENT_SECRET, base_urls)], **kwargs)
    except ProviderUnavailableForTests as exc:
        if IN_CI:
            pytest.fail(f"{exc}; the SSO tests are required under CI=true")
        pytest.skip(str(exc))


def sso_settings(pki: TestPKI, issuer: str, secret_file: Path, **extra: Any) -> dict[str, Any]:
    secret_file.write_text(CLIENT_SECRET + "\n", "utf-8")
    return {
        "oidc_issuer": issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret_file": secret_file,
        "oidc_scopes": ["openid", "email", "profile", "groups"],
        "oidc_group_roles": GROUP_ROLES,
        "oidc_display_name": "Migración Colombia",
        **extra,
    }


def sso_node(database_url: str, pki: TestPKI, clock: ManualClock, values: dict[str, Any]) -> Node:
    engine = make_engine(database_url)
    bundle = pki.bundle()
    settings = Settings(
        party="CO", terms_files=[pki.terms_path], totp_encryption_key=SecretStr(TEST_TOTP_KEY), **values
    )
    return Node(
        settings,
        engine,
        make_sessionmaker(engine),
        pki.signing_key("CO"),
        bundle,
        clock=clock,
        terms=TermsRegistry.load([pki.terms_path], bundle, clock()),
    )
