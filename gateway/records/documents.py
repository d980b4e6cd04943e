"""A stored row's signed document and what it stands for: the one place that decodes a stored JWS.

The JWS payload was verified when the row was stored, so reading it back
needs no signature check; a row that failed verification is read only
through ``unsafe_decode_payload`` (for auditors and for keeping its envelope).
"""

from __future__ import annotations

import json
from typing import Any, overload

from gateway.records.models import StoredRecord
from gateway.records.schemas import CorrectionRecord, EnvelopeBase, RecordType
from gateway.records.states import Verification
from gateway.trust.canonical import parse_strict
from gateway.trust.errors import CanonicalizationError, MalformedJWSError
from gateway.trust.jws import b64url_decode


def unsafe_decode_payload(jws: str) -> object:
    """Decode a JWS payload WITHOUT verifying it; returns None when it is not canonical JSON."""
    try:
        return parse_strict(b64url_decode(jws.split(".")[1]))
    except (IndexError, ValueError, MalformedJWSError, CanonicalizationError):
        return None


def signed_document(stored: StoredRecord) -> dict[str, Any] | None:
    """Return the signed document of a verified row whose body is still present, else None.

    None for a row that failed verification, and for one whose body was
    deleted (retraction, retention).
    """
    if stored.verification != Verification.VALID or not stored.jws:
        return None
    document = unsafe_decode_payload(stored.jws)  # verified when it was stored
    return document if isinstance(document, dict) else None


def envelope_of(stored: StoredRecord) -> dict[str, Any] | None:
    """Return the record's envelope (no body), before or after its body was deleted.

    A row that failed verification gives the envelope it claimed (unverified),
    so that an auditor still sees what was refused.
    """
    if stored.envelope_json is not None:
        kept = json.loads(stored.envelope_json)
        return kept if isinstance(kept, dict) else None
    document = unsafe_decode_payload(stored.jws) if stored.jws else None
    return {k: v for k, v in document.items() if k != "body"} if isinstance(document, dict) else None


@overload
def effective_type(item: EnvelopeBase) -> RecordType: ...
@overload
def effective_type(item: StoredRecord) -> RecordType | None: ...
def effective_type(item: EnvelopeBase | StoredRecord) -> RecordType | None:
    """The record type whose rules apply to ``item``: a correction stands for the type it replaces.

    For a stored row, None when its type is unknown (failed verification) or
    a correction's body was deleted.
    """
    if isinstance(item, CorrectionRecord):
        return RecordType(item.body.replacement.record_type)
    if isinstance(item, EnvelopeBase):
        return RecordType(getattr(item, "record_type"))  # noqa: B009 - every concrete envelope has one
    if item.record_type != RecordType.CORRECTION:
        return RecordType(item.record_type) if item.record_type is not None else None
    replacement = ((signed_document(item) or {}).get("body") or {}).get("replacement") or {}
    value = str(replacement.get("record_type"))
    return RecordType(value) if value in set(RecordType) else None
