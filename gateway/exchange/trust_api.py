"""Partner listener: ``GET /v1/exchange/trust-update`` — this party's CAs and CRLs, signed.

Partners fetch it (``gateway pki fetch``) to learn a new CA or a new CRL; they
accept it only if it verifies under the trust they already hold for us, and
only if its sequence is above the one they hold (gateway.trust.bundle_update).
The entry served is the node's own bundle entry with its sequence: after
``gateway pki publish --trust`` and a restart it is the update just published.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from gateway.edge import peer_party_dependency
from gateway.errors import ConfigurationError
from gateway.node import Node, node_of
from gateway.trust.bundle_update import sign_trust_update

router = APIRouter(prefix="/v1/exchange", tags=["partner exchange"])


@router.get("/trust-update", response_class=Response, responses={200: {"content": {"application/jose": {}}}})
async def get_trust_update(
    node: Annotated[Node, Depends(node_of)], _peer: Annotated[str, Depends(peer_party_dependency)]
) -> Response:
    """This node's party entry of its trust bundle, signed with its record-signing key."""
    own = node.bundle.party(node.party)
    if own is None:  # build_node refuses such a configuration; kept for a hand-built node
        raise ConfigurationError(f"the trust bundle has no entry for {node.party}")
    return Response(sign_trust_update(own, node.signing_key, node.now()), media_type="application/jose")
