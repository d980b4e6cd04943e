"""Keys bound to one purpose, over real TLS sockets on 127.0.0.1.

Partner listener: a client certificate needs extended key usage clientAuth and
no record-signing purpose. OpenSSL's own purpose check (the handshake) refuses a
certificate whose EKU lacks clientAuth; a certificate with NO EKU passes it,
and the application refuses it with 403 peer-certificate-refused. Delivery
client: the partner's server certificate needs serverAuth; OpenSSL refuses an
EKU without it, ``check_partner_server`` a certificate without any EKU.
Certificates are minted from the parties' real CAs with ``cryptography``.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ObjectIdentifier

from gateway.exchange.outgoing import submit_draft
from gateway.exchange.receipts import verify_receipt
from gateway.transport.tls import client_context
from gateway.trust.keys import load_certificates, load_private_key, write_private_key
from gateway.trust.pki import PartyFiles
from tests.support.databases import DatabaseFactory
from tests.support.exchange import (
    BATCH_PATH,
    RECORDS_PATH,
    ClientCertificate,
    FakePartner,
    deliveries_of,
    example_draft,
    mtls_context,
    partner_client,
    post_jws,
    record_rows,
    sha256_hex,
    signed_record,
    start_node,
    stop_node,
)
from tests.support.nodes import Cluster, RunningNode, wait_for
from tests.support.pki import TestPKI
from tests.trust.minting import (
    CLIENT_AUTH,
    DOCUMENT_SIGNING,
    SERVER_AUTH,
    Authority,
    name,
    pem,
)

PROBLEMS = "https://mou-gateway.example/problems/"
REFUSED = PROBLEMS + "peer-certificate-refused"
OPENSSL_PURPOSE = "certificate verify failed: unsuitable certificate purpose"


@pytest.fixture
def co(shared_receivers: Cluster) -> RunningNode:
    """CO's node, shared by this module (one per backend)."""
    return shared_receivers["CO"]


def authority(pki: TestPKI, party: str) -> Authority:
    files = pki.parties[party]
    key = load_private_key(files.ca_key)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return Authority(load_certificates(files.ca_cert)[0], key)


def signing_profile_usage() -> x509.KeyUsage:
    """keyUsage of a record-signing certificate (digitalSignature + contentCommitment)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def minted_identity(
    pki: TestPKI, party: str, purposes: tuple[ObjectIdentifier, ...] | None, out: Path, label: str
) -> ClientCertificate:
    """A certificate of ``party``'s real CA with exactly ``purposes`` (None: no EKU), written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = authority(pki, party).issue(
        name(party, f"{party} {label}"), key.public_key(), purposes=purposes, localhost=True
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "tls.pem").write_bytes(pem(cert))
    write_private_key(out / "tls.key", key)
    return ClientCertificate(out / "tls.pem", out / "tls.key")


def pa_flag(pki: TestPKI) -> str:
    draft = example_draft("criminal_network_flag", recipients=["CO"])
    draft["body"]["subject"].pop("travel_document", None)
    return signed_record(pki, "PA", draft).jws


def tls12_handshake(pki: TestPKI, port: int, identity: ClientCertificate, workdir: Path) -> str:
    """A TLS 1.2 handshake with CO's listener (the server judges the client certificate inside it)."""
    context = mtls_context(pki, identity, "CO", workdir)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        return str(tls.version())


# -- partner listener: the client certificate's purpose ------------------------------------------


def test_record_signing_certificate_is_refused_in_the_handshake(pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    """PA's real record-signing certificate (EKU id-kp-documentSigning only) as TLS client.

    Refused by OpenSSL in the handshake (no clientAuth in its EKU), so no HTTP
    answer at all, in particular not a 403: the application is never reached.
    """
    files = pki.parties["PA"]
    signing = ClientCertificate(files.signing_cert, files.signing_key)
    purposes = load_certificates(files.signing_cert)[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(purposes.value) == [DOCUMENT_SIGNING]
    before = record_rows(co.node)

    with pytest.raises(ssl.SSLError):
        tls12_handshake(pki, co.server.partner_port, signing, tmp_path)
    with (
        pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)),
        partner_client(pki, co.partner_url, signing, "CO", tmp_path) as client,
    ):
        post_jws(client, pa_flag(pki))
    assert record_rows(co.node) == before

    # Control: the same kind of certificate with clientAuth instead gets through the same listener.
    client_only = minted_identity(pki, "PA", (CLIENT_AUTH,), tmp_path / "client-only", "client")
    assert tls12_handshake(pki, co.server.partner_port, client_only, tmp_path) == "TLSv1.2"


def test_server_auth_only_certificate_is_refused_in_the_handshake(
    pki: TestPKI, co: RunningNode, tmp_path: Path
) -> None:
    server_only = minted_identity(pki, "PA", (SERVER_AUTH,), tmp_path / "server-only", "server")
    with pytest.raises(ssl.SSLError):
        tls12_handshake(pki, co.server.partner_port, server_only, tmp_path)


@pytest.mark.parametrize("path", [RECORDS_PATH, BATCH_PATH])
def test_signing_certificate_without_eku_passes_openssl_and_gets_403(
    path: str, pki: TestPKI, co: RunningNode, tmp_path: Path
) -> None:
    """A legacy-style signing certificate (no EKU at all): OpenSSL admits it, the application refuses it."""
    key = ec.generate_private_key(ec.SECP256R1())
    legacy = authority(pki, "PA").issue(
        name("PA", "PA legacy record signing"), key.public_key(), key_usage=signing_profile_usage(), purposes=None
    )
    out = tmp_path / "legacy"
    out.mkdir()
    (out / "signing.pem").write_bytes(pem(legacy))
    write_private_key(out / "signing.key", key)
    identity = ClientCertificate(out / "signing.pem", out / "signing.key")
    before = record_rows(co.node)

    assert tls12_handshake(pki, co.server.partner_port, identity, tmp_path) == "TLSv1.2"
    with partner_client(pki, co.partner_url, identity, "CO", tmp_path) as client:
        if path == RECORDS_PATH:
            response = post_jws(client, pa_flag(pki))
        else:
            response = client.post(path, json={"records": [pa_flag(pki)]})
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == REFUSED
    assert problem["status"] == 403
    assert problem["detail"] == (
        "the client certificate is refused: CN=PA legacy record signing,C=PA "
        "lacks the extended key usage 1.3.6.1.5.5.7.3.2 required for tls-client"
    )
    assert record_rows(co.node) == before


def test_certificate_for_tls_and_record_signing_at_once_gets_403(pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    """clientAuth + documentSigning: OpenSSL sees clientAuth; the node refuses a key with two purposes."""
    both = minted_identity(pki, "PA", (CLIENT_AUTH, DOCUMENT_SIGNING), tmp_path / "both", "dual purpose")
    before = record_rows(co.node)
    with partner_client(pki, co.partner_url, both, "CO", tmp_path) as client:
        response = post_jws(client, pa_flag(pki))
    assert response.status_code == 403, response.text
    assert response.json()["type"] == REFUSED
    assert response.json()["detail"] == (
        "the client certificate is refused: CN=PA dual purpose,C=PA is a record-signing certificate; "
        "it may not authenticate TLS"
    )
    assert record_rows(co.node) == before


def test_client_auth_only_certificate_works_as_client(pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    client_only = minted_identity(pki, "PA", (CLIENT_AUTH,), tmp_path / "client-only", "client")
    jws = pa_flag(pki)
    with partner_client(pki, co.partner_url, client_only, "CO", tmp_path) as client:
        response = post_jws(client, jws)
    assert response.status_code == 201, response.text
    receipt = verify_receipt(
        response.text, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(jws)
    ).payload
    assert (receipt.verdict.value, receipt.reason_code, receipt.sender) == ("accepted", None, "PA")


# -- delivery client: the partner server's certificate -------------------------------------------

# Server certificate EKU → what refuses it: OpenSSL's purpose check, or check_partner_server.
SERVER_CASES: dict[str, tuple[tuple[ObjectIdentifier, ...] | None, str]] = {
    "client-auth-only": ((CLIENT_AUTH,), OPENSSL_PURPOSE),
    "document-signing-only": ((DOCUMENT_SIGNING,), OPENSSL_PURPOSE),
    "no-eku": (
        None,
        "CO's server certificate is refused: CN=CO server,C=CO "
        "lacks the extended key usage 1.3.6.1.5.5.7.3.1 required for tls-server",
    ),
    "server-auth-and-document-signing": (
        (SERVER_AUTH, DOCUMENT_SIGNING),
        "CO's server certificate is refused: CN=CO server,C=CO is a record-signing certificate; "
        "it may not authenticate TLS",
    ),
}


def answer_ok(_body: bytes) -> tuple[int, str, bytes]:
    return 200, "text/plain", b"ok"


@pytest.fixture
def co_server(request: pytest.FixtureRequest, pki: TestPKI, tmp_path: Path) -> Iterator[FakePartner]:
    """A TLS listener on 127.0.0.1 presenting a CO-CA server certificate with the EKU of ``request.param``."""
    purposes = SERVER_CASES[request.param][0] if request.param in SERVER_CASES else (SERVER_AUTH,)
    out = tmp_path / "co-server"
    minted_identity(pki, "CO", purposes, out, "server")
    with FakePartner(PartyFiles(out), answer_ok) as server:
        yield server


@pytest.mark.parametrize("co_server", sorted(SERVER_CASES), indirect=True)
def test_delivery_client_refuses_a_server_certificate_without_server_auth(
    co_server: FakePartner, pki: TestPKI, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    message = SERVER_CASES[request.node.callspec.params["co_server"]][1]
    files = pki.parties["PA"]
    context = client_context(files.tls_cert, files.tls_key, pki.bundle(), tmp_path / "tls", "CO")
    port = int(co_server.url.rsplit(":", 1)[1])

    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        pytest.raises(ssl.SSLCertVerificationError) as refused,
    ):
        context.wrap_socket(sock, server_hostname="127.0.0.1")
    assert message in str(refused.value)

    with (
        httpx.Client(verify=context, timeout=10) as client,
        pytest.raises(httpx.ConnectError) as failed,
    ):
        client.post(f"{co_server.url}{RECORDS_PATH}", content=b"never sent")
    assert message in str(failed.value)
    assert co_server.bodies == []  # refused before a byte of the request went out


@pytest.mark.parametrize("co_server", ["server-auth-only"], indirect=True)
def test_control_delivery_client_accepts_a_server_auth_certificate(
    co_server: FakePartner, pki: TestPKI, tmp_path: Path
) -> None:
    files = pki.parties["PA"]
    context = client_context(files.tls_cert, files.tls_key, pki.bundle(), tmp_path / "tls", "CO")
    with httpx.Client(verify=context, timeout=10) as client:
        response = client.post(f"{co_server.url}{RECORDS_PATH}", content=b"sent")
    assert (response.status_code, co_server.bodies) == (200, [b"sent"])


@pytest.mark.parametrize("co_server", ["no-eku", "client-auth-only"], indirect=True)
def test_record_delivery_to_a_server_without_server_auth_stays_undelivered(
    co_server: FakePartner,
    pki: TestPKI,
    database_factory: DatabaseFactory,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    message = SERVER_CASES[request.node.callspec.params["co_server"]][1]
    pa = start_node(
        pki, "PA", database_factory.fresh_url(), tmp_path / "nodes", partners={"CO": co_server.url}, run_worker=True
    )
    try:
        draft = example_draft("criminal_network_flag", recipients=["CO"])
        draft.pop("terms")
        draft["body"]["subject"].pop("travel_document", None)
        with pa.node.transaction() as session:
            record_id = submit_draft(session, pa.node, draft, actor="test").record.record_id
        assert record_id is not None
        pa.node.wake_delivery()

        def attempts() -> int:
            return deliveries_of(pa.node, record_id)[0].attempts

        wait_for(lambda: attempts() >= 2, timeout=20)
        delivery = deliveries_of(pa.node, record_id)[0]
        assert delivery.recipient == "CO"
        assert delivery.status == "pending"  # retried, never "delivered"
        assert delivery.last_error is not None
        assert delivery.last_error.startswith("ConnectError: ")
        assert message[:120] in delivery.last_error
        assert (delivery.receipt_jws, delivery.delivered_at) == (None, None)
        assert co_server.bodies == []
    finally:
        stop_node(pa)
