"""The running node's resources, built once at startup and passed down.

Nothing here is a module global: ``serve``, ``worker``, the demo and the tests
each build a :class:`Node` and hand it to the apps and workers they start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.errors import ConfigurationError
from gateway.observability.jobs import JobRegistry
from gateway.settings import Settings
from gateway.terms.registry import TermsRegistry
from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import PKIError, TrustError
from gateway.trust.keys import SigningKey, load_certificates
from gateway.trust.path import Purpose, validate_path
from gateway.trust.token_keys import TokenECPrivateKey, load_token_key, read_pin
from gateway.vault.errors import KeyEncryptionKeyError
from gateway.vault.sealing import KeyEncryptionKey, KeyWrapper
from gateway.vault.token_kek import TokenKeyEncryptionKey, load_token_kek
from gateway.vault.vault import Vault
from gateway.wakeup import DeliveryLane, Wakeup

if TYPE_CHECKING:
    from gateway.exchange.rules import ReceiveRules

Clock = Callable[[], datetime]
_SQLITE_WRITERS: dict[str, threading.RLock] = {}


def utc_now() -> datetime:
    return datetime.now(UTC)


class DeliveryAttempt(Protocol):
    """What telemetry reads of one delivery attempt."""

    @property
    def record_id(self) -> str: ...

    @property
    def recipient(self) -> str: ...

    @property
    def jws(self) -> str: ...

    @property
    def attempts(self) -> int: ...


class Telemetry(Protocol):
    """What the domains report for metrics and logs; observability implements it.

    Exchange, records and lifecycle sit below observability (which reads their
    state), so they report through ``node.telemetry`` instead of importing it.
    """

    def received(self, node: Node, jws: str | bytes, verdict: str, *, replayed: bool, record_type: str | None) -> None:
        """A record received from a partner, with this node's verdict."""

    def signed(self, node: Node, record_type: str | None, *, replayed: bool) -> None:
        """A record this node signed and queued."""

    def receipt_latency(self, node: Node, partner: str, seconds: float) -> None:
        """How long a partner took to answer a delivery with a receipt."""

    def delivery_began(self) -> str:
        """Start a delivery's log context; returns its correlation id."""
        ...

    def delivery_ended(self, node: Node, job: DeliveryAttempt, status: str) -> str:
        """Count and log one delivery attempt ending in ``status``; returns ``status``."""
        ...


def observability_telemetry() -> Telemetry:
    """The Prometheus counters and structured logs of gateway.observability, composed in here."""
    from gateway.observability.metrics import NodeTelemetry

    return NodeTelemetry()


def lifecycle_receive_rules() -> ReceiveRules:
    """The receive-time rules of the record lifecycle, composed into exchange here.

    Exchange sits below lifecycle and must not import it; the node is where
    the layers are put together (imported on first use, as this module is
    imported by every domain).
    """
    from gateway.lifecycle.receiving import LifecycleReceiveRules

    return LifecycleReceiveRules()


@dataclass
class Node:
    """One party's gateway: configuration, database, keys, trust, and wake-up signals."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    signing_key: SigningKey
    bundle: TrustBundle
    clock: Clock = utc_now
    # None means "no terms in force": nothing is sent and everything received is
    # rejected. build_node always loads them; only hand-built test nodes lack them.
    terms: TermsRegistry | None = None
    delivery_wakeup: Wakeup = field(default_factory=Wakeup)
    delivery_lane: DeliveryLane = field(default_factory=DeliveryLane)
    # party → PartnerTermsStatus, written by the TermsWatcher (gateway.terms.sync)
    partner_terms: dict[str, Any] = field(default_factory=dict)
    # What the record lifecycle checks and applies when exchange receives a record.
    receive_rules: ReceiveRules = field(default_factory=lifecycle_receive_rules)
    telemetry: Telemetry = field(default_factory=observability_telemetry)
    # Background loops' health (failing or not, last error), shown in /readyz.
    jobs: JobRegistry = field(default_factory=JobRegistry)
    # Seals record bodies at rest (None only on hand-built test nodes).
    vault: Vault | None = None

    @property
    def party(self) -> str:
        return self.settings.party

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error."""
        if self.engine.dialect.name == "sqlite":
            # SQLite has one writer at a time. Queuing our own threads on a lock
            # is far cheaper than letting them poll SQLite's busy handler,
            # whose growing sleeps turn contention into 100 ms stalls.
            lock = _SQLITE_WRITERS.setdefault(str(self.engine.url), threading.RLock())
            with lock, transaction(self.sessions) as session:
                yield session
            return
        with transaction(self.sessions) as session:
            yield session

    def wake_delivery(self) -> None:
        """Tell an in-process delivery worker that new work was committed."""
        self.delivery_wakeup.set()

    def close(self) -> None:
        self.engine.dispose()
        if self.vault is not None:
            self.vault.keystore.engine.dispose()
            close_kek(self.vault.kek)
        if isinstance(self.signing_key.private_key, TokenECPrivateKey):
            self.signing_key.private_key.token_session.close()


def _require(path: Path | None, name: str) -> Path:
    if path is None:
        raise ConfigurationError(f"GATEWAY_{name.upper()} is not set", hint=f"set {name} in the config")
    return path


def load_signing_key(settings: Settings) -> SigningKey:
    """Return the node's signing key: PEM files, or a PKCS#11 token key when signing_key_uri is set.

    Raises ConfigurationError/PKIError (TokenError: token absent, wrong PIN) in one line.
    """
    if settings.signing_key_uri is None:
        return SigningKey.from_files(
            _require(settings.signing_key, "signing_key"),
            _require(settings.signing_cert, "signing_cert"),
            settings.signing_chain,
        )
    if settings.signing_key is not None:
        raise ConfigurationError("both signing_key and signing_key_uri are set", hint="keep one of them")
    pin = read_pin(
        settings.pkcs11_pin.get_secret_value() if settings.pkcs11_pin is not None else None, settings.pkcs11_pin_file
    )
    certs = load_certificates(_require(settings.signing_cert, "signing_cert"))
    if settings.signing_chain is not None:
        certs += load_certificates(settings.signing_chain)
    private = load_token_key(settings.signing_key_uri, settings.pkcs11_module, pin)
    try:
        return SigningKey(private, tuple(certs))
    except PKIError:
        private.token_session.close()
        raise


def build_node(settings: Settings, *, clock: Clock = utc_now) -> Node:
    """Return a Node for ``settings``; raises ConfigurationError/PKIError on bad files."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    signing_key = load_signing_key(settings)
    bundle = TrustBundle.load(_require(settings.trust_bundle, "trust_bundle"))
    if bundle.party(settings.party) is None:
        raise ConfigurationError(f"the trust bundle has no entry for this node's party {settings.party}")
    try:
        validate_path(signing_key.certificate, signing_key.chain[1:], bundle, clock(), Purpose.DOCUMENT_SIGNING)
    except TrustError as exc:
        raise ConfigurationError(
            f"the signing certificate cannot sign records: {exc.detail}",
            hint="re-issue it with `gateway pki issue --kind signing` (see deploy/README.md, certificate purposes)",
        ) from exc
    if not settings.terms_files:
        raise ConfigurationError("no terms file configured", hint="set GATEWAY_TERMS_FILES")
    terms = TermsRegistry.load(settings.terms_files, bundle, clock())
    vault = open_vault(settings)
    engine = make_engine(settings.sqlalchemy_url(), **settings.engine_options())
    return Node(settings, engine, make_sessionmaker(engine, vault), signing_key, bundle, clock, terms, vault=vault)


def open_kek(settings: Settings) -> KeyWrapper:
    """Return the key-encryption key: kek_file, or the AES key in the PKCS#11 token named by kek_uri.

    Raises KeyEncryptionKeyError (missing file or key, absent token, wrong PIN) or PKIError (no PIN) in one line.
    """
    if settings.kek_uri is None:
        return KeyEncryptionKey.from_file(settings.kek_file)
    if settings.kek_file is not None:
        raise KeyEncryptionKeyError(
            "both kek_file and kek_uri are set", hint="keep the one the key store is wrapped under"
        )
    pin = read_pin(
        settings.pkcs11_pin.get_secret_value() if settings.pkcs11_pin is not None else None, settings.pkcs11_pin_file
    )
    return load_token_kek(settings.kek_uri, settings.pkcs11_module, pin)


def close_kek(kek: KeyWrapper) -> None:
    """Close the token session of a token KEK (a file KEK holds nothing open)."""
    if isinstance(kek, TokenKeyEncryptionKey):
        kek.close()


def open_vault(settings: Settings) -> Vault:
    """Return the vault of record bodies; raises KeyEncryptionKeyError (missing or wrong KEK) in one line."""
    import gateway.records.at_rest  # noqa: F401 - registers the seal-on-flush and open-on-read hooks

    kek = open_kek(settings)
    try:
        return Vault.open(kek, make_engine(settings.keystore_sqlalchemy_url()))
    except Exception:
        close_kek(kek)
        raise


def node_from(request: Request) -> Node:
    """Return the Node serving this request (plain function, for direct calls)."""
    node: Node = request.app.state.node
    return node


async def node_of(request: Request) -> Node:
    """FastAPI dependency: the Node serving this request.

    Declared async on purpose: FastAPI runs a plain ``def`` dependency in the
    thread pool, and that hop cost more than the lookup on every request.
    """
    return node_from(request)
