"""The terms a node holds, as plain data for people and partners to read (partner API and console)."""

from __future__ import annotations

from typing import Any

from gateway.node import Node


def terms_summary(node: Node) -> list[dict[str, Any]]:
    """Return every terms version this node holds, with signatures and which flows are live."""
    if node.terms is None:
        return []
    at = node.now()
    return [
        {
            **version.ref,
            "in_force": version.in_force(at),
            "effective_from": version.terms.effective_from.isoformat(),
            "expires_on": version.terms.expires_on.isoformat(),
            "signatures": [s.model_dump() for s in version.terms.signatures],
            "signatures_valid": {p: c.valid for p, c in version.signatures.items()},
            "live_flows": [f.id for f in version.terms.flows if version.flow_live(f)],
        }
        for version in node.terms.versions
    ]


def terms_flows(node: Node) -> list[dict[str, Any]]:
    """Return the flows of the newest terms in force, for people to read."""
    current = node.terms.current(node.now()) if node.terms is not None else None
    if current is None:
        return []
    return [
        {
            "id": flow.id,
            "route": f"{flow.from_party} → {', '.join(flow.to)}",
            "record_types": [t.value for t in flow.record_types],
            "purposes": flow.purposes,
            "offences": [c.value for c in flow.offence_categories] if flow.offence_categories else None,
            "fields": "all" if flow.fields is None else f"{len(flow.fields)} listed, others {flow.outside_fields}",
            "live": current.flow_live(flow),
        }
        for flow in current.terms.flows
    ]
