"""The evidence bundle file (``mou-evidence/1``): JSON, every part readable by general tools.

::

    {"format": "mou-evidence/1",
     "exported_by": "CO", "exported_at": "2027-01-05T10:00:00Z",
     "record": "<compact JWS, the bytes that were sent>",
     "trust": {<a mou-trust-bundle/1 document: the CAs and CRLs of every signer below>},
     "receipts": ["<compact receipt JWS>", ...],
     "ledger": {"party": "CO", "checkpoint": "<compact checkpoint JWS>",
                "entries": [{"entry": {<ledger entry, RFC 8785 leaf input>},
                             "leaf_index": 17, "proof": ["<hex>", ...]}]},
     "terms": {<the terms document with every party's detached signature>}}

docs/evidence.md says how to check each part with openssl, a JOSE library and
an RFC 9162 implementation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from gateway.evidence.errors import EvidenceError
from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import PKIError

EVIDENCE_FORMAT: Final = "mou-evidence/1"


@dataclass(frozen=True)
class LedgerProof:
    """Inclusion proofs of a record's ledger entries up to one signed checkpoint of ``party``'s ledger."""

    party: str
    checkpoint: str
    entries: tuple[dict[str, Any], ...]

    def as_json(self) -> dict[str, Any]:
        return {"party": self.party, "checkpoint": self.checkpoint, "entries": list(self.entries)}


@dataclass(frozen=True)
class EvidenceBundle:
    """Everything needed to prove one record offline."""

    exported_by: str
    exported_at: datetime
    record: str
    trust: TrustBundle
    receipts: tuple[str, ...]
    ledger: LedgerProof | None
    terms: dict[str, Any] | None

    def to_json(self) -> str:
        document = {
            "format": EVIDENCE_FORMAT,
            "exported_by": self.exported_by,
            "exported_at": self.exported_at.isoformat().replace("+00:00", "Z"),
            "record": self.record,
            "trust": json.loads(self.trust.to_json()),
            "receipts": list(self.receipts),
            "ledger": self.ledger.as_json() if self.ledger is not None else None,
            "terms": self.terms,
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _part(document: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = document.get(name)
    if not isinstance(value, kind):
        raise EvidenceError(name, f"missing or not a {getattr(kind, '__name__', 'value')}")
    return value


def parse_evidence(data: bytes) -> EvidenceBundle:
    """Return the bundle in ``data``; raises EvidenceError naming the part that cannot be read."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvidenceError("file", f"not JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != EVIDENCE_FORMAT:
        raise EvidenceError("format", f"not a {EVIDENCE_FORMAT} document")
    try:
        exported_at = datetime.fromisoformat(str(document.get("exported_at")).replace("Z", "+00:00"))
    except ValueError as exc:
        raise EvidenceError("exported_at", "not an RFC 3339 time") from exc
    try:
        trust = TrustBundle.from_json(json.dumps(_part(document, "trust", dict)), "trust")
    except PKIError as exc:
        raise EvidenceError("trust", exc.detail) from exc
    receipts = _part(document, "receipts", list)
    if not all(isinstance(r, str) for r in receipts):
        raise EvidenceError("receipts", "every receipt must be a compact JWS string")
    ledger_part = document.get("ledger")
    ledger = None
    if ledger_part is not None:
        if not isinstance(ledger_part, dict):
            raise EvidenceError("ledger", "not an object")
        entries = _part(ledger_part, "entries", list)
        ledger = LedgerProof(
            str(_part(ledger_part, "party", str)), _part(ledger_part, "checkpoint", str), tuple(entries)
        )
    terms = document.get("terms")
    if terms is not None and not isinstance(terms, dict):
        raise EvidenceError("terms", "not an object")
    return EvidenceBundle(
        exported_by=str(document.get("exported_by")),
        exported_at=exported_at,
        record=_part(document, "record", str),
        trust=trust,
        receipts=tuple(receipts),
        ledger=ledger,
        terms=terms,
    )
