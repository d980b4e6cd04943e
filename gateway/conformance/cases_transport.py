"""Cases of the transport: TLS, client certificates, media types and sizes (TLS-*, HTTP-*)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.conformance.cases_records import record_document
from gateway.conformance.checks import expect_problem, expect_receipt
from gateway.conformance.registry import CaseFailed, CaseSkipped, case, expect
from gateway.conformance.target import JOSE, PROBLEM_BASE, RECORDS_PATH, Identity, Target
from gateway.trust.keys import generate_private_key, write_private_key
from gateway.trust.path import Purpose, validate_path
from gateway.trust.pki import issue_certificate, make_root_ca

_REFUSED = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError, ssl.SSLError)


def refused(target: Target, identity: Identity | None, slugs: tuple[str, ...]) -> str:
    """Post a record with ``identity``; return how it was refused, or fail when it was not."""
    jws = target.sign(record_document(target, "criminal_network_flag"))
    try:
        response = target.post_jws(jws, identity)
    except _REFUSED as exc:
        return f"refused in the handshake ({type(exc).__name__})"
    if response.status_code == 403:
        problem = expect_problem(response, 403, None)
        slug = str(problem["type"]).removeprefix(PROBLEM_BASE)
        expect(slug in slugs, f"403 with problem {slug}, expected one of {', '.join(slugs)}")
        return f"403 {slug}"
    raise CaseFailed(f"the connection was admitted: answered {response.status_code}")


@case("TLS-01", "TLS 1.2 with the partner's client certificate is admitted")
def tls12_admitted(target: Target) -> None:
    with target.client(maximum=ssl.TLSVersion.TLSv1_2) as client:
        response = client.get("/v1/exchange/terms")
    expect(response.status_code == 200, f"GET /v1/exchange/terms over TLS 1.2 answered {response.status_code}")


@case("TLS-02", "a connection without a client certificate is refused (handshake, or 403 peer-certificate-required)")
def no_client_certificate(target: Target) -> None:
    refused(target, None, ("peer-certificate-required",))


@case("TLS-03", "a client certificate from a CA outside the trust bundle is refused")
def foreign_ca(target: Target) -> None:
    ca_key = generate_private_key("ec-p256")
    ca = make_root_ca(target.party, ca_key)
    leaf_key = generate_private_key("ec-p256")
    leaf = issue_certificate(target.party, "tls", leaf_key, ca, ca_key)
    directory = target.workdir / "rogue"
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "rogue-tls.pem", directory / "rogue-tls.key"
    cert.write_bytes(leaf.public_bytes(Encoding.PEM))
    write_private_key(key, leaf_key)
    refused(target, Identity(cert, key), ("peer-certificate-required", "peer-certificate-refused"))


@case("TLS-04", "a record-signing certificate (no clientAuth) is refused as a TLS client certificate")
def signing_certificate_as_client(target: Target) -> None:
    directory = target.workdir / "signing-as-tls"
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "signing.pem", directory / "signing.key"
    cert.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in target.signing_key.chain))
    write_private_key(key, target.signing_key.private_key)
    refused(target, Identity(cert, key), ("peer-certificate-refused", "peer-certificate-required"))


@case("TLS-05", "the sender's party is the client certificate's party: another party's connection gets peer_mismatch")
def peer_mismatch(target: Target) -> None:
    if target.other is None:
        raise CaseSkipped("needs --other-cert/--other-key: a TLS identity of a third party the target trusts")
    jws = target.sign(record_document(target, "criminal_network_flag"))
    response = target.post_jws(jws, target.other)
    # The receipt names the connection's party as sender, not the kit's.
    sender = _party_of_other(target)
    expect_receipt(target, response, jws, verdict="rejected", reason_code="peer_mismatch", sender=sender)


def _party_of_other(target: Target) -> str:
    assert target.other is not None
    cert = x509.load_pem_x509_certificate(target.other.cert.read_bytes())
    return validate_path(cert, (), target.bundle, datetime.now(UTC), Purpose.TLS_CLIENT).party


@case("HTTP-01", "a record sent with another media type than application/jose is answered 415")
def wrong_media_type(target: Target) -> None:
    with target.client() as client:
        response = client.post(RECORDS_PATH, content=b"{}", headers={"Content-Type": "application/json"})
    expect_problem(response, 415, "unsupported-media-type")


@case("HTTP-02", "a record body over 1 MiB is answered 413 payload-too-large")
def oversized(target: Target) -> None:
    body = b"e" * (1024 * 1024 + 4096)
    with target.client() as client:
        try:
            response = client.post(RECORDS_PATH, content=body, headers={"Content-Type": JOSE})
        except (httpx.WriteError, httpx.RemoteProtocolError) as exc:
            raise CaseFailed(f"the connection was closed instead of a 413 answer: {exc}") from exc
    expect_problem(response, 413, "payload-too-large")
