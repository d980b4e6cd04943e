"""Mutual TLS for the partner listener and the delivery client.

The server context requires a client certificate chained to a partner CA of
the trust bundle and checks CRLs, so a peer without a valid certificate is
refused in the handshake and never reaches application code. uvicorn 0.54 does
not expose the client certificate to the app, so :class:`PeerCertProtocol`
puts it into ``scope["extensions"]["tls"]`` under the ASGI TLS extension's
names; drop the subclass when uvicorn ships that extension.
"""

from __future__ import annotations

import logging
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import ConfigurationError
from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import TrustError
from gateway.trust.path import Purpose, validate_path

log = logging.getLogger("gateway.tls")


def write_verify_file(bundle: TrustBundle, path: Path, parties: list[str] | None = None) -> Path:
    """Write the CAs and CRLs of ``parties`` (default: all) as one PEM CAfile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bundle.verify_locations_pem(parties))
    return path


def _crl_flags(bundle: TrustBundle, parties: list[str]) -> int:
    # VERIFY_CRL_CHECK_LEAF makes OpenSSL demand a CRL for every leaf issuer:
    # enable it only when each party concerned publishes one, else warn loudly.
    with_crl = [p for p in parties if (t := bundle.party(p)) is not None and t.crls]
    if len(with_crl) == len(parties):
        return ssl.VERIFY_CRL_CHECK_LEAF
    missing = sorted(set(parties) - set(with_crl))
    log.warning("no CRL in the trust bundle for %s: revocation is not checked for them", missing)
    return 0


def server_context(
    cert: Path, key: Path, bundle: TrustBundle, workdir: Path, partner_parties: list[str]
) -> ssl.SSLContext:
    """Return the partner listener's context: TLS 1.2+, client cert required, CRLs checked."""
    if not partner_parties:
        raise ConfigurationError("no partner party in the trust bundle")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load the TLS certificate/key {cert}, {key}: {exc}") from exc
    cafile = write_verify_file(bundle, workdir / "partner-verify.pem", partner_parties)
    context.load_verify_locations(cafile=str(cafile))
    context.verify_flags |= _crl_flags(bundle, partner_parties)
    return context


def client_context(cert: Path, key: Path, bundle: TrustBundle, workdir: Path, party: str) -> ssl.SSLContext:
    """Return a client context that presents our certificate and trusts only ``party``'s CAs.

    Trusting only the recipient's CAs means a server certificate of any other
    party is refused, so a record can only ever reach the party it is for.
    """
    # PROTOCOL_TLS_CLIENT verifies the peer and its host name and, unlike
    # create_default_context, loads no system CAs: only the bundle is trusted.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    cafile = write_verify_file(bundle, workdir / f"verify-{party}.pem", [party])
    context.load_verify_locations(cafile=str(cafile))
    context.verify_flags |= _crl_flags(bundle, [party])
    context.sslsocket_class = _server_purpose_socket(bundle, party)
    return context


def check_partner_server(der: bytes | None, bundle: TrustBundle, party: str, at: datetime) -> None:
    """Raise ssl.SSLCertVerificationError unless ``der`` is ``party``'s certificate for TLS servers.

    OpenSSL's own purpose check passes a certificate without extended key
    usage, so a record-signing certificate could serve a partner listener; the
    path is validated again here (RFC 5280) with serverAuth required.
    """
    if not der:
        raise ssl.SSLCertVerificationError(f"{party} presented no server certificate")
    try:
        path = validate_path(x509.load_der_x509_certificate(der), (), bundle, at, Purpose.TLS_SERVER)
    except (TrustError, ValueError) as exc:
        raise ssl.SSLCertVerificationError(f"{party}'s server certificate is refused: {exc}") from exc
    if path.party != party:
        raise ssl.SSLCertVerificationError(f"the server certificate belongs to {path.party}, not {party}")


def _server_purpose_socket(bundle: TrustBundle, party: str) -> type[ssl.SSLSocket]:
    class PartnerServerSocket(ssl.SSLSocket):
        # httpx (through httpcore) wraps its sockets with the context given as
        # ``verify``; checking here refuses the connection before a byte is sent.
        def do_handshake(self, block: bool = False) -> None:
            super().do_handshake(block)
            check_partner_server(self.getpeercert(binary_form=True), bundle, party, datetime.now(UTC))

    return PartnerServerSocket


class PeerCertProtocol(HttpToolsProtocol):
    """uvicorn HTTP protocol that exposes the verified client certificate to the app."""

    _tls_extension: dict[str, Any] | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        self._tls_extension = None
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(binary_form=True)
        cipher = ssl_object.cipher()
        self._tls_extension = {
            "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "client_cert_name": None,
            "client_cert_error": None,
            "tls_version": ssl_object.version(),
            "cipher_suite": cipher[0] if cipher else None,
        }

    def on_headers_complete(self) -> None:
        if self._tls_extension is not None:
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions["tls"] = self._tls_extension
        super().on_headers_complete()

    def shutdown(self) -> None:
        # An idle keep-alive partner never answers our TLS close_notify, so a
        # graceful close would hold the server's exit for asyncio's 30-second
        # SSL shutdown timeout per connection: drop idle connections outright.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
            return
        super().shutdown()
