"""How long this node's certificates stay valid: for ``/metrics`` and ``/readyz``."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509

from gateway.node import Node

_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class CertificateExpiry:
    """One certificate of the node: ``name`` is ``signing`` or ``tls``."""

    name: str
    not_after: datetime
    days_left: float


@lru_cache(maxsize=8)
def _not_after_of_file(path: str, _mtime_ns: int, _size: int) -> datetime:
    # Keyed by mtime and size, so a certificate replaced on disk is read again.
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read()).not_valid_after_utc


def tls_not_after(path: Path) -> datetime:
    """Return the end of validity of the first certificate in the PEM file ``path``.

    Raises OSError when the file cannot be read, ValueError when it holds no certificate.
    """
    stat = path.stat()
    return _not_after_of_file(str(path), stat.st_mtime_ns, stat.st_size)


def certificate_expiries(node: Node) -> list[CertificateExpiry]:
    """Return the signing certificate's expiry and, when configured and readable, the TLS one's."""
    now = node.now()
    found = [("signing", node.signing_key.certificate.not_valid_after_utc)]
    if node.settings.tls_cert is not None:
        with suppress(OSError, ValueError):  # readiness reports it as unreadable
            found.append(("tls", tls_not_after(node.settings.tls_cert)))
    return [
        CertificateExpiry(name, not_after, (not_after - now).total_seconds() / _SECONDS_PER_DAY)
        for name, not_after in found
    ]


def certificate_checks(node: Node) -> dict[str, Any]:
    """Return the readiness entries about certificates.

    ``tls_certificate`` is ``ok``, ``expired``, ``unreadable`` or ``not
    configured``; ``tls_certificate_days_left`` its whole days left;
    ``certificate_warnings`` names each certificate with fewer than
    ``certificate_warning_days`` left (empty when none).
    """
    warn_days = node.settings.certificate_warning_days
    checks: dict[str, Any] = {}
    expiries = {expiry.name: expiry for expiry in certificate_expiries(node)}
    tls = expiries.get("tls")
    if tls is not None:
        checks["tls_certificate_days_left"] = int(tls.days_left // 1)
        checks["tls_certificate"] = "ok" if tls.days_left > 0 else "expired"
    else:
        checks["tls_certificate"] = "not configured" if node.settings.tls_cert is None else "unreadable"
    warnings = []
    for expiry in expiries.values():
        if expiry.days_left <= 0:
            warnings.append(f"{expiry.name} certificate expired on {expiry.not_after.date().isoformat()}")
        elif expiry.days_left < warn_days:
            warnings.append(
                f"{expiry.name} certificate expires in {int(expiry.days_left)} days "
                f"({expiry.not_after.date().isoformat()}); rotate it"
            )
    checks["certificate_warnings"] = warnings
    return checks
