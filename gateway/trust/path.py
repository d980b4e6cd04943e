"""RFC 5280 certification path validation for every chain the node accepts.

Record signers, TLS peers in both directions, receipts, checkpoints, trust
updates and onward consents all reach a party's trust through here:
:func:`validate_path` returns the party whose bundle CA anchors the chain, or
raises the :class:`TrustError` of the first failing step.

Why a walk of our own in front of ``cryptography.x509.verification``: that
verifier is the RFC 5280 authority here (it re-checks every accepted path as
the last step), but it reports a failure as one message string. Receipts must
name *which* rule a chain broke with a stable reason code, so the walk below
builds the path and checks the rules a forger would try (an end entity used as
an issuer, an issuer without keyCertSign, a path longer than a CA allows, an
unknown critical extension, a certificate outside its validity, a revoked
link, a key used outside its purpose) each with its own error. Whatever the
walk accepts and the reference verifier still refuses ends as
``untrusted_chain``.

Steps:
1. path building   — from the leaf up through ``intermediates`` to a bundle CA;
                     an issuer matches by name *and* signature
2. issuer is a CA  — basicConstraints CA:TRUE and, when keyUsage is present,
                     keyCertSign, for every certificate above the leaf
3. path length     — each CA's pathLenConstraint bounds the CAs below it
4. critical extensions — none the node does not process
5. validity        — every certificate valid at the verification time
6. revocation      — no link on its issuer's CRL (CRLs from the bundle)
7. purpose         — the leaf's extended key usage fits what it is used for
8. reference check — cryptography's RFC 5280 verifier accepts the same path
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Final

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, ObjectIdentifier

from gateway.trust.bundle import TrustBundle, issued_by
from gateway.trust.errors import (
    CertificateExpiredError,
    IssuerNotCAError,
    KeyPurposeError,
    PathLengthError,
    TrustError,
    UnknownCriticalExtensionError,
    UntrustedChainError,
)
from gateway.trust.revocation import check_revocation

# RFC 9336 id-kp-documentSigning: the purpose of every record-signing
# certificate (records, receipts, checkpoints, terms signatures, trust updates,
# consents). A registered OID beats a private one: any X.509 tool names it.
DOCUMENT_SIGNING: Final = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
_TLS_PURPOSES: Final = frozenset({ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH})

# Extensions this module or the reference verifier processes; any other one
# marked critical makes the certificate unusable (RFC 5280 section 4.2).
_PROCESSED_EXTENSIONS: Final = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.NAME_CONSTRAINTS,
    }
)
MAX_PATH_LENGTH: Final = 6  # leaf + up to 4 intermediates (x5c holds 5) + the anchor


class Purpose(StrEnum):
    """What a leaf certificate is used for at an entry point."""

    DOCUMENT_SIGNING = "document-signing"
    TLS_CLIENT = "tls-client"
    TLS_SERVER = "tls-server"


_REQUIRED_EKU: Final = {
    Purpose.DOCUMENT_SIGNING: DOCUMENT_SIGNING,
    Purpose.TLS_CLIENT: ExtendedKeyUsageOID.CLIENT_AUTH,
    Purpose.TLS_SERVER: ExtendedKeyUsageOID.SERVER_AUTH,
}


@dataclass(frozen=True, slots=True)
class ValidatedPath:
    """A path that passed every step: ``chain`` runs from the leaf to the bundle CA."""

    party: str
    chain: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def anchor(self) -> x509.Certificate:
        return self.chain[-1]


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _extensions(cert: x509.Certificate) -> x509.Extensions:
    try:
        return cert.extensions
    # cryptography raises ValueError, TypeError (e.g. a name constraint that is
    # no network) or DuplicateExtension (no ValueError) for what it cannot parse.
    except (ValueError, TypeError, x509.DuplicateExtension) as exc:
        raise UntrustedChainError(f"{_subject(cert)} has malformed extensions: {exc}") from exc


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return _extensions(cert).get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return _extensions(cert).get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _extended_key_usage(cert: x509.Certificate) -> set[ObjectIdentifier] | None:
    try:
        return set(_extensions(cert).get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None


# -- 1. path building ------------------------------------------------------------


_MAX_CANDIDATES: Final = 8  # x5c holds at most 5 certificates: real PKIs offer one or two paths
_MAX_ISSUER_CHECKS: Final = 64


@dataclass(slots=True)
class _Search:
    """What one path search found, and its budget of issuer checks."""

    found: list[tuple[str, tuple[x509.Certificate, ...]]]
    refusals: list[TrustError]
    budget: int = _MAX_ISSUER_CHECKS


def _walk(
    chain: tuple[x509.Certificate, ...],
    intermediates: tuple[x509.Certificate, ...],
    bundle: TrustBundle,
    search: _Search,
) -> None:
    current = chain[-1]
    found, refusals = search.found, search.refusals
    found.extend(
        (trust.party, (*chain, ca)) for trust in bundle.parties.values() for ca in trust.cas if issued_by(current, ca)
    )
    if len(chain) >= MAX_PATH_LENGTH - 1:
        return
    for parent in intermediates:
        if len(found) >= _MAX_CANDIDATES:
            return
        if parent in chain:
            continue
        search.budget -= 1
        if search.budget < 0:  # many same-named certificates: a denial of service, not a PKI
            return
        if not issued_by(current, parent):
            continue
        try:
            _require_ca(parent)
        except IssuerNotCAError as exc:
            refusals.append(exc)
            continue
        _walk((*chain, parent), intermediates, bundle, search)


@lru_cache(maxsize=1024)
def candidate_paths(
    leaf: x509.Certificate, intermediates: tuple[x509.Certificate, ...], bundle: TrustBundle
) -> tuple[tuple[str, tuple[x509.Certificate, ...]], ...]:
    """Return every (party, chain from ``leaf`` to a bundle CA), shortest first.

    An issuer is taken only when its subject is the certificate's issuer name
    *and* its key verifies the certificate's signature (``issued_by``); an
    issuer found among ``intermediates`` must be a CA (step 2) before the walk
    goes on above it. Several paths exist when a CA is cross-certified: the
    first that passes every step wins (RFC 5280 leaves path building to the
    verifier, and a verifier that never backtracks refuses valid chains).
    Raises IssuerNotCAError when the only way up passes through an end entity,
    UntrustedChainError when no path reaches a CA of the bundle. Cached per
    (certificates, immutable bundle); failures are not cached.
    """
    search = _Search([], [])
    _walk((leaf,), intermediates, bundle, search)
    found, refusals = search.found, search.refusals
    if found:
        return tuple(sorted(found, key=lambda path: len(path[1])))
    if refusals:
        raise refusals[0]
    raise UntrustedChainError(f"certificate {_subject(leaf)!r} does not chain to any CA of the trust bundle")


def build_path(
    leaf: x509.Certificate, intermediates: tuple[x509.Certificate, ...], bundle: TrustBundle
) -> tuple[str, tuple[x509.Certificate, ...]]:
    """Return the shortest (party, chain) of :func:`candidate_paths` (its errors likewise)."""
    return candidate_paths(leaf, intermediates, bundle)[0]


# -- 2.-4. structure ---------------------------------------------------------------


def _require_ca(issuer: x509.Certificate) -> None:
    constraints = _basic_constraints(issuer)
    if constraints is None or not constraints.ca:
        raise IssuerNotCAError(
            f"{_subject(issuer)} issued a certificate but is not a CA (basicConstraints CA:TRUE is missing)"
        )
    usage = _key_usage(issuer)
    if usage is not None and not usage.key_cert_sign:
        raise IssuerNotCAError(f"{_subject(issuer)} issued a certificate but its keyUsage lacks keyCertSign")


def _check_path_length(chain: tuple[x509.Certificate, ...]) -> None:
    # chain[i] for i >= 1 is a CA; the CAs strictly between it and the leaf are
    # chain[1:i], of which self-issued ones do not count (RFC 5280 6.1.4 (l)).
    for position in range(1, len(chain)):
        constraints = _basic_constraints(chain[position])
        if constraints is None or constraints.path_length is None:
            continue
        below = sum(1 for cert in chain[1:position] if cert.subject != cert.issuer)
        if below > constraints.path_length:
            raise PathLengthError(
                f"{_subject(chain[position])} allows {constraints.path_length} CA certificate(s) below it, "
                f"the path has {below}"
            )


def _check_critical_extensions(chain: tuple[x509.Certificate, ...]) -> None:
    try:
        _extensions(chain[0]).get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        pass
    else:  # processed for CAs only: on an end entity it is a profile error (RFC 5280 4.2.1.10)
        raise UntrustedChainError(f"{_subject(chain[0])} is an end entity but carries nameConstraints")
    for cert in chain:
        for extension in _extensions(cert):
            if extension.critical and extension.oid not in _PROCESSED_EXTENSIONS:
                raise UnknownCriticalExtensionError(
                    f"{_subject(cert)} carries the critical extension {extension.oid.dotted_string}, "
                    "which this node does not process"
                )


# -- 5.-7. per use -----------------------------------------------------------------


def check_validity(chain: tuple[x509.Certificate, ...] | list[x509.Certificate], at: datetime) -> None:
    """Raise CertificateExpiredError unless every certificate is valid at ``at``."""
    for cert in chain:
        if at < cert.not_valid_before_utc:
            raise CertificateExpiredError(
                f"{_subject(cert)} is not valid before {cert.not_valid_before_utc.isoformat()}"
            )
        if at > cert.not_valid_after_utc:
            raise CertificateExpiredError(f"{_subject(cert)} expired at {cert.not_valid_after_utc.isoformat()}")


@lru_cache(maxsize=512)  # a verdict on the certificate alone; refusals raise and are not cached
def check_purpose(leaf: x509.Certificate, purpose: Purpose) -> None:
    """Raise KeyPurposeError unless ``leaf``'s extended key usage fits ``purpose``.

    Key separation both ways: a record-signing certificate carries
    id-kp-documentSigning and no TLS purpose, so a stolen TLS key (it lives on
    load balancers and ingress hosts) cannot sign what a party attested, and a
    signing key cannot open partner connections.
    """
    constraints = _basic_constraints(leaf)
    if constraints is not None and constraints.ca:
        raise KeyPurposeError(f"{_subject(leaf)} is a CA certificate, not an end entity")
    usage = _key_usage(leaf)
    if usage is not None and usage.key_cert_sign:  # RFC 5280 4.2.1.3: keyCertSign only with CA:TRUE
        raise KeyPurposeError(f"{_subject(leaf)} is an end entity but asserts keyCertSign")
    try:
        purposes = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        purposes = set()
    required = _REQUIRED_EKU[purpose]
    if required not in purposes:
        raise KeyPurposeError(
            f"{_subject(leaf)} lacks the extended key usage {required.dotted_string} required for {purpose.value}"
        )
    if purpose is Purpose.DOCUMENT_SIGNING and purposes & _TLS_PURPOSES:
        raise KeyPurposeError(f"{_subject(leaf)} is a TLS certificate (serverAuth/clientAuth); it may not sign")
    if purpose is not Purpose.DOCUMENT_SIGNING and DOCUMENT_SIGNING in purposes:
        raise KeyPurposeError(f"{_subject(leaf)} is a record-signing certificate; it may not authenticate TLS")


def check_issuer_purposes(chain: tuple[x509.Certificate, ...], purpose: Purpose) -> None:
    """Raise KeyPurposeError when a CA of ``chain`` restricts its EKU to other purposes.

    A CA carrying extended key usage vouches only for those purposes (or for
    any, with anyExtendedKeyUsage): an issuing CA constrained to
    id-kp-documentSigning cannot lend its name to a TLS certificate.
    """
    required = _REQUIRED_EKU[purpose]
    for ca in chain[1:]:
        purposes = _extended_key_usage(ca)
        if purposes is not None and not purposes & {required, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}:
            raise KeyPurposeError(
                f"{_subject(ca)} is restricted to other extended key usages than {required.dotted_string}"
            )


# -- 8. reference check ----------------------------------------------------------------


def reference_check(chain: tuple[x509.Certificate, ...], at: datetime) -> None:
    """Raise UntrustedChainError unless cryptography's RFC 5280 verifier accepts ``chain`` at ``at``."""
    # The leaf's purpose was checked in step 7 for every use, so the end-entity
    # policy permits any extension; the CA policy is the Web PKI one (CA:TRUE,
    # keyCertSign, pathLen, name constraints) less its CA EKU rule: a client
    # verifier would demand clientAuth of every CA carrying an EKU, refusing a
    # CA restricted to serverAuth or documentSigning; check_issuer_purposes
    # applies that rule for the actual purpose. Only the path's own anchor is
    # in the store, so the verifier cannot wander to another party's CA.
    builder = (
        verification.PolicyBuilder()
        .store(verification.Store([chain[-1]]))
        .time(at)
        .max_chain_depth(MAX_PATH_LENGTH)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca().may_be_present(
                x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, None
            ),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
    )
    try:
        builder.build_client_verifier().verify(chain[0], list(chain[1:-1]))
    except verification.VerificationError as exc:
        raise UntrustedChainError(f"the certificate path fails RFC 5280 validation: {exc}") from exc


@lru_cache(maxsize=1024)
def _check_structure(chain: tuple[x509.Certificate, ...]) -> None:
    # Steps 3-4 depend on the certificates alone: a partner signs thousands of
    # records with one chain. Failures raise and are not cached.
    _check_path_length(chain)
    _check_critical_extensions(chain)


# Chains the reference verifier accepted. Validity is re-checked on every call
# (step 5), and it is the only part of its verdict that depends on the time.
_REFERENCE_ACCEPTED: set[tuple[x509.Certificate, ...]] = set()


def _reference_checked(chain: tuple[x509.Certificate, ...], at: datetime) -> None:
    if chain in _REFERENCE_ACCEPTED:
        return
    reference_check(chain, at)
    if len(_REFERENCE_ACCEPTED) >= 1024:  # chains come from peers: stay bounded
        _REFERENCE_ACCEPTED.clear()
    _REFERENCE_ACCEPTED.add(chain)


def validate_path(
    leaf: x509.Certificate,
    intermediates: tuple[x509.Certificate, ...] | list[x509.Certificate],
    bundle: TrustBundle,
    at: datetime,
    purpose: Purpose,
) -> ValidatedPath:
    """Validate ``leaf`` (with untrusted ``intermediates``) for ``purpose`` at ``at``.

    Returns the ValidatedPath naming the party whose bundle CA anchors it; raises
    the TrustError of the first failing step (UntrustedChainError,
    IssuerNotCAError, PathLengthError, UnknownCriticalExtensionError,
    CertificateExpiredError, CertificateRevokedError, KeyPurposeError).
    """
    first_refusal: TrustError | None = None
    for party, chain in candidate_paths(leaf, tuple(intermediates), bundle):
        try:
            _check_structure(chain)
            check_validity(chain, at)
            check_revocation(chain, party, bundle)
            check_purpose(leaf, purpose)
            check_issuer_purposes(chain, purpose)
            _reference_checked(chain, at)
        except TrustError as exc:
            first_refusal = first_refusal or exc  # the shortest path's reason is the one to report
            continue
        return ValidatedPath(party, chain)
    assert first_refusal is not None  # candidate_paths returns at least one path or raises
    raise first_refusal
