"""Partner exchange API (partner listener only, behind mutual TLS)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.edge import NodeDep, PeerDep, read_body, transact
from gateway.errors import GatewayError
from gateway.exchange.errors import BatchTooLargeError, MalformedBatchError, PayloadTooLargeError
from gateway.exchange.intake import ReceiveIntake
from gateway.exchange.onward import receive_onward
from gateway.exchange.service import Outcome, receive_batch
from gateway.node import Node
from gateway.trust.canonical import parse_strict
from gateway.trust.errors import CanonicalizationError

router = APIRouter(prefix="/v1/exchange", tags=["partner exchange"])

JOSE = "application/jose"


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
    node: NodeDep,
    peer: PeerDep,
) -> Response:
    """Receive one record (compact JWS); answer with a signed receipt (201, or 200 on replay)."""
    raw = await read_body(request, node.settings.max_record_bytes, JOSE)
    intake: ReceiveIntake = request.app.state.intake
    outcome = await intake.receive(raw, peer)
    node.telemetry.received(node, raw, outcome.verdict, replayed=outcome.replayed, record_type=outcome.record_type)
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


def _receive_onward(node: Node, raw: bytes, consent: bytes, peer: str) -> Outcome:
    return transact(node, lambda session: receive_onward(session, node, raw, consent, peer))


@router.post(
    "/records:onward",
    status_code=201,
    response_class=Response,
    responses={201: {"content": {JOSE: {}}, "description": "signed receipt"}},
)
async def post_onward(
    request: Request,
    node: NodeDep,
    peer: PeerDep,
) -> Response:
    """Receive a record another party shares onward, with the originator's signed consent."""
    body = await read_body(request, 2 * node.settings.max_record_bytes, "application/json")
    raw, consent = _onward_items(body)
    if len(raw) > node.settings.max_record_bytes:
        raise PayloadTooLargeError(f"record exceeds the {node.settings.max_record_bytes}-byte limit")
    outcome = await run_in_threadpool(_receive_onward, node, raw, consent, peer)
    node.telemetry.received(node, raw, outcome.verdict, replayed=outcome.replayed, record_type=outcome.record_type)
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
    outcomes = transact(node, lambda session: receive_batch(session, node, raws, peer))
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
        node.telemetry.received(node, item, outcome.verdict, replayed=outcome.replayed, record_type=outcome.record_type)
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
    node: NodeDep,
    peer: PeerDep,
) -> JSONResponse:
    """Receive up to ``max_batch_records`` records; one result (receipt or problem) each."""
    limit = node.settings.max_batch_records * 64 * 1024  # typical records are a few KiB
    body = await read_body(request, max(limit, node.settings.max_record_bytes), "application/json")
    items = _batch_items(body, node.settings.max_batch_records)
    results = await run_in_threadpool(_receive_batch, node, items, peer)
    # Already plain JSON: skip FastAPI's jsonable_encoder walk over 500 receipts.
    return JSONResponse({"results": results})
