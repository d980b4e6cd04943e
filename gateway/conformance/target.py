"""The implementation under test, and the partner the kit plays towards it.

Everything here talks to the target over the network (mutual TLS), exactly as
a partner node would; nothing reaches into the target's process or database.
"""

from __future__ import annotations

import copy
import json
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from gateway.errors import InputError
from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import TrustError
from gateway.trust.jws import RECORD_TYP, sign_compact
from gateway.trust.keys import PrivateKey, SigningKey
from gateway.trust.path import Purpose, validate_path

JOSE = "application/jose"
PROBLEM = "application/problem+json"
PROBLEM_BASE = "https://mou-gateway.example/problems/"
RECORDS_PATH = "/v1/exchange/records"
BATCH_PATH = "/v1/exchange/records:batch"
DEFAULT_DRAFTS = Path(__file__).resolve().parents[2] / "schemas" / "examples"


@dataclass(frozen=True)
class Identity:
    """A TLS client certificate and its key, as PEM files."""

    cert: Path
    key: Path


@dataclass
class Target:
    """Where the implementation under test listens and what the kit presents to it.

    ``bundle`` holds the CAs of the target's party (to verify receipts,
    checkpoints, trust updates) and of the kit's own party. ``other`` is a TLS
    identity of a third party the target also trusts (for the peer-party cases).
    """

    url: str
    identity: Identity
    ca: Path
    signing_key: SigningKey
    bundle: TrustBundle
    workdir: Path
    party: str = ""  # the kit's party; found from ``identity`` when empty
    other: Identity | None = None
    drafts: Path = DEFAULT_DRAFTS
    timeout: float = 15.0
    checkpoint_wait: float = 90.0
    control: str | None = None  # test-control URL (docs/protocol.md section 13)
    listen: tuple[str, int] | None = None  # where the kit's own partner listener binds (CTL-01)
    ca_key: PrivateKey | None = None  # the kit's party CA key, to issue test certificates (RCP-30, RCP-31, TLS-09)
    target_party: str = field(default="", init=False)
    terms_ref: dict[str, Any] | None = field(default=None, init=False)
    state: dict[str, Any] = field(default_factory=dict, init=False)  # what earlier cases left for later ones

    def prepare(self) -> None:
        """Find both parties and the terms the target holds; raises InputError when that fails."""
        if not self.party:
            own = x509.load_pem_x509_certificate(self.identity.cert.read_bytes())
            self.party = _party_of(own, self.bundle, Purpose.TLS_CLIENT, "--cert")
        with self.client() as client:
            try:
                response = client.get("/v1/exchange/terms")
            except httpx.HTTPError as exc:
                raise InputError(f"cannot reach {self.url} over mutual TLS: {exc}") from exc
        der = server_certificate(self.url, self.context(), self.timeout)
        if der is not None:
            self.target_party = _party_of(
                x509.load_der_x509_certificate(der), self.bundle, Purpose.TLS_SERVER, "target"
            )
        if response.status_code == 200:
            document = response.json()
            self.target_party = self.target_party or str(document.get("party", ""))
            in_force = [t for t in document.get("terms", []) if t.get("in_force")]
            if in_force:
                self.terms_ref = {k: in_force[0][k] for k in ("id", "version", "sha256")}
        if not self.target_party:
            raise InputError("cannot tell the target's party from its server certificate")

    # -- connections ----------------------------------------------------------

    def context(
        self, identity: Identity | str | None = "default", *, maximum: ssl.TLSVersion | None = None
    ) -> ssl.SSLContext:
        """A client context that verifies the target with ``ca`` and presents ``identity``."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if maximum is not None:
            context.maximum_version = maximum
        context.load_verify_locations(cafile=str(self.ca))
        chosen = self.identity if identity == "default" else identity
        if isinstance(chosen, Identity):
            context.load_cert_chain(str(chosen.cert), str(chosen.key))
        return context

    def client(self, identity: Identity | str | None = "default", **kwargs: Any) -> httpx.Client:
        """An HTTP client for the target over mutual TLS (a new connection each time)."""
        return httpx.Client(base_url=self.url, verify=self.context(identity, **kwargs), timeout=self.timeout)

    def post_jws(self, jws: str | bytes, identity: Identity | str | None = "default") -> httpx.Response:
        content = jws.encode("ascii") if isinstance(jws, str) else jws
        with self.client(identity) as client:
            return client.post(RECORDS_PATH, content=content, headers={"Content-Type": JOSE})

    def post_batch(self, items: list[str]) -> httpx.Response:
        with self.client() as client:
            return client.post(
                BATCH_PATH, content=json.dumps({"records": items}), headers={"Content-Type": "application/json"}
            )

    def get(self, path: str, **params: Any) -> httpx.Response:
        with self.client() as client:
            return client.get(path, params=params)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def control_send(self, record_type: str) -> str:
        """Ask the target, through test control, to originate a ``record_type`` to the kit; returns its id."""
        if self.control is None:
            raise InputError("no test-control URL")
        verify: ssl.SSLContext | bool = self.context(None) if self.control.startswith("https:") else False
        response = httpx.post(
            f"{self.control.rstrip('/')}/conformance/v1/send",
            json={"record_type": record_type, "recipient": self.party},
            verify=verify,
            timeout=self.timeout,
        )
        if response.status_code != 202:
            raise InputError(f"test control answered {response.status_code} to a send of {record_type}")
        record_id = response.json().get("record_id")
        if not isinstance(record_id, str):
            raise InputError("test control named no record_id")
        return record_id

    # -- records --------------------------------------------------------------

    def draft(self, record_type: str) -> dict[str, Any]:
        """An example draft of ``record_type`` from the kit's party to the target, under the target's terms."""
        path = self.drafts / f"{record_type}.json"
        try:
            draft: dict[str, Any] = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the example draft {path}: {exc}") from exc
        draft = copy.deepcopy(draft)
        draft["originator"]["party"] = self.party
        draft["recipients"] = [self.target_party]
        if self.terms_ref is not None:
            draft["terms"] = dict(self.terms_ref)
        return draft

    def sign(self, document: dict[str, Any], key: SigningKey | None = None, typ: str = RECORD_TYP) -> str:
        """Sign ``document`` as it stands (no schema check: invalid records are wanted too)."""
        return sign_compact(canonicalize(document), key or self.signing_key, typ)


def _party_of(cert: x509.Certificate, bundle: TrustBundle, purpose: Purpose, what: str) -> str:
    try:
        return validate_path(cert, (), bundle, datetime.now(UTC), purpose).party
    except TrustError as exc:
        raise InputError(f"the {what} certificate does not chain to a party of the bundle: {exc.detail}") from exc


def server_certificate(url: str, context: ssl.SSLContext, timeout: float) -> bytes | None:
    """The DER certificate the server at ``url`` presents (one TLS handshake, nothing sent)."""
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 443
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    return bytes(der) if der else None
