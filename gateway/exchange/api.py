"""Partner exchange API (partner listener only, behind mutual TLS)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

from cryptography import x509
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from gateway.errors import GatewayError
from gateway.exchange.errors import (
    BatchTooLargeError,
    MalformedBatchError,
    PayloadTooLargeError,
    PeerCertificateRefusedError,
    PeerCertificateRequiredError,
    UnsupportedMediaTypeError,
)
from gateway.exchange.intake import ReceiveIntake
from gateway.exchange.onward import receive_onward
from gateway.exchange.service import Outcome, receive_batch
from gateway.node import Node, node_of
from gateway.observability.metrics import observe_received
from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import parse_strict
from gateway.trust.errors import CanonicalizationError, TrustError
from gateway.trust.path import Purpose, validate_path

router = APIRouter(prefix="/v1/exchange", tags=["partner exchange"])

JOSE = "application/jose"


@lru_cache(maxsize=256)
def _certificate_of_pem(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def _party_of_pem(pem: str, bundle: TrustBundle, at: datetime) -> str:
    # OpenSSL already validated the path in the handshake; this validates it
    # again (RFC 5280, every link's revocation) and insists on clientAuth: a
    # record-signing certificate must not open partner connections.
    try:
        return validate_path(_certificate_of_pem(pem), (), bundle, at, Purpose.TLS_CLIENT).party
    except TrustError as exc:
        raise PeerCertificateRefusedError(f"the client certificate is refused: {exc.detail}") from exc


async def peer_party_dependency(request: Request, node: Annotated[Node, Depends(node_of)]) -> str:
    """FastAPI dependency form of ``peer_party`` (async: no thread-pool hop per request)."""
    return peer_party(request, node)


def peer_party(request: Request, node: Node) -> str:
    """The calling partner's party, taken from its verified TLS client certificate only.

    Raises PeerCertificateRequiredError when there is no certificate (the app
    was reached without mTLS) or it belongs to no partner of the bundle.
    """
    tls: dict[str, Any] = request.scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        raise PeerCertificateRequiredError("no TLS client certificate on this connection")
    party = _party_of_pem(chain[0], node.bundle, node.now())
    if party == node.party:
        raise PeerCertificateRequiredError("the client certificate belongs to no partner party")
    return party


async def read_body(request: Request, limit: int, media_type: str) -> bytes:
    """Return the request body; raises 415 for another media type, 413 past ``limit`` bytes."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != media_type:
        raise UnsupportedMediaTypeError(f"send {media_type}, not {content_type or 'no content type'}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _receipt_response(outcome: Outcome) -> Response:
    return Response(
        outcome.receipt_jws,
        status_code=200 if outcome.replayed else 201,
        media_type=JOSE,
        headers={"X-Receipt-Verdict": outcome.verdict},
    )


@router.post(
    "/records",
    status_code=201,
    response_class=Response,
    responses={201: {"content": {JOSE: {}}, "description": "signed receipt"}},
)
async def post_record(
    request: Request,
    node: Annotated[Node, Depends(node_of)],
    peer: Annotated[str, Depends(peer_party_dependency)],
) -> Response:
    """Receive one record (compact JWS); answer with a signed receipt (201, or 200 on replay)."""
    raw = await read_body(request, node.settings.max_record_bytes, JOSE)
    intake: ReceiveIntake = request.app.state.intake
    outcome = await intake.receive(raw, peer)
    observe_received(node, raw, outcome.verdict, replayed=outcome.replayed, record_type=outcome.record_type)
    if outcome.acted_on:
        # An application acknowledgement may now be due. Waking the worker for
        # nothing cost a claim transaction per record received.
        node.wake_delivery()
    return _receipt_response(outcome)


def _onward_items(body: bytes) -> tuple[bytes, bytes]:
    try:
        document = parse_strict(body)
    except CanonicalizationError as exc:
        raise MalformedBatchError(exc.detail) from exc
    record = document.get("record") if isinstance(document, dict) else None
    consent = document.get("consent") if isinstance(document, dict) else None
    if not isinstance(record, str) or not isinstance(consent, str):
        raise MalformedBatchError('send {"record": "<compact JWS>", "consent": "<compact JWS>"}')
    return record.encode("ascii", "replace"), consent.encode("ascii", "replace")


def _receive_onward_with_retry(node: Node, raw: bytes, consent: bytes, peer: str) -> Outcome:
    for attempt in range(2):
        try:
            with node.transaction() as session:
                return receive_onward(session, node, raw, consent, peer)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


@router.post(
    "/records:onward",
    status_code=201,
    response_class=Response,
    responses={201: {"content": {JOSE: {}}, "description": "signed receipt"}},
)
async def post_onward(
    request: Request,
    node: Annotated[Node, Depends(node_of)],
    peer: Annotated[str, Depends(peer_party_dependency)],
) -> Response:
    """Receive a record another party shares onward, with the originator's signed consent."""
    body = await read_body(request, 2 * node.settings.max_record_bytes, "application/json")
    raw, consent = _onward_items(body)
    if len(raw) > node.settings.max_record_bytes:
        raise PayloadTooLargeError(f"record exceeds the {node.settings.max_record_bytes}-byte limit")
    outcome = await run_in_threadpool(_receive_onward_with_retry, node, raw, consent, peer)
    observe_received(node, raw, outcome.verdict, replayed=outcome.replayed, record_type=outcome.record_type)
    if outcome.acted_on:
        node.wake_delivery()  # an application acknowledgement may now be due
    return _receipt_response(outcome)


def _batch_items(body: bytes, max_items: int) -> list[str]:
    try:
        document = parse_strict(body)
    except CanonicalizationError as exc:
        raise MalformedBatchError(exc.detail) from exc
    records = document.get("records") if isinstance(document, dict) else None
    if not isinstance(records, list) or not all(isinstance(item, str) for item in records):
        raise MalformedBatchError('send {"records": ["<compact JWS>", ...]}')
    if len(records) > max_items:
        raise BatchTooLargeError(f"{len(records)} records; at most {max_items} per batch")
    return records


def _receive_batch(node: Node, items: list[str], peer: str) -> list[dict[str, Any]]:
    raws = [item.encode("ascii", "replace") for item in items]
    # As for single records: a concurrent identical batch can win a unique
    # index; the retry then answers its items as replays.
    for attempt in range(2):
        try:
            with node.transaction() as session:
                outcomes = receive_batch(session, node, raws, peer)
            break
        except IntegrityError:
            if attempt:
                raise
    results: list[dict[str, Any]] = []
    for index, (item, outcome) in enumerate(zip(items, outcomes, strict=True)):
        if isinstance(outcome, GatewayError):
            results.append(
                {
                    "index": index,
                    "status": outcome.status,
                    "problem": {"type": outcome.type_uri(), "title": outcome.title, "detail": outcome.detail},
                }
            )
            continue
        observe_received(node, item, outcome.verdict, replayed=outcome.replayed, record_type=outcome.record_type)
        results.append(
            {
                "index": index,
                "status": 200 if outcome.replayed else 201,
                "verdict": outcome.verdict,
                "receipt": outcome.receipt_jws,
            }
        )
    if any(isinstance(o, Outcome) and o.acted_on for o in outcomes):
        node.wake_delivery()  # an application acknowledgement may now be due
    return results


@router.post("/records:batch", response_class=JSONResponse)
async def post_batch(
    request: Request,
    node: Annotated[Node, Depends(node_of)],
    peer: Annotated[str, Depends(peer_party_dependency)],
) -> JSONResponse:
    """Receive up to ``max_batch_records`` records; one result (receipt or problem) each."""
    limit = node.settings.max_batch_records * 64 * 1024  # typical records are a few KiB
    body = await read_body(request, max(limit, node.settings.max_record_bytes), "application/json")
    items = _batch_items(body, node.settings.max_batch_records)
    results = await run_in_threadpool(_receive_batch, node, items, peer)
    # Already plain JSON: skip FastAPI's jsonable_encoder walk over 500 receipts.
    return JSONResponse({"results": results})
