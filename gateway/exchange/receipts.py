"""Signed receipts: what a receiver tells the sender about a record it was given."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from gateway.records.schemas import Receipt, Verdict, describe_validation_error
from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import PartyMismatchError, SchemaViolationError
from gateway.trust.jws import RECEIPT_TYP, sign_compact
from gateway.trust.keys import SigningKey
from gateway.trust.verify import Verified, verify_compact


def issue_receipt(receipt: Receipt, key: SigningKey) -> str:
    """Return the receipt as a compact JWS signed by the receiver's signing key."""
    return sign_compact(canonicalize(receipt.model_dump(mode="json")), key, RECEIPT_TYP)


_REASON_CODE = re.compile(r"[a-z_]{2,64}")  # the Receipt model's reason_code pattern
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_REASON_MAX = 200  # the Receipt model's ShortText


class ReceiptSigner:
    """Signs the receipts a receiver gives one sender at one time (a received batch).

    What the receipts share (times, parties) goes through the Receipt model
    once; building and dumping the model for every record cost as much as its
    signature. The per-record fields are the receiver's own values (a digest
    it computed, a verified record id, its verdict and reason code, the ledger
    index it appended), checked here against the model's rules; a value that
    does not plainly pass is built through the model, so what is signed is
    always a valid Receipt (tests compare both ways byte for byte).
    """

    def __init__(self, key: SigningKey, *, receiver: str, sender: str, received_at: datetime) -> None:
        self._key = key
        self._shared = Receipt(
            record_id=None,
            jws_sha256="0" * 64,
            received_at=received_at,
            receiver=receiver,
            sender=sender,
            verdict=Verdict.REJECTED,
        ).model_dump(mode="json")

    def sign(
        self,
        *,
        record_id: str | None,
        jws_sha256: str,
        accepted: bool,
        reason_code: str | None,
        reason: str | None,
        ledger_index: int,
    ) -> str:
        """Return the signed receipt of one record (``reason`` cut to the receipt's 200 characters)."""
        text = (reason or "")[:_REASON_MAX].strip() or None
        plain = (
            (reason_code is None or _REASON_CODE.fullmatch(reason_code) is not None)
            and _SHA256_HEX.fullmatch(jws_sha256) is not None
            and ledger_index >= 0
        )
        fields = {
            "record_id": record_id,
            "jws_sha256": jws_sha256,
            "verdict": (Verdict.ACCEPTED if accepted else Verdict.REJECTED).value,
            "reason_code": reason_code,
            "reason": text,
            "ledger_index": ledger_index,
        }
        if not plain:
            return issue_receipt(Receipt.model_validate(self._shared | fields), self._key)
        fields["record_id"] = str(uuid.UUID(record_id)) if record_id else None  # as the model writes it
        return sign_compact(canonicalize(self._shared | fields), self._key, RECEIPT_TYP)


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
