"""Checks of a node's configuration, run at start (``serve``, ``worker``) and by ``gateway doctor``.

Each check says ok, warning or error, what it found, and the fix. ``serve``
and ``worker`` refuse to start on the first error (one line) and print every
warning; ``gateway doctor`` prints them all as a table. The checks read only
files and the clock (the database is checked by the commands that open it).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from cryptography import x509

from gateway.errors import ConfigurationError, GatewayError
from gateway.settings import Settings
from gateway.terms.registry import TermsRegistry
from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import TrustError
from gateway.trust.keys import SigningKey
from gateway.trust.path import Purpose, validate_path


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    detail: str
    fix: str = ""

    def line(self) -> str:
        """One line: what was found and, for a problem, what to do."""
        return f"{self.check}: {self.detail}" + (f" — {self.fix}" if self.fix and self.level != Level.OK else "")


@dataclass
class _Loaded:
    """What earlier checks loaded, for the checks after them (None when it failed)."""

    bundle: TrustBundle | None = None
    tls_chain: list[x509.Certificate] | None = None
    signing_chain: tuple[x509.Certificate, ...] | None = None


def _read_certificates(path: Path) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigurationError(f"{path} holds no PEM certificate") from exc
    return certs


def _party_of(bundle: TrustBundle, chain: list[x509.Certificate]) -> str | None:
    """Return the party whose bundle CA issued a certificate of ``chain`` (leaf first), if any."""
    for cert in chain:
        found = bundle.issuing_party(cert)
        if found is not None:
            return found[0]
    return None


def _validity(name: str, cert: x509.Certificate, now: datetime, warn_days: int, path: Path | None) -> Finding:
    where = f" ({path})" if path is not None else ""
    not_after = cert.not_valid_after_utc
    if cert.not_valid_before_utc > now:
        return Finding(
            f"{name} validity",
            Level.ERROR,
            f"the {name} certificate{where} is not valid before {cert.not_valid_before_utc:%Y-%m-%dT%H:%MZ}",
            "check this machine's clock or use a certificate valid now",
        )
    if not_after <= now:
        return Finding(
            f"{name} validity",
            Level.ERROR,
            f"the {name} certificate{where} expired on {not_after:%Y-%m-%dT%H:%MZ}",
            f"issue a new {name} certificate (`gateway pki issue --kind {name}`) and restart",
        )
    days = (not_after - now) / timedelta(days=1)
    if days < warn_days:
        return Finding(
            f"{name} validity",
            Level.WARNING,
            f"the {name} certificate{where} expires in {int(days)} days ({not_after:%Y-%m-%dT%H:%MZ})",
            f"rotate it before then (`gateway pki issue --kind {name}`)",
        )
    return Finding(f"{name} validity", Level.OK, f"valid until {not_after:%Y-%m-%dT%H:%MZ} ({int(days)} days)")


def _check_bundle(settings: Settings, _now: datetime, loaded: _Loaded) -> Iterator[Finding]:
    if settings.trust_bundle is None:
        yield Finding("trust bundle", Level.ERROR, "GATEWAY_TRUST_BUNDLE is not set", "set trust_bundle")
        return
    loaded.bundle = TrustBundle.load(settings.trust_bundle)
    if loaded.bundle.party(settings.party) is None:
        yield Finding(
            "trust bundle",
            Level.ERROR,
            f"{settings.trust_bundle} has no entry for this node's party {settings.party}",
            "add this party's CA to the bundle, or correct GATEWAY_PARTY",
        )
        return
    parties = ", ".join(sorted(loaded.bundle.parties))
    yield Finding("trust bundle", Level.OK, f"{settings.trust_bundle}: parties {parties}")


def _check_tls(settings: Settings, now: datetime, loaded: _Loaded) -> Iterator[Finding]:
    if settings.tls_cert is None or settings.tls_key is None:
        yield Finding(
            "TLS certificate", Level.ERROR, "GATEWAY_TLS_CERT or GATEWAY_TLS_KEY is not set", "set tls_cert and tls_key"
        )
        return
    chain = _read_certificates(settings.tls_cert)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        yield Finding(
            "TLS certificate",
            Level.ERROR,
            f"the TLS key {settings.tls_key} cannot be used with {settings.tls_cert} ({reason})",
            "give the key that belongs to this certificate (PEM, unencrypted)",
        )
        return
    loaded.tls_chain = chain
    yield Finding("TLS certificate", Level.OK, f"{settings.tls_cert} and its key load")
    yield _validity("tls", chain[0], now, settings.certificate_warning_days, settings.tls_cert)


def _check_signing(settings: Settings, now: datetime, loaded: _Loaded) -> Iterator[Finding]:
    if settings.signing_cert is None or settings.signing_key is None:
        if settings.signing_cert is None or getattr(settings, "signing_key_uri", None) is None:
            yield Finding(
                "signing certificate",
                Level.ERROR,
                "GATEWAY_SIGNING_CERT or GATEWAY_SIGNING_KEY is not set",
                "set signing_cert and signing_key",
            )
            return
        certs = _read_certificates(settings.signing_cert)  # a token key: the certificate is checked here
        if settings.signing_chain is not None:
            certs += _read_certificates(settings.signing_chain)
        chain = tuple(certs)
    else:
        chain = SigningKey.from_files(settings.signing_key, settings.signing_cert, settings.signing_chain).chain
    loaded.signing_chain = chain
    yield Finding("signing certificate", Level.OK, f"{settings.signing_cert} loads")
    yield _validity("signing", chain[0], now, settings.certificate_warning_days, settings.signing_cert)
    if loaded.bundle is not None and chain[0].not_valid_after_utc > now:
        try:
            validate_path(chain[0], chain[1:], loaded.bundle, now, Purpose.DOCUMENT_SIGNING)
        except TrustError as exc:
            yield Finding(
                "signing purpose",
                Level.ERROR,
                f"the signing certificate cannot sign records: {exc.detail}",
                "re-issue it with `gateway pki issue --kind signing`",
            )


def _check_parties(settings: Settings, _now: datetime, loaded: _Loaded) -> Iterator[Finding]:
    if loaded.bundle is None:
        return
    for name, chain in (("TLS", loaded.tls_chain), ("signing", loaded.signing_chain)):
        if chain is None:
            continue
        party = _party_of(loaded.bundle, list(chain))
        if party != settings.party:
            issued = f"a CA of {party}" if party else "no CA of the trust bundle"
            yield Finding(
                f"{name} certificate party",
                Level.ERROR,
                f"this node is {settings.party} but its {name} certificate was issued by {issued}",
                f"use {settings.party}'s {name} certificate, or correct GATEWAY_PARTY",
            )
        else:
            yield Finding(f"{name} certificate party", Level.OK, f"issued by a CA of {party}")
    for partner in sorted(settings.partners):
        if partner == settings.party:
            yield Finding(
                "partners",
                Level.ERROR,
                f"GATEWAY_PARTNERS lists this node's own party {partner}",
                "list only the other parties' partner listeners",
            )
        elif loaded.bundle.party(partner) is None:
            yield Finding(
                "partners",
                Level.ERROR,
                f"partner {partner} is not a party of the trust bundle {settings.trust_bundle}",
                f"add {partner}'s CA to the bundle, or remove {partner} from GATEWAY_PARTNERS",
            )
    if settings.partners and all(p in loaded.bundle.parties for p in settings.partners):
        yield Finding("partners", Level.OK, ", ".join(f"{p} {u}" for p, u in sorted(settings.partners.items())))
    elif not settings.partners:
        yield Finding(
            "partners", Level.WARNING, "no partner configured: nothing can be delivered", "set GATEWAY_PARTNERS"
        )


def live_flows(registry: TermsRegistry, party: str, now: datetime) -> tuple[str | None, list[str]]:
    """Return the terms in force (``id vN``, or None) and the ids of its live flows to or from ``party``."""
    current = registry.current(now)
    if current is None:
        return None, []
    flows = [f.id for f in current.terms.flows if party in (f.from_party, *f.to) and current.flow_live(f)]
    return f"{current.terms.terms_id} v{current.terms.version}", flows


def _check_terms(settings: Settings, now: datetime, loaded: _Loaded) -> Iterator[Finding]:
    if not settings.terms_files:
        yield Finding("terms", Level.ERROR, "no terms file configured", "set GATEWAY_TERMS_FILES")
        return
    if loaded.bundle is None:
        return
    registry = TermsRegistry.load(settings.terms_files, loaded.bundle, now)
    version, flows = live_flows(registry, settings.party, now)
    if version is None:
        yield Finding(
            "terms",
            Level.WARNING,
            "no terms version is in force today: nothing is sent and everything received is rejected",
            "configure a terms file whose effective dates include today",
        )
    elif not flows:
        yield Finding(
            "terms",
            Level.WARNING,
            f"{version} has no live flow to or from {settings.party}: a flow is live once every party to it signed",
            "sign the terms (`gateway terms sign`) and collect the partners' signatures",
        )
    else:
        yield Finding("terms", Level.OK, f"{version}: live flows {', '.join(flows)}")


def _check_secrets(settings: Settings, _now: datetime, _loaded: _Loaded) -> Iterator[Finding]:
    if settings.totp_encryption_key is None and settings.totp_encryption_key_file is None:
        yield Finding(
            "TOTP key",
            Level.ERROR,
            "totp_encryption_key is not set: officers' TOTP seeds cannot be encrypted",
            "set GATEWAY_TOTP_ENCRYPTION_KEY_FILE to a file of base64 of 32 random bytes",
        )
    else:
        yield Finding("TOTP key", Level.OK, "set")


Check = Callable[[Settings, datetime, _Loaded], Iterator[Finding]]
_CHECKS: list[tuple[str, Check]] = [
    ("trust bundle", _check_bundle),
    ("TLS certificate", _check_tls),
    ("signing certificate", _check_signing),
    ("parties", _check_parties),
    ("terms", _check_terms),
]


def run_checks(settings: Settings, now: datetime, *, listener: bool = True) -> list[Finding]:
    """Run every check; returns the findings in order. A check that raises is one error finding."""
    loaded = _Loaded()
    checks = [*_CHECKS, ("TOTP key", _check_secrets)] if listener else _CHECKS
    findings: list[Finding] = []
    for name, check in checks:
        try:
            findings.extend(check(settings, now, loaded))
        except GatewayError as exc:
            findings.append(Finding(name, Level.ERROR, exc.detail, exc.hint))
    return findings


def refuse_on_errors(findings: list[Finding]) -> list[Finding]:
    """Raise ConfigurationError for the first error finding; returns the warnings."""
    for finding in findings:
        if finding.level == Level.ERROR:
            raise ConfigurationError(f"{finding.check}: {finding.detail}", hint=finding.fix or None)
    return [f for f in findings if f.level == Level.WARNING]
