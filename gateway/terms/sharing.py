"""What the terms in force say about sharing a record onward to a third party."""

from __future__ import annotations

from gateway.node import Node


def forbidden_handling(node: Node) -> set[str]:
    """Handling codes the terms in force never let go onward (H3 when no terms are in force)."""
    current = node.terms.current(node.now()) if node.terms is not None else None
    if current is None:
        return {"H3"}
    return {h.value for h in current.terms.onward_sharing.forbidden_handling}
