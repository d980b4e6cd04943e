"""The partner listener over real TLS sockets: who may connect, what a connection may do.

A refused peer must never reach the application (nothing stored); an admitted
peer is identified by the CA that issued its certificate, never by what the
record claims.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gateway.exchange.receipts import verify_receipt
from gateway.transport.tls import client_context
from gateway.trust.pki import revoke_in_dir
from tests.support.databases import DatabaseFactory
from tests.support.exchange import (
    JOSE,
    ClientCertificate,
    example_draft,
    expired_certificate,
    foreign_ca_certificate,
    mtls_context,
    partner_client,
    party_certificate,
    post_jws,
    record_rows,
    sha256_hex,
    signed_record,
    start_node,
    stop_node,
)
from tests.support.nodes import Cluster
from tests.support.pki import TestPKI, make_test_pki

PROBLEMS = "https://mou-gateway.example/problems/"


@pytest.fixture
def cluster(shared_receivers: Cluster) -> Cluster:
    """CO and US nodes (no worker), shared by this module (one pair per backend)."""
    return shared_receivers


def flag_from(pki: TestPKI, originator: str, recipients: list[str]) -> str:
    """A criminal_network_flag signed by ``originator``'s record key, addressed to ``recipients``."""
    draft = example_draft("criminal_network_flag", recipients=recipients)
    draft["originator"]["party"] = originator
    # The terms let travel-document details go to CO only; keep the flag sendable anywhere.
    draft["body"]["subject"].pop("travel_document", None)
    return signed_record(pki, originator, draft).jws


def tls12_handshake(pki: TestPKI, port: int, identity: ClientCertificate | None, workdir: Path) -> str:
    """Complete a TLS 1.2 handshake with CO's listener and return the negotiated version.

    In TLS 1.2 the server checks the client certificate inside the handshake,
    so a refusal shows up here, before any HTTP byte is sent.
    """
    context = mtls_context(pki, identity, "CO", workdir)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        return str(tls.version())


def attempt_post(pki: TestPKI, url: str, identity: ClientCertificate | None, workdir: Path) -> Exception:
    """POST a valid PA record with ``identity``; return the transport error it must end in."""
    jws = flag_from(pki, "PA", ["CO"])
    with (
        pytest.raises(httpx.TransportError) as failure,
        partner_client(pki, url, identity, "CO", workdir) as client,
    ):
        post_jws(client, jws)
    return failure.value


# -- handshake ---------------------------------------------------------------

IDENTITIES: dict[str, Callable[[TestPKI, Path], ClientCertificate | None]] = {
    "no-certificate": lambda _pki, _out: None,
    "unknown-ca": lambda _pki, out: foreign_ca_certificate("PA", out),
    "expired": lambda pki, out: expired_certificate(pki, "PA", out),
    "listener-own-party": lambda pki, _out: party_certificate(pki, "CO"),
}


@pytest.mark.parametrize("identity_kind", sorted(IDENTITIES))
def test_handshake_refuses_client_without_a_valid_partner_certificate(
    identity_kind: str, pki: TestPKI, cluster: Cluster, tmp_path: Path
) -> None:
    co = cluster["CO"]
    identity = IDENTITIES[identity_kind](pki, tmp_path / "certs")

    before = record_rows(co.node)

    error = attempt_post(pki, co.partner_url, identity, tmp_path)
    with pytest.raises(ssl.SSLError):
        tls12_handshake(pki, co.server.partner_port, identity, tmp_path)

    assert isinstance(error, httpx.ConnectError | httpx.ReadError | httpx.RemoteProtocolError | httpx.WriteError)
    assert record_rows(co.node) == before
    # The same listener admits a valid partner certificate (the refusal is not a broken listener).
    assert tls12_handshake(pki, co.server.partner_port, party_certificate(pki, "PA"), tmp_path) == "TLSv1.2"
    with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
        assert post_jws(client, flag_from(pki, "PA", ["CO"])).status_code == 201
    assert record_rows(co.node) == before + 1


def test_handshake_refuses_revoked_certificate(database_factory: DatabaseFactory, tmp_path: Path) -> None:
    own = make_test_pki(tmp_path / "pki")
    revoke_in_dir(own.parties["PA"].root, own.parties["PA"].tls_cert)
    own.rebuild_bundle()
    co = start_node(own, "CO", database_factory.fresh_url(), tmp_path / "nodes")
    try:
        attempt_post(own, co.partner_url, party_certificate(own, "PA"), tmp_path)
        with pytest.raises(ssl.SSLError):
            tls12_handshake(own, co.server.partner_port, party_certificate(own, "PA"), tmp_path)
        assert record_rows(co.node) == 0
        # US, not revoked, gets through the same listener.
        with partner_client(own, co.partner_url, party_certificate(own, "US"), "CO", tmp_path) as client:
            response = post_jws(client, flag_from(own, "US", ["CO"]))
        assert response.status_code == 201, response.text
        assert record_rows(co.node) == 1
    finally:
        stop_node(co)


def test_client_refuses_server_of_another_party(pki: TestPKI, cluster: Cluster, tmp_path: Path) -> None:
    co = cluster["CO"]
    before = record_rows(co.node)
    pa = party_certificate(pki, "PA")
    expecting_us = client_context(pa.cert, pa.key, pki.bundle(), tmp_path / "tls", "US")
    with (
        httpx.Client(base_url=co.partner_url, verify=expecting_us, timeout=10) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        post_jws(client, flag_from(pki, "PA", ["CO", "US"]))
    assert record_rows(co.node) == before
    # Expecting CO, the very same client certificate reaches CO.
    expecting_co = client_context(pa.cert, pa.key, pki.bundle(), tmp_path / "tls", "CO")
    with httpx.Client(base_url=co.partner_url, verify=expecting_co, timeout=10) as client:
        assert post_jws(client, flag_from(pki, "PA", ["CO", "US"])).status_code == 201


# -- receipts ----------------------------------------------------------------


def test_accepted_record_gets_signed_receipt(pki: TestPKI, cluster: Cluster, tmp_path: Path) -> None:
    co = cluster["CO"]
    jws = flag_from(pki, "PA", ["CO"])
    with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
        response = post_jws(client, jws)

    assert response.status_code == 201
    assert response.headers["content-type"] == JOSE
    receipt = verify_receipt(
        response.text, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(jws)
    ).payload
    assert (receipt.verdict.value, receipt.reason_code, receipt.sender) == ("accepted", None, "PA")
    assert response.headers["x-receipt-verdict"] == "accepted"


def test_peer_must_be_the_originator(pki: TestPKI, cluster: Cluster, tmp_path: Path) -> None:
    """CO relays a record PA signed (addressed to CO and US) to US: US signs a rejection."""
    us = cluster["US"]
    jws = flag_from(pki, "PA", ["CO", "US"])
    before = record_rows(us.node)
    with partner_client(pki, us.partner_url, party_certificate(pki, "CO"), "US", tmp_path) as client:
        response = post_jws(client, jws)

    assert response.status_code == 201
    receipt = verify_receipt(
        response.text, pki.bundle(), datetime.now(UTC), receiver="US", jws_sha256=sha256_hex(jws)
    ).payload
    assert (receipt.verdict.value, receipt.reason_code, receipt.sender) == ("rejected", "peer_mismatch", "CO")
    assert record_rows(us.node) == before + 1  # kept for audit, as invalid


def test_relayed_copy_does_not_block_the_originators_delivery(pki: TestPKI, cluster: Cluster, tmp_path: Path) -> None:
    us = cluster["US"]
    jws = flag_from(pki, "PA", ["CO", "US"])
    with partner_client(pki, us.partner_url, party_certificate(pki, "CO"), "US", tmp_path) as relay:
        assert post_jws(relay, jws).headers["x-receipt-verdict"] == "rejected"
    with partner_client(pki, us.partner_url, party_certificate(pki, "PA"), "US", tmp_path) as origin:
        response = post_jws(origin, jws)
    receipt = verify_receipt(
        response.text, pki.bundle(), datetime.now(UTC), receiver="US", jws_sha256=sha256_hex(jws)
    ).payload
    assert (response.status_code, receipt.verdict.value, receipt.sender) == (201, "accepted", "PA"), receipt.reason


def test_record_not_addressed_to_receiver_is_rejected(pki: TestPKI, cluster: Cluster, tmp_path: Path) -> None:
    co = cluster["CO"]
    jws = flag_from(pki, "PA", ["US"])
    with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
        response = post_jws(client, jws)

    assert response.status_code == 201
    receipt = verify_receipt(
        response.text, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(jws)
    ).payload
    assert (receipt.verdict.value, receipt.reason_code) == ("rejected", "not_addressed")


def test_replay_answers_200_with_the_same_receipt(pki: TestPKI, cluster: Cluster, tmp_path: Path) -> None:
    co = cluster["CO"]
    jws = flag_from(pki, "PA", ["CO"])
    before = record_rows(co.node)
    with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
        first = post_jws(client, jws)
        second = post_jws(client, jws)

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.content == first.content
    assert record_rows(co.node) == before + 1


@pytest.mark.parametrize("change", ["re-signed", "body-changed"])
def test_same_record_id_with_other_bytes_is_a_conflict(
    change: str, pki: TestPKI, cluster: Cluster, tmp_path: Path
) -> None:
    co = cluster["CO"]
    first = signed_record(pki, "PA", example_draft("criminal_network_flag", recipients=["CO"]))
    document = first.record.model_dump(mode="json")
    if change == "body-changed":
        document["body"]["summary_of_facts"] += " Corrected."
    second = signed_record(pki, "PA", document)  # ECDSA signatures differ on every signing
    assert str(second.record.record_id) == str(first.record.record_id)
    assert second.jws != first.jws
    before = record_rows(co.node)

    with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
        accepted = post_jws(client, first.jws)
        conflict = post_jws(client, second.jws)

    assert accepted.headers["x-receipt-verdict"] == "accepted"
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"
    problem = conflict.json()
    assert problem["type"] == PROBLEMS + "record-id-conflict"
    assert problem["status"] == 409
    assert record_rows(co.node) == before + 1


# -- listeners are never mixed ------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/exchange/records", "/v1/exchange/records:batch"])
def test_partner_routes_are_absent_from_the_agency_listener(path: str, pki: TestPKI, cluster: Cluster) -> None:
    co = cluster["CO"]
    before = record_rows(co.node)
    response = httpx.post(
        f"{co.agency_url}{path}", content=flag_from(pki, "PA", ["CO"]), headers={"Content-Type": JOSE}
    )
    assert response.status_code == 404
    assert response.json()["type"] == PROBLEMS + "not-found"
    assert record_rows(co.node) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/records"), ("GET", "/v1/records"), ("POST", "/oauth/token"), ("GET", "/healthz")],
)
def test_agency_routes_are_absent_from_the_partner_listener(
    method: str, path: str, pki: TestPKI, cluster: Cluster, tmp_path: Path
) -> None:
    co = cluster["CO"]
    # The agency listener does serve it...
    assert httpx.request(method, f"{co.agency_url}{path}").status_code != 404
    # ...the partner listener, to an authenticated partner, does not.
    with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
        response = client.request(method, path, data={"grant_type": "client_credentials"})
    assert response.status_code == 404
    assert response.json()["type"] == PROBLEMS + "not-found"


# -- shutdown ---------------------------------------------------------------------


def test_node_stops_promptly_while_a_partner_holds_an_idle_connection(pki: TestPKI, tmp_path: Path) -> None:
    """A TLS/server property, so SQLite only: an idle keep-alive partner must not delay shutdown.

    asyncio waits up to 30 s for a TLS close_notify that an idle client never sends.
    """
    co = start_node(pki, "CO", DatabaseFactory("sqlite", tmp_path).fresh_url(), tmp_path)
    with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
        assert post_jws(client, flag_from(pki, "PA", ["CO"])).status_code == 201  # connection stays open
        started = time.monotonic()
        stop_node(co)
        elapsed = time.monotonic() - started
    assert elapsed < 5, f"stopping took {elapsed:.1f}s"
