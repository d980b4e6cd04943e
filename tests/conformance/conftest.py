"""Conformance fixtures: a CO node on 127.0.0.1 (real mTLS) and the kit set up as PA against it."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp

from gateway.conformance.target import Identity, Target
from gateway.node import build_node
from gateway.server import NodeServer, bind
from gateway.trust.keys import load_private_key
from tests.conformance.control import ControlServer
from tests.support.databases import BACKEND_PARAMS, DatabaseFactory, factory_for
from tests.support.nodes import RunningNode, node_settings
from tests.support.pki import TestPKI

Wrap = Callable[[ASGIApp], ASGIApp]

# Checkpoints every half second, so the ledger cases need not wait a minute.
FAST_LEDGER: dict[str, Any] = {
    "checkpoint_every_seconds": 0.5,
    "witness_interval_seconds": 3600.0,
    "terms_check_seconds": 0,
}


class WrappedNodeServer(NodeServer):
    """A node whose partner app is wrapped by ``wrap``: a deliberately broken variant, for tests only."""

    wrap: Wrap | None = None
    optional_client_certificate = False  # the handshake admits connections without a certificate

    def _partner_ssl(self, config: Any, default: Any) -> ssl.SSLContext:
        context = super()._partner_ssl(config, default)
        if self.optional_client_certificate:
            context.verify_mode = ssl.CERT_OPTIONAL
        return context

    def _configs(self) -> Any:
        partner, agency = super()._configs()
        if self.wrap is not None:
            partner.app = self.wrap(partner.app)
        return partner, agency


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_target(
    pki: TestPKI,
    database_url: str,
    workdir: Path,
    wrap: Wrap | None = None,
    *,
    kit_port: int = 9,
    optional_client_certificate: bool = False,
) -> RunningNode:
    """Start CO (delivering to the kit's listener at ``kit_port`` as PA), its partner app wrapped by ``wrap``."""
    partners = {"PA": f"https://127.0.0.1:{kit_port}", "US": "https://127.0.0.1:9"}
    settings = node_settings(pki, "CO", database_url, workdir / "co", partners, **FAST_LEDGER)
    node = build_node(settings)
    try:
        server = WrappedNodeServer(
            node, run_worker=kit_port != 9, partner_socket=bind("127.0.0.1", 0), agency_socket=bind("127.0.0.1", 0)
        )
        server.wrap = wrap
        server.optional_client_certificate = optional_client_certificate
        return RunningNode(node, server.start_in_thread())
    except BaseException:
        node.close()
        raise


def kit_for(
    pki: TestPKI,
    running: RunningNode,
    workdir: Path,
    *,
    other: bool = True,
    control: str | None = None,
    kit_port: int | None = None,
) -> Target:
    """The kit as PA against ``running`` (US as the third party), prepared."""
    files = pki.parties["PA"]
    us = pki.parties["US"]
    target = Target(
        url=running.partner_url,
        identity=Identity(files.tls_cert, files.tls_key),
        ca=pki.parties["CO"].ca_cert,
        signing_key=pki.signing_key("PA"),
        bundle=pki.bundle(),
        workdir=workdir,
        other=Identity(us.tls_cert, us.tls_key) if other else None,
        checkpoint_wait=20.0,
        control=control,
        listen=("127.0.0.1", kit_port) if kit_port is not None else None,
        ca_key=load_private_key(files.ca_key),
    )
    target.prepare()
    return target


@dataclass
class ControlledNode:
    """Our node with its test control, delivering to the kit's listener port."""

    running: RunningNode
    control: ControlServer
    kit_port: int


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def conformance_database(
    request: pytest.FixtureRequest,
    database_factories: dict[str, DatabaseFactory],
    tmp_path_factory: pytest.TempPathFactory,
) -> DatabaseFactory:
    return factory_for(request.param, database_factories, tmp_path_factory)


@pytest.fixture(scope="module")
def controlled_node(
    pki: TestPKI, conformance_database: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlledNode]:
    kit_port = free_port()
    running = start_target(
        pki, conformance_database.fresh_url(), tmp_path_factory.mktemp("conforming"), kit_port=kit_port
    )
    control = ControlServer(running)
    yield ControlledNode(running, control, kit_port)
    control.stop()
    running.server.stop_thread()
    running.node.close()


@pytest.fixture
def conforming_node(controlled_node: ControlledNode) -> RunningNode:
    return controlled_node.running
