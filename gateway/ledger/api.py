"""Ledger routes of the partner listener (mutual TLS only): checkpoint and RFC 9162 proofs.

Any partner may ask for any index or size: the answers are hashes only, no
entry fields, so one partner learns nothing about another's exchanges.
Query parameters are parsed here rather than by FastAPI so that every bad value
is a 400 ``invalid-proof-request`` problem, like an out-of-range one.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from gateway.edge import peer_party_dependency
from gateway.ledger import checkpoints, proofs
from gateway.ledger.errors import ProofRequestError
from gateway.ledger.schemas import ConsistencyProof, InclusionProof
from gateway.node import Node, node_of

router = APIRouter(prefix="/v1/exchange", tags=["ledger"], dependencies=[Depends(peer_party_dependency)])

JOSE = "application/jose"
_TREE_INDEX = re.compile(r"[0-9]{1,16}")  # below 2**53: sizes are JSON-safe integers


def tree_number(name: str, value: str | None) -> int:
    """Return the non-negative integer query parameter ``name``.

    Raises:
        ProofRequestError: it is missing or not a plain decimal integer below 10**16.
    """
    if value is None:
        raise ProofRequestError(f"query parameter {name!r} is required")
    if not _TREE_INDEX.fullmatch(value):
        raise ProofRequestError(f"{name} must be a non-negative decimal integer, got {value[:40]!r}")
    return int(value)


QueryValue = Annotated[str | None, Query()]


@router.get(
    "/checkpoint",
    response_class=Response,
    responses={200: {"content": {JOSE: {}}, "description": "the newest signed checkpoint"}},
)
def get_checkpoint(node: Annotated[Node, Depends(node_of)]) -> Response:
    """Return this node's newest checkpoint as a compact JWS (``mou-checkpoint+jws``)."""
    with node.transaction() as session:
        jws = checkpoints.latest_checkpoint_jws(session)
    return Response(jws, media_type=JOSE)


@router.get("/proofs/inclusion")
def get_inclusion_proof(
    node: Annotated[Node, Depends(node_of)],
    index: QueryValue = None,
    tree_size: QueryValue = None,
) -> InclusionProof:
    """Return the RFC 9162 inclusion proof of entry ``index`` in the tree of ``tree_size``."""
    leaf = tree_number("index", index)
    size = tree_number("tree_size", tree_size)
    with node.transaction() as session:
        return proofs.inclusion_proof(session, leaf, size)


@router.get("/proofs/consistency")
def get_consistency_proof(
    node: Annotated[Node, Depends(node_of)],
    first: QueryValue = None,
    second: QueryValue = None,
) -> ConsistencyProof:
    """Return the RFC 9162 consistency proof from tree size ``first`` to ``second``."""
    old = tree_number("first", first)
    new = tree_number("second", second)
    with node.transaction() as session:
        return proofs.consistency_proof(session, old, new)
