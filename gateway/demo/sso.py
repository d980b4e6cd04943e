"""``gateway demo --serve --sso``: the test OpenID Connect provider, and every demo node configured for it.

The provider is the one the test suite runs (``tests/support/oidc/provider.mjs``,
panva's oidc-provider on node, 127.0.0.1 only), so it needs a checkout with
its node_modules (``make oidc-provider``). Each party gets a reviewer and an
admin group and two users; a third user's group maps to no role, to show the
refusal page. Passwords are made at run time and written to nodes.json.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway.errors import ConfigurationError

PROVIDER_DIR: Final = Path(__file__).resolve().parents[2] / "tests" / "support" / "oidc"
CLIENT_ID: Final = "mou-gateway-demo"


@dataclass
class DemoProvider:
    """The provider's address, its users, and (once started) its process."""

    workdir: Path
    port: int
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    users: list[dict[str, Any]] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def node_settings(self, party: str) -> dict[str, Any]:
        """Return the OIDC settings of ``party``'s demo node."""
        secret_file = self.workdir / "oidc-client-secret"
        secret_file.touch(mode=0o600, exist_ok=True)
        secret_file.write_text(self.secret, "utf-8")
        prefix = party.lower()
        return {
            "oidc_issuer": self.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret_file": secret_file,
            "oidc_scopes": ["openid", "email", "profile", "groups"],
            "oidc_group_roles": {f"{prefix}-liaison-reviewers": "reviewer", f"{prefix}-liaison-admins": "admin"},
            "oidc_display_name": "the demo identity provider",
        }

    def add_users(self, party: str) -> None:
        prefix = party.lower()
        for name, groups in (
            (f"{prefix}-reviewer", [f"{prefix}-liaison-reviewers"]),
            (f"{prefix}-admin", [f"{prefix}-liaison-admins"]),
            (f"{prefix}-cafeteria", [f"{prefix}-cafeteria"]),  # no console role: refused
        ):
            self.users.append(
                {
                    "id": f"demo-{name}",
                    "username": name,
                    "password": secrets.token_urlsafe(12),
                    "email": f"{name}@demo.invalid",
                    "email_verified": True,
                    "name": name,
                    "groups": groups,
                    "amr": ["pwd", "otp"],
                }
            )

    def start(self, agency_urls: list[str]) -> None:
        """Start the provider for consoles at ``agency_urls``; raises ConfigurationError when it cannot run."""
        node = shutil.which("node")
        if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            raise ConfigurationError(
                "--sso needs node and the test provider's node_modules",
                hint="run `make oidc-provider` in the checkout (npm ci in tests/support/oidc)",
            )
        users_file = self.workdir / "oidc-users.json"
        users_file.write_text(json.dumps(self.users), "utf-8")
        users_file.chmod(0o600)
        config = self.workdir / "oidc-provider.json"
        config.write_text(
            json.dumps(
                {
                    "issuer": self.issuer,
                    "port": self.port,
                    "users_file": str(users_file),
                    "id_token_ttl": 3600,
                    "clients": [
                        {
                            "client_id": CLIENT_ID,
                            "client_secret": self.secret,
                            "redirect_uris": [f"{u}/console/sso/callback" for u in agency_urls],
                            "post_logout_redirect_uris": [f"{u}/console/login?bye=1" for u in agency_urls],
                        }
                    ],
                }
            ),
            "utf-8",
        )
        config.chmod(0o600)
        log = (self.workdir / "oidc-provider.log").open("w", encoding="utf-8")
        self.process = subprocess.Popen(  # our own script, fixed arguments
            [node, str(PROVIDER_DIR / "provider.mjs"), str(config)],
            cwd=PROVIDER_DIR,
            stdin=subprocess.PIPE,
            env={**os.environ, "OIDC_PROVIDER_WATCH_STDIN": "1"},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert self.process.stdout is not None
        if not self.process.stdout.readline().startswith("ready "):
            self.stop()
            raise ConfigurationError(f"the demo identity provider did not start; see {self.workdir}/oidc-provider.log")

    def nodes_json_entry(self) -> dict[str, Any]:
        """What nodes.json says about SSO (demo credentials on purpose, like the officers')."""
        return {
            "provider_url": self.issuer,
            "users": [{"name": u["username"], "password": u["password"], "groups": u["groups"]} for u in self.users],
        }

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def reserve_provider(workdir: Path, parties: list[str]) -> DemoProvider:
    """Pick the provider's port (the nodes need its URL before it can know theirs) and its users."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    provider = DemoProvider(workdir, port)
    for party in parties:
        provider.add_users(party)
    return provider
