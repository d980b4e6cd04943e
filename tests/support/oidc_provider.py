"""A real OpenID Connect provider for tests and the demo: panva's oidc-provider on 127.0.0.1 (node).

``tests/support/oidc/provider.mjs`` is the provider; its node_modules come from
``npm ci`` (``make test`` runs it when they are missing). Users live in a JSON
file the provider reads again at every sign-in, so ``disable`` works like an
agency's leaver process. ``authorize`` signs a user in through the provider's
own login form with plain HTTP and returns the code it sends back.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

SUPPORT_DIR = Path(__file__).resolve().parent / "oidc"
SCRIPT = SUPPORT_DIR / "provider.mjs"
INTERACTION_FORM = 'action="/interaction/'


class ProviderUnavailableForTests(RuntimeError):
    """node or the provider's node_modules are missing."""


@dataclass
class TestUser:
    __test__ = False  # not a pytest test class
    id: str
    username: str
    password: str
    email: str
    groups: list[str]
    email_verified: bool = True
    name: str = ""
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    acr: str = "urn:test:pwd"
    disabled: bool = False


@dataclass(frozen=True)
class Authorization:
    """What the provider sent back to the redirect URI."""

    code: str
    state: str
    iss: str | None
    callback: str  # path and query of the redirect URI, as the browser would call it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def provider_ready() -> str | None:
    """Return why the provider cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (SUPPORT_DIR / "node_modules" / "oidc-provider").is_dir():
        return f"{SUPPORT_DIR}/node_modules is missing (run `npm ci` there, or `make test`)"
    return None


class TestProvider:
    """One oidc-provider process; ``stop()`` ends it."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        workdir: Path,
        users: list[TestUser],
        clients: list[dict[str, Any]],
        *,
        port: int | None = None,
        id_token_ttl: int = 300,
    ) -> None:
        reason = provider_ready()
        if reason is not None:
            raise ProviderUnavailableForTests(reason)
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.users_file = workdir / "oidc-users.json"
        self.users = {u.username: u for u in users}
        self._write_users()
        config = workdir / "oidc-provider.json"
        config.write_text(
            json.dumps(
                {
                    "issuer": self.issuer,
                    "port": self.port,
                    "users_file": str(self.users_file),
                    "clients": clients,
                    "id_token_ttl": id_token_ttl,
                }
            ),
            "utf-8",
        )
        self.log = (workdir / "oidc-provider.log").open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), str(config)],
            cwd=SUPPORT_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "NODE_ENV": "test", "OIDC_PROVIDER_WATCH_STDIN": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("ready "):
            self.stop()
            raise ProviderUnavailableForTests(f"the test provider did not start: {line.strip()!r}")

    def _write_users(self) -> None:
        self.users_file.write_text(json.dumps([asdict(u) for u in self.users.values()]), "utf-8")

    def disable(self, username: str, disabled: bool = True) -> None:
        """Disable (or enable again) a user at the provider, as a leaver process would."""
        self.users[username].disabled = disabled
        self._write_users()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def client_registration(client_id: str, secret: str, base_urls: list[str]) -> dict[str, Any]:
    """Return the provider's registration of a console at each of ``base_urls``."""
    return {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": [f"{base}/console/sso/callback" for base in base_urls],
        "post_logout_redirect_uris": [f"{base}/console/login?bye=1" for base in base_urls],
    }


def authorize(
    url: str, user: TestUser | None, *, redirect_uri: str, browser: httpx.Client | None = None
) -> Authorization | httpx.Response:
    """Follow the provider from ``url``: sign ``user`` in when it asks, stop at ``redirect_uri``.

    Returns the code the provider sent back, or the provider's page when it
    stopped on one (a refused login, or a login form when ``user`` is None).
    ``browser`` keeps the provider's cookies between calls (its own session).
    """
    client = browser or httpx.Client(timeout=10)
    try:
        response = client.get(url)
        for _ in range(10):
            if response.status_code in (302, 303):
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(redirect_uri):
                    query = parse_qs(urlsplit(location).query)
                    parts = urlsplit(location)
                    if "code" not in query:
                        return response
                    return Authorization(
                        code=query["code"][0],
                        state=query.get("state", [""])[0],
                        iss=query.get("iss", [None])[0],
                        callback=f"{parts.path}?{parts.query}",
                    )
                response = client.get(location)
                continue
            if response.status_code == 200 and INTERACTION_FORM in response.text and user is not None:
                action = response.text.split(INTERACTION_FORM, 1)[1].split('"', 1)[0]
                response = client.post(
                    urljoin(str(response.url), "/interaction/" + action),
                    data={"username": user.username, "password": user.password},
                )
                if response.status_code == 200:
                    return response  # the provider refused the login
                continue
            return response
        raise AssertionError("the provider redirected too often")
    finally:
        if browser is None:
            client.close()


def wait_until_down(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)
