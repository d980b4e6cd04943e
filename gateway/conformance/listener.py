"""The kit's own partner listener, for the cases where the target sends to the kit (test control).

A small mutual-TLS HTTPS server on the address given with ``--listen``: it
admits only client certificates issued by the target's CA (``--ca``), verifies
every record posted to ``/v1/exchange/records`` with the trust bundle, and
answers with a receipt signed by the kit's record-signing key, as a partner
node would. What arrived is kept for the cases to inspect.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509

from gateway.conformance.target import Identity
from gateway.exchange.receipts import issue_receipt
from gateway.records.schemas import Receipt, Verdict
from gateway.records.signing import verify_record
from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import TrustError
from gateway.trust.keys import SigningKey
from gateway.trust.path import Purpose, validate_path

MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Arrival:
    """One record the target delivered to the kit."""

    sender: str  # party of the TLS client certificate
    record_id: str | None
    originator: str | None
    recipients: tuple[str, ...]
    reason_code: str | None  # None: the record verified


@dataclass
class KitListener:
    host: str
    port: int
    identity: Identity
    ca: Path
    bundle: TrustBundle
    party: str
    signing_key: SigningKey
    arrivals: list[Arrival] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def start(self) -> None:
        """Bind and serve in a thread; raises OSError when the address is taken."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(str(self.identity.cert), str(self.identity.key))
        context.load_verify_locations(cafile=str(self.ca))
        listener = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                if self.path != "/v1/exchange/records" or not 0 < length <= MAX_BODY:
                    self._answer(404 if self.path != "/v1/exchange/records" else 413, "text/plain", b"")
                    return
                body = self.rfile.read(length)
                der = self.connection.getpeercert(binary_form=True)
                sender = listener.party_of(der)
                if sender is None:  # chains to the CA but is no TLS client certificate of a party
                    self._answer(403, "text/plain", b"")
                    return
                self._answer(201, "application/jose", listener.receive(body, sender).encode("ascii"))

            def _answer(self, status: int, media_type: str, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def receive(self, body: bytes, sender: str) -> str:
        """Verify one record posted by ``sender`` and return the signed receipt for it."""
        now = datetime.now(UTC)
        raw = body.strip()
        record_id: str | None = None
        originator: str | None = None
        recipients: tuple[str, ...] = ()
        reason: str | None = None
        try:
            record = verify_record(raw, self.bundle, now).payload
            record_id, originator = str(record.record_id), record.originator.party
            recipients = tuple(record.recipients)
            if originator != sender:
                reason = "peer_mismatch"
            elif self.party not in recipients:
                reason = "not_addressed"
        except TrustError as exc:
            reason = exc.reason
        self.arrivals.append(Arrival(sender, record_id, originator, recipients, reason))
        receipt = Receipt(
            record_id=uuid.UUID(record_id) if record_id else None,
            jws_sha256=hashlib.sha256(raw).hexdigest(),
            received_at=now,
            receiver=self.party,
            sender=sender,
            verdict=Verdict.REJECTED if reason else Verdict.ACCEPTED,
            reason_code=reason,
            ledger_index=None,
        )
        return issue_receipt(receipt, self.signing_key)

    def party_of(self, der: bytes | None) -> str | None:
        """The party of a client certificate, or None when it is no partner's TLS client certificate."""
        if not der:
            return None
        try:
            cert = x509.load_der_x509_certificate(der)
            return validate_path(cert, (), self.bundle, datetime.now(UTC), Purpose.TLS_CLIENT).party
        except (TrustError, ValueError):
            return None
