"""Verification of signed documents as numbered steps (sigstore style).

``verify_compact`` is a pure function of (JWS bytes, trust bundle, time and a
payload parser): each step passes or raises its own :class:`TrustError`, and
the function returns a frozen :class:`Verified` value.

1. header parse     — three base64url parts, JSON header, expected ``typ``,
                      no ``jwk``/``jku``/``x5u``/``crit``
2. algorithm        — ``ES256`` or ``Ed25519`` only (never ``none``, HS*, ``EdDSA``)
3. certificate chain— ``x5c`` is an RFC 5280 path to a CA in the bundle
                      (trust.path); that CA's party is the signer's party; the
                      leaf's purpose is id-kp-documentSigning
4. validity         — every certificate of the chain valid at ``at``
5. revocation       — no certificate of the chain on its issuer's CRL
6. key usage        — leaf is an end entity with digitalSignature and a P-256
                      or Ed25519 key; ``kid`` is the RFC 7638 thumbprint of it
7. signature        — over the signing input with the leaf key
8. payload schema   — canonical JSON, accepted by the caller's parser
9. originator party — the payload's claimed party equals the signer's party
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import pairwise
from typing import Any, Final, Generic, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import parse_canonical
from gateway.trust.errors import (
    CanonicalizationError,
    KeyUsageError,
    PartyMismatchError,
    SchemaViolationError,
    TrustError,
    UnknownKeyError,
)
from gateway.trust.jws import (
    ParsedJWS,
    check_algorithm,
    compact_text,
    parse_compact,
    verify_signature,
    x5c_chain,
)
from gateway.trust.keys import Algorithm, PublicKey, algorithm_for, thumbprint
from gateway.trust.path import Purpose, build_path, candidate_paths, check_validity, validate_path
from gateway.trust.revocation import check_revocation

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Verified(Generic[P]):
    """A signed document that passed every step; ``payload`` is the parsed value."""

    payload: P
    payload_bytes: bytes
    header: dict[str, Any]
    algorithm: Algorithm
    kid: str
    signer_party: str
    signer_certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    jws: str
    jws_sha256: str
    verified_at: datetime

    @property
    def signer_subject(self) -> str:
        return _subject_of(self.signer_certificate)

    @property
    def signer_fingerprint(self) -> str:
        return _fingerprint_of(self.signer_certificate)


def build_chain(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], bundle: TrustBundle
) -> tuple[str, list[x509.Certificate]]:
    """Return (party, chain from leaf up to and including the bundle CA).

    Raises UntrustedChainError when no path reaches a CA of the bundle, and
    IssuerNotCAError when the path runs through an end entity (see trust.path).
    """
    party, chain = build_path(leaf, tuple(intermediates), bundle)
    return party, list(chain)


def check_key_usage(leaf: x509.Certificate, kid: object) -> PublicKey:
    """Return the leaf's public key when it may sign documents; raise KeyUsageError otherwise."""
    public, thumb = _signing_key_of(leaf)
    if kid != thumb:
        raise UnknownKeyError("kid is not the RFC 7638 thumbprint of the x5c[0] key")
    return public


@lru_cache(maxsize=256)
def _signing_key_of(leaf: x509.Certificate) -> tuple[PublicKey, str]:
    # Cached per certificate (a partner signs thousands of records with one):
    # the checks depend on the certificate alone; failures are not cached. The
    # purpose (id-kp-documentSigning, no TLS EKU) was checked with the path.
    constraints = (
        leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if _has(leaf, x509.BasicConstraints)
        else None
    )
    if constraints is not None and constraints.ca:
        raise KeyUsageError("a CA certificate may not sign records")
    if not _has(leaf, x509.KeyUsage):
        raise KeyUsageError("signing certificate has no keyUsage extension")
    if not leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
        raise KeyUsageError("signing certificate lacks the digitalSignature key usage")
    public = leaf.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey) and not isinstance(public.curve, ec.SECP256R1):
        raise KeyUsageError(f"signing certificate key is on {public.curve.name}; records are signed with P-256")
    if not isinstance(public, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise KeyUsageError(f"signing certificate key is {type(public).__name__}, neither EC P-256 nor Ed25519")
    return public, thumbprint(public)


def _has(cert: x509.Certificate, extension: type[x509.ExtensionType]) -> bool:
    try:
        cert.extensions.get_extension_for_class(extension)
    except x509.ExtensionNotFound:
        return False
    return True


class _PerCertificate:
    """A bounded cache of a string derived from a certificate, keyed by the object's identity.

    Hashing a cryptography Certificate walks its whole structure (as long as
    deriving the string), so an lru_cache keyed by it saved little; known
    signers hand the same objects for every record. An entry holds its
    certificate, so its id cannot be reused while it is cached.
    """

    def __init__(self, derive: Callable[[x509.Certificate], str], size: int) -> None:
        self._derive = derive
        self._size = size
        self._entries: dict[int, tuple[x509.Certificate, str]] = {}

    def __call__(self, cert: x509.Certificate) -> str:
        entry = self._entries.get(id(cert))
        if entry is not None and entry[0] is cert:
            return entry[1]
        value = self._derive(cert)
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[id(cert)] = (cert, value)
        return value


_subject_of: Final = _PerCertificate(lambda cert: cert.subject.rfc4514_string(), 256)
_fingerprint_of: Final = _PerCertificate(lambda cert: cert.fingerprint(hashes.SHA256()).hex(), 256)


def check_canonical(payload: bytes) -> Any:
    """Return the parsed payload when it is RFC 8785 canonical; raise SchemaViolationError."""
    try:
        value, canonical = parse_canonical(payload)
    except CanonicalizationError as exc:
        raise SchemaViolationError(f"payload is not canonical JSON: {exc.detail}") from exc
    if not canonical:
        raise SchemaViolationError("payload is not in RFC 8785 canonical form")
    return value


@dataclass(frozen=True, slots=True)
class _KnownSigner:
    """What one ``x5c`` header proved under one bundle, at any time, for any record.

    Its only path to a bundle CA passed every step of trust.path (structure,
    purpose, issuers' purposes, the reference verifier) and its leaf may sign
    records; validity and revocation depend on the time (and are re-checked for
    every record), the kid and alg on the record's header.
    """

    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    party: str
    public: PublicKey
    thumbprint: str
    validity: tuple[tuple[datetime, datetime], ...]  # (not before, not after) of each link
    crls: tuple[tuple[int, x509.CertificateRevocationList], ...]  # (serial, its issuer's CRL in the bundle)

    @classmethod
    def of(
        cls, path_chain: tuple[x509.Certificate, ...], party: str, public: PublicKey, bundle: TrustBundle
    ) -> _KnownSigner:
        trust = bundle.party(party)
        crls = []
        for cert, issuer in pairwise(path_chain):
            crl = trust.crl_for(issuer) if trust is not None else None
            if crl is not None:
                crls.append((cert.serial_number, crl))
        return cls(
            path_chain[0],
            path_chain,
            party,
            public,
            _signing_key_of(path_chain[0])[1],
            tuple((cert.not_valid_before_utc, cert.not_valid_after_utc) for cert in path_chain),
            tuple(crls),
        )

    def check_time_and_revocation(self, at: datetime, bundle: TrustBundle) -> None:
        """Steps 4 and 5 for this chain: the validity times at ``at``, each link's serial on its issuer's CRL.

        On any finding, the path's own checks run, so the error is theirs word for word.
        """
        if any(at < not_before or at > not_after for not_before, not_after in self.validity):
            check_validity(self.chain, at)
        if any(crl.get_revoked_certificate_by_serial_number(serial) is not None for serial, crl in self.crls):
            check_revocation(self.chain, self.party, bundle)


class _KnownSigners:
    """A bounded LRU of _KnownSigner, keyed by (bundle, x5c entries): the entries are the DER.

    A partner signs thousands of records with one certificate: decoding it,
    building its path and hashing certificates for the path's caches cost more
    than the signature. Only successes are kept; bundles compare by identity,
    so a new bundle (a CRL update, a new party) starts afresh.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[TrustBundle, tuple[str, ...]], _KnownSigner] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[TrustBundle, tuple[str, ...]]) -> _KnownSigner | None:
        with self._lock:
            known = self._entries.get(key)
            if known is not None:
                self._entries.move_to_end(key)
            return known

    def put(self, key: tuple[TrustBundle, tuple[str, ...]], known: _KnownSigner) -> None:
        with self._lock:
            self._entries[key] = known
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_KNOWN_SIGNERS: Final = _KnownSigners(256)


def _x5c_key(header: dict[str, Any]) -> tuple[str, ...] | None:
    x5c = header.get("x5c")
    if isinstance(x5c, list) and all(isinstance(entry, str) for entry in x5c):
        return tuple(x5c)
    return None


def _check_signer(
    parsed: ParsedJWS, bundle: TrustBundle, at: datetime
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...], str, PublicKey]:
    """Steps 3 to 6: return (leaf, chain, party, key) of the signer; raises the failing step's error."""
    entries = _x5c_key(parsed.header)
    known = _KNOWN_SIGNERS.get((bundle, entries)) if entries is not None else None
    if known is not None:
        # The one path passed every time-independent step before (its CRLs
        # were found usable): what validate_path would do again is steps 4
        # and 5, in its order.
        known.check_time_and_revocation(at, bundle)
        if parsed.header.get("kid") != known.thumbprint:
            raise UnknownKeyError("kid is not the RFC 7638 thumbprint of the x5c[0] key")
        return known.leaf, known.chain, known.party, known.public
    # 3. certificate chain to a bundle CA; the CA decides the signer's party
    #    (RFC 5280 path validation, see trust.path: issuers are CAs, path
    #    length, critical extensions; then 4. validity and 5. revocation of
    #    every link, and the leaf's purpose, id-kp-documentSigning)
    leaf, *intermediates = x5c_chain(parsed)
    path = validate_path(leaf, intermediates, bundle, at, Purpose.DOCUMENT_SIGNING)
    # 6. key usage and kid
    public = check_key_usage(leaf, parsed.header.get("kid"))
    if entries is not None and len(candidate_paths(leaf, tuple(intermediates), bundle)) == 1:
        # With several candidate paths the first valid one may change with
        # the time: such a signer is checked in full every time.
        _KNOWN_SIGNERS.put((bundle, entries), _KnownSigner.of(path.chain, path.party, public, bundle))
    return leaf, path.chain, path.party, public


def _header_parse(value: str | bytes, typ: str, parsed: ParsedJWS | None) -> ParsedJWS:
    # Reuse the caller's parse only when it is a parse of these very bytes with
    # this typ; otherwise parse again, so the result never depends on ``parsed``.
    if parsed is not None and parsed.header.get("typ") == typ and parsed.compact == compact_text(value):
        return parsed
    return parse_compact(value, expected_typ=typ)


def verify_compact(
    value: str | bytes,
    *,
    bundle: TrustBundle,
    at: datetime,
    typ: str,
    parse: Callable[[Any], P],
    claimed_party: Callable[[P], str],
    parsed: ParsedJWS | None = None,
) -> Verified[P]:
    """Verify a compact JWS in the numbered steps of this module.

    Returns a frozen Verified; raises the TrustError subclass of the first failing step.
    ``parse`` must raise SchemaViolationError (or another TrustError) on bad payloads.
    ``parsed`` may be what ``parse_compact(value, …)`` already returned to the
    caller, so the token is not split and decoded twice; it is used only when it
    is a parse of this very text with this ``typ`` (else ``value`` is parsed again).
    Build it with parse_compact only: its parts are trusted to belong together.
    """
    raw = value.encode("ascii", "replace") if isinstance(value, str) else value
    # 1. header parse
    parsed = _header_parse(value, typ, parsed)
    # 2. algorithm allow-list
    alg = check_algorithm(parsed)
    # 3.-6. the signer: chain to a bundle CA (which decides the party),
    #    validity, revocation, key usage and kid (see _check_signer)
    leaf, chain, party, public = _check_signer(parsed, bundle, at)
    if algorithm_for(public) != alg:
        raise KeyUsageError(f"alg {alg} does not match the {type(public).__name__} key")
    # 7. signature
    verify_signature(parsed, public, alg)
    # 8. payload schema
    document = check_canonical(parsed.payload)
    try:
        payload = parse(document)
    except TrustError:
        raise
    except ValueError as exc:
        raise SchemaViolationError(str(exc)) from exc
    # 9. originator party equals the signer's party
    claimed = claimed_party(payload)
    if claimed != party:
        raise PartyMismatchError(f"payload claims party {claimed!r} but the signing certificate belongs to {party!r}")
    return Verified(
        payload=payload,
        payload_bytes=parsed.payload,
        header=dict(parsed.header),
        algorithm=alg,
        kid=str(parsed.header["kid"]),
        signer_party=party,
        signer_certificate=leaf,
        chain=chain,
        jws=parsed.compact,
        jws_sha256=hashlib.sha256(raw.strip()).hexdigest(),
        verified_at=at,
    )
