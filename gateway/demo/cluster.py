"""Building and running the demo's nodes on loopback, each with its own PKI, trust bundle and SQLite."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.clients.service import create_client
from gateway.console.schemas import Role
from gateway.console.seeds import SeedCipher, new_key
from gateway.console.service import create_officer
from gateway.demo.synthetic import agency_of
from gateway.migrate import upgrade
from gateway.node import Node, build_node
from gateway.server import NodeServer, bind
from gateway.settings import Settings
from gateway.trust.bundle import TrustBundle
from gateway.trust.pki import PartyFiles, init_party


@dataclass
class DemoNode:
    party: str
    files: PartyFiles
    node: Node
    server: NodeServer
    client_id: str = ""
    client_secret: str = ""
    token: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def agency_url(self) -> str:
        return f"http://127.0.0.1:{self.server.agency_port}"

    @property
    def partner_url(self) -> str:
        return f"https://127.0.0.1:{self.server.partner_port}"

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.agency_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)


def make_pki(workdir: Path, parties: Iterable[str]) -> tuple[dict[str, PartyFiles], Path]:
    """Create the parties' PKIs and their merged trust bundle under ``workdir``.

    Each node gets its own copy of the bundle (``node_bundle``): a party that
    joins later enters each copy through a signed admission, as it would at
    nodes run by different governments.
    """
    files = {party: init_party(party, workdir / "pki" / party.lower()) for party in parties}
    bundle = TrustBundle.merge(TrustBundle.load(f.bundle_entry) for f in files.values())
    bundle_path = workdir / "pki" / "trust-bundle.json"
    bundle_path.write_text(bundle.to_json(), "utf-8")
    for party in files:
        install_bundle(workdir, party, bundle)
    return files, bundle_path


def node_bundle(workdir: Path, party: str) -> Path:
    """Return the path of ``party``'s node's own trust bundle."""
    return workdir / party.lower() / "trust-bundle.json"


def install_bundle(workdir: Path, party: str, bundle: TrustBundle) -> Path:
    path = node_bundle(workdir, party)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(bundle.to_json(), "utf-8")
    return path


def _demo_key(data_dir: Path, name: str = "totp-encryption.key") -> Path:
    """Return a demo node's key file (base64 of 32 random bytes), made once (0600) so a kept demo restarts.

    The TOTP seeds' key, and the key-encryption key of record bodies (``kek.key``).
    """
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as key_file:
            key_file.write(new_key() + "\n")
    return path


def start_nodes(
    workdir: Path,
    files: dict[str, PartyFiles],
    terms_files: list[Path],
    previous: dict[str, DemoNode] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> dict[str, DemoNode]:
    """Start a node per party of ``files`` (both listeners + embedded worker); return them by party.

    A party in ``previous`` restarts on its database with its API client and
    officer; any other gets a new API client and demo officer.
    """
    sockets = {party: bind("127.0.0.1", 0) for party in files}
    urls = {party: f"https://127.0.0.1:{s.getsockname()[1]}" for party, s in sockets.items()}
    nodes: dict[str, DemoNode] = {}
    for party in files:
        pf = files[party]
        settings = Settings(
            party=party,
            data_dir=workdir / party.lower(),
            totp_encryption_key_file=_demo_key(workdir / party.lower()),
            kek_file=_demo_key(workdir / party.lower(), "kek.key"),
            partner_port=0,
            agency_port=0,
            tls_cert=pf.tls_cert,
            tls_key=pf.tls_key,
            signing_cert=pf.signing_cert,
            signing_key=pf.signing_key,
            trust_bundle=node_bundle(workdir, party),
            terms_files=terms_files,
            partners={p: u for p, u in urls.items() if p != party},
            delivery_poll_seconds=0.2,
            delivery_backoff_base_seconds=0.2,
            delivery_backoff_max_seconds=5.0,
        )
        if overrides and party in overrides:  # e.g. a signing key in a PKCS#11 token (demo --pkcs11)
            settings = Settings(**{**settings.model_dump(), **overrides[party]})
        node = build_node(settings)
        upgrade(node.engine)
        server = NodeServer(node, partner_socket=sockets[party], agency_socket=bind("127.0.0.1", 0))
        demo = DemoNode(party, pf, node, server.start_in_thread())
        earlier = (previous or {}).get(party)
        if earlier is not None:
            demo.client_id, demo.client_secret, demo.extras = earlier.client_id, earlier.client_secret, earlier.extras
        else:
            _provision(demo, settings)
        demo.token = _token(demo)
        nodes[party] = demo
    return nodes


def _provision(demo: DemoNode, settings: Settings) -> None:
    """Give a new demo node an API client of its agency and an officer (nodes.json carries both)."""
    party, node = demo.party, demo.node
    with node.transaction() as session:
        demo.client_id, demo.client_secret = create_client(
            session,
            f"{party} demo case-management system",
            ["records:write", "records:read"],
            node.now(),
            actor="demo",
            agency=agency_of(party),  # corrections and retractions need the issuing agency's client
        )
        # A demo officer for the console; nodes.json carries the login and TOTP seed.
        officer = create_officer(
            session,
            f"{party.lower()}-officer",
            Role.ADMIN,
            node.now(),
            issuer=f"MOU Gateway {party}",
            actor="demo",
            password_change_required=False,
            cipher=SeedCipher.from_settings(settings),
        )
        demo.extras["officer"] = {
            "username": officer.username,
            "password": officer.password,
            "totp_secret": officer.totp_secret,
        }


def _token(demo: DemoNode) -> str:
    response = httpx.post(
        f"{demo.agency_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(demo.client_id, demo.client_secret),
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def stop_nodes(nodes: dict[str, DemoNode]) -> None:
    for demo in nodes.values():
        demo.server.stop_thread()
        demo.node.close()


def write_nodes_json(workdir: Path, nodes: dict[str, DemoNode]) -> Path:
    """Write ``nodes.json`` so a person can use the running nodes with curl or a browser.

    It holds demo credentials on purpose (a throw-away loopback demo); it is
    written 0600 in the demo's own work directory.
    """
    document = {
        party: {
            "party": party,
            "partner_url": demo.partner_url,
            "agency_url": demo.agency_url,
            "ca_cert": str(demo.files.ca_cert),
            "tls_cert": str(demo.files.tls_cert),
            "tls_key": str(demo.files.tls_key),
            "trust_bundle": str(node_bundle(workdir, party)),
            "api_client": {"client_id": demo.client_id, "client_secret": demo.client_secret},
            **demo.extras,
        }
        for party, demo in nodes.items()
    }
    path = workdir / "nodes.json"
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), "utf-8")
    return path
