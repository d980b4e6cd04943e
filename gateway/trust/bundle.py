"""The trust bundle: which CA certificates (and CRLs) speak for which party.

A peer's or signer's party is the party whose CA issued its certificate;
nothing a peer says about itself overrides that. File format (JSON)::

    {"format": "mou-trust-bundle/1",
     "parties": {"PA": {"cas": ["-----BEGIN CERTIFICATE-----..."],
                        "crls": ["-----BEGIN X509 CRL-----..."],
                        "sequence": 3}}}

``sequence`` counts the party's signed trust updates (bundle_update.py): an
update is adopted only with a higher one, so an old update cannot be replayed.
A file written before it existed reads as sequence 0. A party code is any
ISO 3166-1 alpha-2 shaped code (gateway.trust.parties): the parties of a
federation are the ones its bundle lists. A CA, identified by the
SHA-256 of its SubjectPublicKeyInfo, belongs to one party only: a bundle that
lists it under two parties is refused (CAInTwoPartiesError).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.trust.crls import newest_signed_by
from gateway.trust.errors import CAInTwoPartiesError, PKIError
from gateway.trust.parties import PARTY_CODE_PATTERN, is_party_code

BUNDLE_FORMAT: Final = "mou-trust-bundle/1"
_MAX_CACHED_ANCHORS: Final = 1024
# JSON numbers are exact up to 2**53 - 1 (RFC 8785); a sequence never needs more.
MAX_SEQUENCE: Final = 2**53 - 1


@lru_cache(maxsize=4096)
def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Return True when ``issuer``'s key signed ``cert`` and the names chain."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@lru_cache(maxsize=1024)
def spki_sha256(cert: x509.Certificate) -> str:
    """Return the hex SHA-256 of ``cert``'s SubjectPublicKeyInfo: what identifies a CA across re-issues."""
    return hashlib.sha256(cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()


@dataclass(frozen=True, slots=True)
class PartyTrust:
    """The CAs and CRLs of one party."""

    party: str
    cas: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    sequence: int = 0  # of the party's signed trust updates; higher supersedes
    # issuer certificate → its newest validly signed CRL. A CRL signature check
    # per record would cost as much as the record's own, and never changes.
    _crl_cache: dict[x509.Certificate, x509.CertificateRevocationList | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def crl_for(self, issuer: x509.Certificate) -> x509.CertificateRevocationList | None:
        """Return the newest CRL signed by ``issuer``, or None when the bundle has none."""
        if issuer not in self._crl_cache:
            # "Newest" as trust-update adoption judges it (CRL number first, then
            # thisUpdate): by thisUpdate alone, a CA whose clock ran ahead once
            # would leave a lower-numbered CRL in charge and its later revocations unseen.
            self._crl_cache[issuer] = newest_signed_by(issuer, self.crls)
        return self._crl_cache[issuer]


@dataclass(frozen=True, slots=True, eq=False)
class TrustBundle:
    """Party code → its trust anchors. Immutable; reload to pick up new CRLs.

    Compared and hashed by identity, so per-bundle caches can key on it.
    """

    parties: Mapping[str, PartyTrust] = field(default_factory=dict)
    # certificate → its issuing (party, CA) or None: asked for every record and
    # connection, it depends only on the certificate and this immutable bundle,
    # and lives and dies with the bundle (a reload starts afresh).
    _anchors: dict[x509.Certificate, tuple[str, x509.Certificate] | None] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        # A CA speaks for one party: listed under two, issuing_party would pick
        # whichever comes first and attribute one party's certificates to another.
        owners: dict[str, str] = {}
        for trust in self.parties.values():
            for ca in trust.cas:
                owner = owners.setdefault(spki_sha256(ca), trust.party)
                if owner != trust.party:
                    raise CAInTwoPartiesError(
                        f"CA {ca.subject.rfc4514_string()} (SPKI SHA-256 {spki_sha256(ca)}) "
                        f"is listed under {owner} and {trust.party}"
                    )

    def party(self, code: str) -> PartyTrust | None:
        return self.parties.get(code)

    def issuing_party(self, cert: x509.Certificate) -> tuple[str, x509.Certificate] | None:
        """Return (party, CA) of the bundle CA that directly issued ``cert``, if any."""
        try:
            return self._anchors[cert]
        except KeyError:
            pass
        anchor = next(
            ((trust.party, ca) for trust in self.parties.values() for ca in trust.cas if issued_by(cert, ca)),
            None,
        )
        if len(self._anchors) >= _MAX_CACHED_ANCHORS:  # certificates come from peers: stay bounded
            self._anchors.clear()
        self._anchors[cert] = anchor
        return anchor

    def all_cas(self) -> list[x509.Certificate]:
        return [ca for trust in self.parties.values() for ca in trust.cas]

    def verify_locations_pem(self, parties: Iterable[str] | None = None) -> bytes:
        """Return CA certificates and CRLs as one PEM blob (for OpenSSL's CAfile)."""
        wanted = set(parties) if parties is not None else set(self.parties)
        out: list[bytes] = []
        for code in sorted(wanted & set(self.parties)):
            trust = self.parties[code]
            out += [ca.public_bytes(Encoding.PEM) for ca in trust.cas]
            out += [crl.public_bytes(Encoding.PEM) for crl in trust.crls]
        return b"".join(out)

    def has_crls(self) -> bool:
        return any(trust.crls for trust in self.parties.values())

    def next_crl_update(self) -> datetime | None:
        """Return the earliest next_update among CRLs (when they must be refreshed)."""
        updates = [
            crl.next_update_utc
            for trust in self.parties.values()
            for crl in trust.crls
            if crl.next_update_utc is not None
        ]
        return min(updates, default=None)

    # -- serialization -------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": BUNDLE_FORMAT,
                "parties": {code: party_entry(trust) for code, trust in sorted(self.parties.items())},
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, source: str = "trust bundle") -> TrustBundle:
        """Parse a bundle; raises PKIError naming what is wrong."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PKIError(f"{source} is not JSON: {exc.msg}") from exc
        if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
            raise PKIError(f"{source} is not a {BUNDLE_FORMAT} document")
        parties = data.get("parties")
        if not isinstance(parties, dict) or not parties:
            raise PKIError(f"{source} lists no parties")
        return cls({code: parse_party_entry(code, entry, source) for code, entry in parties.items()})

    @classmethod
    def load(cls, path: Path) -> TrustBundle:
        """Load a bundle file; raises PKIError when missing or invalid."""
        try:
            return cls.from_json(path.read_text("utf-8"), str(path))
        except OSError as exc:
            raise PKIError(f"cannot read trust bundle {path}: {exc.strerror}") from exc

    @classmethod
    def merge(cls, bundles: Iterable[TrustBundle]) -> TrustBundle:
        """Return one bundle holding every party of ``bundles`` (later entries win)."""
        merged: dict[str, PartyTrust] = {}
        for bundle in bundles:
            merged.update(bundle.parties)
        return cls(merged)


def party_entry(trust: PartyTrust) -> dict[str, list[str] | int]:
    return {
        "cas": [ca.public_bytes(Encoding.PEM).decode() for ca in trust.cas],
        "crls": [crl.public_bytes(Encoding.PEM).decode() for crl in trust.crls],
        "sequence": trust.sequence,
    }


def _sequence_of(code: str, entry: dict[object, object], source: str) -> int:
    sequence = entry.get("sequence", 0)  # files from before sequences: 0
    # bool is an int in Python; JSON true is not a sequence number.
    if not isinstance(sequence, int) or isinstance(sequence, bool) or not 0 <= sequence <= MAX_SEQUENCE:
        raise PKIError(f"{source}: sequence of {code} is not an integer from 0 to {MAX_SEQUENCE}")
    return sequence


def parse_party_entry(code: object, entry: object, source: str) -> PartyTrust:
    # Which parties exist is the bundle's to say; a code need only have the shape of one.
    if not is_party_code(code):
        raise PKIError(f"{source}: {code!r} is not a party code (ISO 3166-1 alpha-2, {PARTY_CODE_PATTERN})")
    if not isinstance(entry, dict):
        raise PKIError(f"{source}: entry of {code} is not an object")
    try:
        cas = tuple(cert for pem in entry.get("cas", []) for cert in x509.load_pem_x509_certificates(pem.encode()))
        crls = tuple(x509.load_pem_x509_crl(pem.encode()) for pem in entry.get("crls", []))
    except (ValueError, AttributeError) as exc:
        raise PKIError(f"{source}: party {code} has an unreadable certificate or CRL") from exc
    if not cas:
        raise PKIError(f"{source}: party {code} has no CA certificate")
    for ca in cas:
        try:
            constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise PKIError(f"{source}: a certificate of {code} is not a CA certificate")
    return PartyTrust(code, cas, crls, _sequence_of(code, entry, source))
