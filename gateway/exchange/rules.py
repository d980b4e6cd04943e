"""What a higher layer adds to receiving a record, handed to exchange when the node is built.

Exchange verifies, decides, stores and answers; what an accepted record then
means for the records it is about (a correction replacing a flag, an
acknowledgement of one of ours) belongs to the record lifecycle, a layer
above. Exchange therefore calls these rules through ``node.receive_rules``
and never imports the lifecycle domain; ``gateway.node`` composes them in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session

from gateway.records.models import StoredRecord
from gateway.records.schemas import Record, RecordType

if TYPE_CHECKING:
    from gateway.node import Node


class ReceiveRules(Protocol):
    """The receive-time rules of a higher layer."""

    @property
    def late_arrival_types(self) -> frozenset[RecordType]:
        """Types of which an instruction (correction, retraction) may have arrived before the record."""
        ...

    def check(self, session: Session, node: Node, record: Record, peer_party: str) -> None:
        """Run before anything is stored; raises PolicyRefusal to reject ``record``."""
        ...

    def apply(self, session: Session, node: Node, stored: StoredRecord, record: Record, *, late_arrival: bool) -> None:
        """Update what the accepted ``record`` (stored as ``stored``) acts on, in the receipt's transaction.

        ``late_arrival=False`` leaves the check for an earlier instruction about
        it to ``apply_late_arrivals`` (a batch does it in one query).
        """
        ...

    def apply_late_arrivals(self, session: Session, node: Node, arrived: list[StoredRecord]) -> None:
        """Apply instructions that arrived before the records in ``arrived`` (one query for a batch)."""
        ...
