"""Partner listener: ``GET /v1/exchange/terms`` — the signed terms this node holds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from gateway.edge import peer_party_dependency
from gateway.node import Node, node_of
from gateway.terms.views import terms_summary

router = APIRouter(prefix="/v1/exchange", tags=["partner exchange"])


@router.get("/terms")
def get_terms(
    node: Annotated[Node, Depends(node_of)], _peer: Annotated[str, Depends(peer_party_dependency)]
) -> dict[str, Any]:
    """The terms versions this node holds, so partners can see they run the same ones."""
    return {"party": node.party, "terms": terms_summary(node)}
