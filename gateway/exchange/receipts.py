"""Signed receipts: what a receiver tells the sender about a record it was given."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from gateway.records.schemas import Receipt, describe_validation_error
from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import PartyMismatchError, SchemaViolationError
from gateway.trust.jws import RECEIPT_TYP, sign_compact
from gateway.trust.keys import SigningKey
from gateway.trust.verify import Verified, verify_compact


def issue_receipt(receipt: Receipt, key: SigningKey) -> str:
    """Return the receipt as a compact JWS signed by the receiver's signing key."""
    return sign_compact(canonicalize(receipt.model_dump(mode="json")), key, RECEIPT_TYP)


def _parse_receipt(document: Any) -> Receipt:
    try:
        return Receipt.model_validate(document)
    except ValidationError as exc:
        raise SchemaViolationError(describe_validation_error(exc)) from exc


def verify_receipt(
    value: str, bundle: TrustBundle, at: datetime, *, receiver: str, jws_sha256: str
) -> Verified[Receipt]:
    """Verify a receipt from ``receiver`` for the record whose JWS digest is ``jws_sha256``.

    Returns the verified receipt; raises a TrustError when the signature, the
    signer's party or the digest does not match what was sent.
    """
    verified = verify_compact(
        value,
        bundle=bundle,
        at=at,
        typ=RECEIPT_TYP,
        parse=_parse_receipt,
        claimed_party=lambda receipt: receipt.receiver,
    )
    if verified.signer_party != receiver:
        raise PartyMismatchError(f"receipt signed by {verified.signer_party}, expected {receiver}")
    if verified.payload.jws_sha256 != jws_sha256:
        raise SchemaViolationError("receipt is for other bytes than the record that was sent")
    return verified
