"""CRL order and freshness: which of two CRLs of one issuer is newer, and which are stale.

Two CRLs of one issuer are ordered by their CRL number (RFC 5280 §5.2.3: it
increases monotonically) when both carry one, else by thisUpdate. A CRL past
its nextUpdate is *stale*: the revocations it lists still hold, but newer ones
may be missing. The node keeps working with it and reports it (``/readyz``
detail, console); OpenSSL refuses TLS with that CRL's issuer until a fresh CRL
is adopted (see deploy/README.md, "Trust updates").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography import x509

if TYPE_CHECKING:  # bundle.py imports this module at run time
    from gateway.trust.bundle import TrustBundle


def crl_number(crl: x509.CertificateRevocationList) -> int | None:
    """Return the CRL number extension's value, or None when the CRL has none."""
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None


def is_older(crl: x509.CertificateRevocationList, than: x509.CertificateRevocationList) -> bool:
    """Return True when ``crl`` is older than ``than`` (two CRLs of one issuer)."""
    mine, theirs = crl_number(crl), crl_number(than)
    if mine is not None and theirs is not None and mine != theirs:
        return mine < theirs
    return crl.last_update_utc < than.last_update_utc


def newest_signed_by(
    ca: x509.Certificate, crls: Iterable[x509.CertificateRevocationList]
) -> x509.CertificateRevocationList | None:
    """Return the newest of ``crls`` that ``ca`` issued and signed, or None.

    Only validly signed CRLs count: an unsigned one with a huge CRL number must
    not become the yardstick that later refuses the party's real CRLs.
    """
    newest: x509.CertificateRevocationList | None = None
    for crl in crls:
        if crl.issuer != ca.subject or not crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
            continue
        if newest is None or is_older(newest, crl):
            newest = crl
    return newest


@dataclass(frozen=True, slots=True)
class CRLFreshness:
    """One CRL of the bundle: whose, which issuer, and whether it is past its nextUpdate."""

    party: str
    issuer: str
    this_update: datetime
    next_update: datetime | None
    number: int | None
    stale: bool

    def describe(self) -> str:
        """Return a one-line description for operators (readiness, console)."""
        due = self.next_update.isoformat() if self.next_update is not None else "never"
        state = "stale since" if self.stale else "fresh until"
        return f"{self.party} CRL of {self.issuer} {state} {due}"


def crl_freshness(bundle: TrustBundle, at: datetime) -> list[CRLFreshness]:
    """Return the newest CRL of each (party, issuer) of ``bundle`` with its freshness at ``at``.

    Sorted by party then issuer. An older CRL kept beside a newer one is not
    reported: the newer one is what counts. A CRL without nextUpdate never goes
    stale (RFC 5280 requires the field; there is no date to report).
    """
    newest: dict[tuple[str, str], x509.CertificateRevocationList] = {}
    for code, trust in bundle.parties.items():
        for crl in trust.crls:
            key = (code, crl.issuer.rfc4514_string())
            if key not in newest or is_older(newest[key], crl):
                newest[key] = crl
    return [
        CRLFreshness(
            party=party,
            issuer=issuer,
            this_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
            number=crl_number(crl),
            stale=crl.next_update_utc is not None and crl.next_update_utc < at,
        )
        for (party, issuer), crl in sorted(newest.items())
    ]
