"""``GET /metrics`` on the agency listener (Prometheus text exposition), behind the operations token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.node import Node, node_of
from gateway.observability.access import require_operations_token
from gateway.observability.metrics import render_metrics

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics", response_class=Response, include_in_schema=False, dependencies=[Depends(require_operations_token)]
)
def metrics(node: Annotated[Node, Depends(node_of)]) -> Response:
    """Return the node's metrics; the ledger, witness and outbox gauges are read from the database now."""
    return Response(render_metrics(node), media_type=CONTENT_TYPE_LATEST)
