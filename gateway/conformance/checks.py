"""What the cases check in every answer: signed receipts and problem documents."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from gateway.conformance.registry import CaseFailed, expect
from gateway.conformance.target import JOSE, PROBLEM, PROBLEM_BASE, Target
from gateway.exchange.receipts import verify_receipt
from gateway.records.schemas import Receipt
from gateway.trust.errors import TrustError


def digest(jws: str | bytes) -> str:
    return hashlib.sha256(jws.encode("ascii") if isinstance(jws, str) else jws).hexdigest()


def _media_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "")).split(";")[0].strip().lower()


def check_receipt_text(target: Target, text: str, jws: str | bytes, sender: str | None = None) -> Receipt:
    """Verify a receipt JWS for ``jws`` (RCP-01): signed by the target's party, naming those bytes.

    ``sender`` is the party the receipt must name as sender (default: the kit's).
    """
    try:
        verified = verify_receipt(
            text.strip(), target.bundle, target.now(), receiver=target.target_party, jws_sha256=digest(jws)
        )
    except TrustError as exc:
        raise CaseFailed(f"the receipt does not verify: {exc.reason}: {exc.detail}") from exc
    receipt = verified.payload
    sender = sender or target.party
    expect(receipt.sender == sender, f"receipt names sender {receipt.sender}, not {sender}")
    return receipt


def expect_receipt(
    target: Target,
    response: httpx.Response,
    jws: str | bytes,
    *,
    status: int = 201,
    verdict: str = "accepted",
    reason_code: str | None = None,
    sender: str | None = None,
) -> Receipt:
    """Check the answer to one record: ``status``, a verifying receipt with ``verdict`` and ``reason_code``."""
    if response.status_code != status:
        raise CaseFailed(f"answered {response.status_code} ({_brief(response)}), expected {status}")
    expect(_media_type(response) == JOSE, f"receipt served as {_media_type(response)!r}, not {JOSE}")
    receipt = check_receipt_text(target, response.text, jws, sender)
    got = f"{receipt.verdict.value}" + (f" ({receipt.reason_code})" if receipt.reason_code else "")
    expect(receipt.verdict.value == verdict, f"receipt verdict {got}, expected {verdict}")
    if verdict == "accepted":
        expect(receipt.reason_code is None, f"an accepted receipt carries reason code {receipt.reason_code}")
    else:
        expect(receipt.reason_code == reason_code, f"receipt verdict {got}, expected reason code {reason_code}")
    return receipt


def expect_problem(response: httpx.Response, status: int, slug: str | None) -> dict[str, Any]:
    """Check an RFC 9457 problem answer with ``status`` and type ``PROBLEM_BASE + slug`` (HTTP-04).

    ``slug`` None: any type under PROBLEM_BASE (the caller judges it).
    """
    if response.status_code != status:
        raise CaseFailed(f"answered {response.status_code} ({_brief(response)}), expected {status} {slug}")
    expect(_media_type(response) == PROBLEM, f"problem served as {_media_type(response)!r}, not {PROBLEM}")
    try:
        document = response.json()
    except ValueError as exc:
        raise CaseFailed("the problem document is not JSON") from exc
    expect(isinstance(document, dict), "the problem document is not a JSON object")
    problem_type = str(document.get("type", ""))
    if slug is None:
        expect(problem_type.startswith(PROBLEM_BASE), f"problem type {problem_type!r} is not under {PROBLEM_BASE}")
    else:
        expect(problem_type == PROBLEM_BASE + slug, f"problem type {problem_type!r}, expected {slug}")
    expect(document.get("status") == status, f"problem status member {document.get('status')!r}, not {status}")
    for member in ("title", "detail"):
        expect(isinstance(document.get(member), str), f"the problem has no {member}")
    return dict(document)


def _brief(response: httpx.Response) -> str:
    if _media_type(response) == PROBLEM:
        try:
            return str(response.json().get("type", "")).removeprefix(PROBLEM_BASE)
        except ValueError:
            return "unreadable problem"
    return _media_type(response) or "no content type"
