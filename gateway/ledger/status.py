"""The ledger's state for ``/readyz`` and the console: tree head, last checkpoint, witnesses."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gateway.ledger import repository
from gateway.records.signing import rfc3339


def ledger_status(session: Session) -> dict[str, Any]:
    """Return the tree head, the newest own checkpoint and each partner's witness status.

    ``alarms`` lists every partner whose ledger was seen to fork (kept until
    people act on it); it is empty when all is well.
    """
    size, root = repository.read_head(session)
    checkpoint = repository.latest_own_checkpoint(session)
    witness: dict[str, Any] = {}
    alarms: list[str] = []
    for status in repository.witness_statuses(session):
        witness[status.party] = {
            "state": status.state,
            "detail": status.detail,
            "tree_size": status.tree_size,
            "checked_at": rfc3339(status.checked_at),
            "witnessed_at": rfc3339(status.witnessed_at) if status.witnessed_at else None,
            "alarm": status.alarm,
        }
        if status.alarm:
            alarms.append(f"{status.party}: {status.alarm}")
    return {
        "tree_size": size,
        "root_hash": root.hex() if root is not None else None,
        "checkpoint": (
            {"tree_size": checkpoint.tree_size, "signed_at": rfc3339(checkpoint.signed_at)}
            if checkpoint is not None
            else None
        ),
        "witness": witness,
        "alarms": alarms,
    }
