"""ReceiptSigner signs exactly the receipt the Receipt model would give, without building the model per record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from gateway.exchange.receipts import ReceiptSigner, verify_receipt
from gateway.records.schemas import Receipt, Verdict
from gateway.trust.canonical import canonicalize
from gateway.trust.jws import b64url_decode
from tests.support.pki import TestPKI

NOW = datetime.now(UTC).replace(microsecond=123456)  # the certificates are issued for now
DIGEST = "ab" * 32


def payload(jws: str) -> bytes:
    return b64url_decode(jws.split(".")[1])


def the_model_way(**fields: object) -> bytes:
    """The receipt payload as the receive path built it before: the model, dumped, canonical."""
    reason = fields.pop("reason")
    return canonicalize(
        Receipt(
            received_at=NOW,
            receiver="CO",
            sender="PA",
            reason=(str(reason or ""))[:200] or None,
            **fields,  # type: ignore[arg-type]
        ).model_dump(mode="json")
    )


CASES = [
    # (record_id, accepted, reason_code, reason, ledger_index)
    (str(uuid.uuid4()), True, None, None, 0),
    (str(uuid.uuid4()), False, "terms_expired", "terms demo v1 are not in force", 41),
    (None, False, "bad_signature", "Signature: the signature does not verify", 7),
    (str(uuid.uuid4()), False, "field_not_allowed", "x" * 199 + "y" + "z" * 50, 3),  # cut at 200
    (str(uuid.uuid4()), False, "peer_mismatch", "  spaces around  ", 12),
    (str(uuid.uuid4()).upper(), True, None, None, 2**40),  # an id written in capitals, a large index
]


@pytest.mark.parametrize(("record_id", "accepted", "reason_code", "reason", "index"), CASES)
def test_signed_payload_equals_the_models_byte_for_byte(
    pki: TestPKI, record_id: str | None, accepted: bool, reason_code: str | None, reason: str | None, index: int
) -> None:
    signer = ReceiptSigner(pki.signing_key("CO"), receiver="CO", sender="PA", received_at=NOW)
    jws = signer.sign(
        record_id=record_id,
        jws_sha256=DIGEST,
        accepted=accepted,
        reason_code=reason_code,
        reason=reason,
        ledger_index=index,
    )
    expected = the_model_way(
        record_id=uuid.UUID(record_id) if record_id else None,
        jws_sha256=DIGEST,
        verdict=Verdict.ACCEPTED if accepted else Verdict.REJECTED,
        reason_code=reason_code,
        reason=reason,
        ledger_index=index,
    )
    assert payload(jws) == expected
    verified = verify_receipt(jws, pki.bundle(), NOW + timedelta(seconds=1), receiver="CO", jws_sha256=DIGEST)
    assert verified.payload.ledger_index == index
    assert verified.payload.verdict is (Verdict.ACCEPTED if accepted else Verdict.REJECTED)


def test_a_reason_of_only_spaces_is_no_reason(pki: TestPKI) -> None:
    signer = ReceiptSigner(pki.signing_key("CO"), receiver="CO", sender="PA", received_at=NOW)
    jws = signer.sign(
        record_id=None, jws_sha256=DIGEST, accepted=False, reason_code="x_y", reason="   ", ledger_index=1
    )
    assert b'"reason":null' in payload(jws)


@pytest.mark.parametrize(
    ("reason_code", "digest", "index"),
    [("Not-A-Code", DIGEST, 1), ("a" * 65, DIGEST, 1), (None, "AB" * 32, 1), (None, "ab" * 31, 1), (None, DIGEST, -1)],
)
def test_a_value_the_receipt_schema_refuses_is_never_signed(
    pki: TestPKI, reason_code: str | None, digest: str, index: int
) -> None:
    signer = ReceiptSigner(pki.signing_key("CO"), receiver="CO", sender="PA", received_at=NOW)
    with pytest.raises(ValidationError):
        signer.sign(
            record_id=None, jws_sha256=digest, accepted=False, reason_code=reason_code, reason=None, ledger_index=index
        )


def test_the_shared_fields_are_checked_once_by_the_model(pki: TestPKI) -> None:
    with pytest.raises(ValidationError):
        ReceiptSigner(pki.signing_key("CO"), receiver="C0", sender="PA", received_at=NOW)
    with pytest.raises(ValidationError):
        ReceiptSigner(pki.signing_key("CO"), receiver="CO", sender="PA", received_at=NOW.replace(tzinfo=None))
