"""Facts a node records in its ledger when it starts: its signing key and the terms signatures.

Keys and terms signatures are made offline (``gateway pki``, ``gateway terms
sign``), so the node records each one the first time it runs with it — once
per key id and once per (terms version, party, digest) — in the same
transaction as nothing else: the ledger then shows when each came into use.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from sqlalchemy.orm import Session

from gateway.ledger import repository
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.node import Node


def _recorded(session: Session, subject: str) -> bool:
    return bool(repository.entries_for_subject(session, subject))


def record_startup_facts(node: Node) -> list[str]:
    """Append KEY_ADDED / TERMS_SIGNED events not yet in the ledger; return their subjects."""
    added: list[str] = []
    now = node.now()
    with node.transaction() as session:
        key_subject = f"key:{node.signing_key.kid}"
        if not _recorded(session, key_subject):
            append_event(
                session,
                AuditEvent.KEY_ADDED,
                actor=f"node:{node.party}",
                subject=key_subject,
                at=now,
                detail={"fingerprint": node.signing_key.certificate.fingerprint(hashes.SHA256()).hex()},
            )
            added.append(key_subject)
        for version in node.terms.versions if node.terms is not None else []:
            for party, check in sorted(version.signatures.items()):
                if not check.valid:
                    continue
                subject = f"terms:{version.terms.terms_id}:v{version.terms.version}:{party}:{version.digest[:16]}"
                if _recorded(session, subject):
                    continue
                append_event(
                    session,
                    AuditEvent.TERMS_SIGNED,
                    actor=f"party:{party}",
                    subject=subject,
                    at=now,
                    detail={"sha256": version.digest},
                )
                added.append(subject)
    return added
