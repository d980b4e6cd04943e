"""A partner ledger for witness tests: an in-memory tree whose checkpoints are really signed."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.ledger.checkpoints import sign_body
from gateway.ledger.schemas import CheckpointBody
from gateway.ledger.tree import InMemoryNodeStore, MerkleTree
from gateway.ledger.witness import WitnessFetchError
from gateway.trust.keys import SigningKey


class FakePartner:
    """CO's ledger: leaves in memory, checkpoints signed with a real key."""

    def __init__(self, key: SigningKey, party: str = "CO", prefix: bytes = b"co") -> None:
        self.key = key
        self.party = party
        self.prefix = prefix
        self.tree = MerkleTree(InMemoryNodeStore())
        self.served = ""
        self.unreachable = False
        self.proof_unavailable = False
        self.proof_requests: list[tuple[int, int]] = []

    def grow(self, count: int) -> FakePartner:
        for _ in range(count):
            self.tree.append(self.prefix + b" %d" % self.tree.size)
        return self

    def publish(self, *, size: int | None = None, root: bytes | None = None, party: str | None = None) -> str:
        size = self.tree.size if size is None else size
        body = CheckpointBody(
            origin=f"{self.party}-gateway",
            party=party or self.party,
            tree_size=size,
            root_hash=(root or self.tree.root(size)).hex(),
            signed_at=datetime.now(UTC).replace(microsecond=0),
        )
        self.served = sign_body(body, self.key)
        return self.served

    def checkpoint(self) -> str:
        if self.unreachable:
            raise WitnessFetchError("CO: ConnectError: connection refused")
        return self.served

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        self.proof_requests.append((first, second))
        if self.proof_unavailable:
            raise WitnessFetchError("CO answered 503")
        return self.tree.consistency_proof(first, second)
