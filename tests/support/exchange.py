"""Exchange test support: single nodes with chosen partners, mTLS clients, signed records.

Everything here talks to real sockets on 127.0.0.1; nothing patches the gateway.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import SecretStr
from sqlalchemy import func, select

from gateway.exchange.models import Delivery
from gateway.node import Node, build_node
from gateway.records.models import StoredRecord
from gateway.records.signing import SignedRecord, build_record, sign_record
from gateway.server import NodeServer, bind
from gateway.settings import Settings, load_settings
from gateway.transport.tls import client_context
from gateway.trust.canonical import canonicalize
from gateway.trust.keys import generate_private_key, write_private_key
from gateway.trust.pki import PartyFiles, issue_certificate, issue_from_dir, make_root_ca
from tests.support.nodes import RunningNode, node_settings
from tests.support.pki import TestPKI

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
JOSE = "application/jose"
RECORDS_PATH = "/v1/exchange/records"
BATCH_PATH = "/v1/exchange/records:batch"


# -- records ---------------------------------------------------------------


def example_draft(record_type: str, **changes: Any) -> dict[str, Any]:
    """Return a fresh copy of the committed example draft, with top-level ``changes``."""
    draft: dict[str, Any] = json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8"))
    draft.update(copy.deepcopy(changes))
    return draft


def signed_record(pki: TestPKI, party: str, draft: dict[str, Any]) -> SignedRecord:
    """Return ``draft`` completed (fresh record_id) and signed with ``party``'s record key."""
    return sign_record(build_record(draft, datetime.now(UTC)), pki.signing_key(party))


def tampered_copy(jws: str) -> str:
    """Return ``jws`` with its payload altered (subject_status) and the old signature kept."""
    header, payload, signature = jws.split(".")
    document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    document["body"]["subject_status"] = "convicted" if document["body"]["subject_status"] != "convicted" else "suspect"
    altered = base64.urlsafe_b64encode(canonicalize(document)).rstrip(b"=").decode("ascii")
    return ".".join([header, altered, signature])


def sha256_hex(data: str | bytes) -> str:
    return hashlib.sha256(data.encode("ascii") if isinstance(data, str) else data).hexdigest()


# -- nodes -----------------------------------------------------------------


def start_node(
    pki: TestPKI,
    party: str,
    database_url: str,
    workdir: Path,
    *,
    partners: dict[str, str] | None = None,
    run_worker: bool = False,
    partner_socket: socket.socket | None = None,
    **extra: Any,
) -> RunningNode:
    """Start one node on 127.0.0.1 with exactly ``partners`` (party → partner URL)."""
    settings = node_settings(pki, party, database_url, workdir / party.lower(), partners or {}, **extra)
    node = build_node(settings)
    try:
        server = NodeServer(
            node,
            run_worker=run_worker,
            partner_socket=partner_socket or bind("127.0.0.1", 0),
            agency_socket=bind("127.0.0.1", 0),
        )
        return RunningNode(node, server.start_in_thread())
    except BaseException:
        node.close()
        raise


def stop_node(running: RunningNode) -> None:
    running.server.stop_thread()
    running.node.close()


def closed_port_url() -> str:
    """Return an https URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}"


def stored_copies(node: Node, record_id: str, direction: str = "in") -> int:
    """Return how many rows of ``record_id`` in ``direction`` the node's records table holds."""
    with node.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(StoredRecord)
                .where(StoredRecord.record_id == record_id, StoredRecord.direction == direction)
            )
            or 0
        )


def record_rows(node: Node) -> int:
    """Return the number of rows in the node's records table."""
    with node.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(StoredRecord)) or 0)


def outgoing_jws(node: Node, record_id: str) -> str:
    """Return the JWS of the outgoing record ``record_id`` as the node stored (and sends) it."""
    with node.transaction() as session:
        return (
            session.scalars(
                select(StoredRecord).where(StoredRecord.record_id == record_id, StoredRecord.direction == "out")
            )
            .one()
            .jws
        )  # opened from its sealed form


def deliveries_of(node: Node, record_id: str) -> list[Delivery]:
    """Return the deliveries of the outgoing record ``record_id``, ordered by recipient."""
    with node.transaction() as session:
        return list(
            session.scalars(
                select(Delivery)
                .join(StoredRecord, StoredRecord.pk == Delivery.record_pk)
                .where(StoredRecord.record_id == record_id, StoredRecord.direction == "out")
                .order_by(Delivery.recipient)
            ).all()
        )


# -- mutual TLS clients ----------------------------------------------------


@dataclass(frozen=True)
class ClientCertificate:
    """A TLS client certificate and key on disk."""

    cert: Path
    key: Path


def party_certificate(pki: TestPKI, party: str) -> ClientCertificate:
    files = pki.parties[party]
    return ClientCertificate(files.tls_cert, files.tls_key)


def expired_certificate(pki: TestPKI, party: str, out: Path) -> ClientCertificate:
    """Issue, from ``party``'s real CA, a TLS certificate that expired yesterday."""
    cert, key = out / f"expired-{party.lower()}.pem", out / f"expired-{party.lower()}.key"
    issue_from_dir(
        pki.parties[party].root,
        "tls",
        cert,
        key,
        not_before=datetime.now(UTC) - timedelta(days=10),
        days=9,
    )
    return ClientCertificate(cert, key)


def foreign_ca_certificate(party: str, out: Path) -> ClientCertificate:
    """Make a fourth CA (claiming to be ``party``, absent from any bundle) and a TLS cert from it."""
    ca_key = generate_private_key("ec-p256")
    ca_cert = make_root_ca(party, ca_key)
    leaf_key = generate_private_key("ec-p256")
    leaf = issue_certificate(party, "tls", leaf_key, ca_cert, ca_key)
    out.mkdir(parents=True, exist_ok=True)
    cert, key = out / "rogue-tls.pem", out / "rogue-tls.key"
    cert.write_bytes(leaf.public_bytes(Encoding.PEM))
    write_private_key(key, leaf_key)
    return ClientCertificate(cert, key)


def server_only_context(pki: TestPKI, server_party: str) -> ssl.SSLContext:
    """A client context that verifies ``server_party``'s listener but presents no certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=str(pki.parties[server_party].ca_cert))
    return context


def mtls_context(pki: TestPKI, identity: ClientCertificate | None, server_party: str, workdir: Path) -> ssl.SSLContext:
    """Client context presenting ``identity`` (None: no certificate), trusting ``server_party``."""
    if identity is None:
        return server_only_context(pki, server_party)
    return client_context(identity.cert, identity.key, pki.bundle(), workdir / "client-tls", server_party)


@contextmanager
def partner_client(
    pki: TestPKI, base_url: str, identity: ClientCertificate | None, server_party: str, workdir: Path
) -> Iterator[httpx.Client]:
    """An httpx client for a partner listener, over mutual TLS with ``identity``."""
    context = mtls_context(pki, identity, server_party, workdir)
    with httpx.Client(base_url=base_url, verify=context, timeout=10) as client:
        yield client


def post_jws(client: httpx.Client, jws: str | bytes) -> httpx.Response:
    content = jws.encode("ascii") if isinstance(jws, str) else jws
    return client.post(RECORDS_PATH, content=content, headers={"Content-Type": JOSE})


# -- agency API ------------------------------------------------------------


def access_token(agency_url: str, client_id: str, secret: str, scope: str | None = None) -> str:
    """Return a bearer token from the node's token endpoint (client credentials)."""
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = httpx.post(f"{agency_url}/oauth/token", data=data, auth=(client_id, secret), timeout=30)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def agency_client(running: RunningNode, scopes: tuple[str, ...] = ("records:write", "records:read")) -> httpx.Client:
    """An httpx client for the node's agency API, authorized with a new client's token."""
    client_id, secret = running.add_client(scopes)
    token = access_token(running.agency_url, client_id, secret)
    return httpx.Client(base_url=running.agency_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


# -- a fake partner listener ------------------------------------------------

Answer = Callable[[bytes], tuple[int, str, bytes]]
"""Given the posted body, return (status, content type, body) to answer with."""


class FakePartner:
    """A TLS listener (a party's real TLS certificate) that answers POSTs with ``answer``.

    It stands for a misbehaving partner node: the TLS layer is genuine, the
    application answers are whatever the test wants.
    """

    def __init__(self, files: PartyFiles, answer: Answer) -> None:
        self.bodies: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.bodies.append(body)
                status, media_type, payload = answer(body)
                self.send_response(status)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(files.tls_cert), str(files.tls_key))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakePartner:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


# -- configuration files -----------------------------------------------------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_settings_toml(path: Path, settings: Settings) -> Path:
    """Write ``settings`` as a ``[gateway]`` TOML file that ``--config`` loads back unchanged."""
    lines = ["[gateway]"]
    tables: list[str] = []
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, dict):
            tables += [f"\n[gateway.{name}]", *(f"{k} = {_toml_value(v)}" for k, v in value.items())]
            continue
        lines.append(f"{name} = {_toml_value(value)}")
    path.write_text("\n".join(lines + tables) + "\n", "utf-8")
    assert load_settings(path) == settings
    return path
