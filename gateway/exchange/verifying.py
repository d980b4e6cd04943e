"""Verifying received records, apart from deciding about them.

What verification finds depends on nothing but the bytes, the trust bundle
and the time, so it is a value of its own (``Checked``) that ``decide`` takes:
a batch verifies its items before looking at the database, and a record that
must be decided again (see ``receive_batch``) is not verified twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.records.signing import VerifiedRecord, verify_record
from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import parse_strict
from gateway.trust.errors import CanonicalizationError, MalformedJWSError, TrustError
from gateway.trust.jws import RECORD_TYP, ParsedJWS, parse_compact


@dataclass(frozen=True, slots=True)
class Checked:
    """What verifying one compact JWS found: the verified record, or the error of the failing step."""

    verified: VerifiedRecord | None
    error: TrustError | None
    claimed_record_id: str | None  # of a record that failed: best effort, never trusted


def claimed_record_id(parsed: ParsedJWS) -> str | None:
    """The record_id a payload claims, for the audit copy of a rejected record; never trusted."""
    try:
        document = parse_strict(parsed.payload)
        value = document.get("record_id") if isinstance(document, dict) else None
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except (CanonicalizationError, ValueError):
        return None


def check(raw: bytes, bundle: TrustBundle, at: datetime) -> Checked:
    """Verify ``raw`` at ``at``; raises MalformedJWSError when it is no compact JWS at all."""
    parsed = parse_compact(raw, expected_typ=RECORD_TYP)
    try:
        return Checked(verify_record(raw, bundle, at, parsed=parsed), None, None)
    except TrustError as exc:
        return Checked(None, exc, claimed_record_id(parsed))


Checks = Iterator[Checked | MalformedJWSError]


def check_all(raws: Sequence[bytes], bundle: TrustBundle, at: datetime) -> Checks:
    """Verify ``raws`` one by one, as they are asked for; a malformed one yields its error."""
    for raw in raws:
        try:
            yield check(raw, bundle, at)
        except MalformedJWSError as exc:
            yield exc
