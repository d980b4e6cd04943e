"""Revocation of the links of a validated path, from the CRLs in the trust bundle.

A CRL the node cannot read with confidence fails closed: when the issuer's
keyUsage does not allow cRLSign, or the CRL carries a critical extension the
node does not process (an issuing distribution point scoping it, a delta-CRL
indicator, a critical crlNumber), the revocation status of the certificates
it covers is unknown, and so they are refused (RFC 5280 sections 5.2, 6.3).
"""

from __future__ import annotations

from itertools import pairwise

from cryptography import x509

from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import CertificateRevokedError, RevocationUnknownError


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def check_crl_usable(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> None:
    """Raise RevocationUnknownError unless ``issuer`` may sign ``crl`` and the node can read all of it."""
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.crl_sign:
        raise RevocationUnknownError(f"the CRL of {_subject(issuer)} is signed by a key without the cRLSign usage")
    try:
        critical = [extension.oid.dotted_string for extension in crl.extensions if extension.critical]
    except ValueError as exc:
        raise RevocationUnknownError(f"the CRL of {_subject(issuer)} has malformed extensions") from exc
    if critical:
        raise RevocationUnknownError(
            f"the CRL of {_subject(issuer)} carries critical extension(s) {', '.join(critical)} "
            "that this node does not process"
        )


def check_revocation(
    chain: tuple[x509.Certificate, ...] | list[x509.Certificate], party: str, bundle: TrustBundle
) -> None:
    """Raise CertificateRevokedError when a link of ``chain`` is on its issuer's CRL.

    RevocationUnknownError (a CertificateRevokedError) when that CRL cannot be used.
    """
    trust = bundle.party(party)
    if trust is None:
        return
    for cert, issuer in pairwise(chain):
        crl = trust.crl_for(issuer)
        if crl is None:
            continue
        check_crl_usable(crl, issuer)
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            raise CertificateRevokedError(
                f"{_subject(cert)} (serial {cert.serial_number:x}) was revoked "
                f"on {entry.revocation_date_utc.isoformat()}"
            )
