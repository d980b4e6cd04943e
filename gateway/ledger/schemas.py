"""Pydantic models of the ledger: the signed checkpoint payload and the proof responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

HexHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, lowercase hex")]
TreeSize = Annotated[int, Field(ge=0, le=2**53 - 1)]


class CheckpointBody(BaseModel):
    """The payload of a ``mou-checkpoint+jws``: a node's signed tree head."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: str = Field(min_length=1, max_length=64, description="the signing node's identity")
    party: str = Field(pattern=r"^[A-Z]{2}$", description="the signing node's party")
    tree_size: TreeSize
    root_hash: HexHash = Field(description="RFC 9162 root of the first tree_size entries")
    signed_at: datetime


class InclusionProof(BaseModel):
    """``GET /v1/exchange/proofs/inclusion``: RFC 9162 ``PATH(index, D[tree_size])``.

    ``root_hash`` is informative: a verifier compares the proof with the root
    of a checkpoint it holds, never with this value alone.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: TreeSize
    tree_size: TreeSize
    root_hash: HexHash
    proof: list[HexHash]


class ConsistencyProof(BaseModel):
    """``GET /v1/exchange/proofs/consistency``: RFC 9162 ``PROOF(first, D[second])``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first: TreeSize
    second: TreeSize
    first_root: HexHash
    second_root: HexHash
    proof: list[HexHash]
