"""Terms files: loading YAML, the content digest, and the parties' detached signatures.

The digest is SHA-256 over the RFC 8785 canonical JSON of the validated terms
without their signatures, so reformatting the YAML changes nothing and any
change of content invalidates every signature. Each party signs a small
statement ``{terms_id, version, sha256, party}`` as a detached compact JWS.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.records.schemas import describe_validation_error
from gateway.terms.errors import TermsFileError, TermsSignatureError
from gateway.terms.schemas import Signature, Terms
from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import SchemaViolationError, TrustError
from gateway.trust.jws import TERMS_SIGNATURE_TYP, b64url_encode, sign_compact
from gateway.trust.keys import SigningKey
from gateway.trust.verify import verify_compact


def parse_terms(document: Any, source: str = "terms") -> Terms:
    """Validate a parsed terms document; raises TermsFileError naming the fields."""
    try:
        return Terms.model_validate(document)
    except ValidationError as exc:
        raise TermsFileError(f"{source}: {describe_validation_error(exc)}") from exc


def load_terms(path: Path) -> Terms:
    """Load and validate a terms YAML file; raises TermsFileError."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise TermsFileError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TermsFileError(f"{path} is not valid YAML: {exc}") from exc
    return parse_terms(document, str(path))


def terms_json(terms: Terms, *, with_signatures: bool = False) -> dict[str, Any]:
    exclude = None if with_signatures else {"signatures"}
    return terms.model_dump(mode="json", by_alias=True, exclude=exclude)


def terms_digest(terms: Terms) -> str:
    """Return the hex SHA-256 of the canonical terms content (signatures excluded)."""
    return hashlib.sha256(canonicalize(terms_json(terms))).hexdigest()


def statement(terms: Terms, party: str) -> bytes:
    """Return the canonical statement a party signs for ``terms``."""
    return canonicalize(
        {"terms_id": terms.terms_id, "version": terms.version, "sha256": terms_digest(terms), "party": party}
    )


def sign_terms(terms: Terms, party: str, key: SigningKey) -> Terms:
    """Return ``terms`` with ``party``'s detached signature added (replacing an older one)."""
    if party not in terms.party_codes():
        raise TermsSignatureError(f"{party} is not a party to {terms.terms_id}")
    header, _payload, signature = sign_compact(statement(terms, party), key, TERMS_SIGNATURE_TYP).split(".")
    others = [s for s in terms.signatures if s.party != party]
    signed = [*others, Signature(party=party, jws=f"{header}..{signature}")]
    return terms.model_copy(update={"signatures": sorted(signed, key=lambda s: s.party)})


@dataclass(frozen=True)
class SignatureCheck:
    party: str
    valid: bool
    detail: str


def check_signature(terms: Terms, signature: Signature, bundle: TrustBundle, at: datetime) -> SignatureCheck:
    """Verify one party's detached signature over this exact terms content."""
    expected = statement(terms, signature.party)
    header, _, sig = signature.jws.partition("..")
    compact = f"{header}.{b64url_encode(expected)}.{sig}"

    def parse(document: Any) -> dict[str, Any]:
        if canonicalize(document) != expected:
            raise SchemaViolationError("statement does not match these terms")
        return dict(document)

    try:
        verify_compact(
            compact,
            bundle=bundle,
            at=at,
            typ=TERMS_SIGNATURE_TYP,
            parse=parse,
            claimed_party=lambda document: str(document["party"]),
        )
    except TrustError as exc:
        return SignatureCheck(signature.party, False, f"{exc.reason}: {exc.detail}")
    return SignatureCheck(signature.party, True, "valid")


def check_signatures(terms: Terms, bundle: TrustBundle, at: datetime) -> dict[str, SignatureCheck]:
    """Return party → result for every party of the terms (missing ones included)."""
    results = {party: SignatureCheck(party, False, "not signed") for party in terms.party_codes()}
    for signature in terms.signatures:
        results[signature.party] = check_signature(terms, signature, bundle, at)
    return results


def dump_terms(terms: Terms, path: Path, *, header: str = "") -> None:
    """Write ``terms`` as YAML (keeping a leading comment block when given)."""
    body = yaml.safe_dump(terms_json(terms, with_signatures=True), sort_keys=False, allow_unicode=True, width=100)
    path.write_text(header + body, "utf-8")


def with_signatures(text: str, signed: Terms, source: str = "terms") -> str:
    """Return the YAML ``text`` with its top-level ``signatures:`` block set to ``signed``'s signatures.

    Everything else in the file — comments, key order, quoting — is kept byte
    for byte: the signatures are the only part a signing party changes, and
    the digest covers the parsed content, not the text. A file without the
    block gets it appended. Raises TermsFileError when the result does not
    read back as exactly ``signed`` (a layout this simple edit cannot handle).
    """
    block = "signatures:\n" + "".join(f"  - party: {s.party}\n    jws: {s.jws}\n" for s in signed.signatures)
    if not signed.signatures:
        block = "signatures: []\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"signatures\s*:", line)), None)
    if start is None:
        result = text + ("" if text.endswith("\n") or not text else "\n") + block
    else:
        end = next(
            (j for j in range(start + 1, len(lines)) if re.match(r"[A-Za-z_\"']", lines[j])),
            len(lines),
        )
        result = "".join([*lines[:start], block, *lines[end:]])
    if terms_json(parse_terms(yaml.safe_load(result), source), with_signatures=True) != terms_json(
        signed, with_signatures=True
    ):
        raise TermsFileError(f"{source}: the signatures could not be written without changing the rest")
    return result


def terms_for_parties(terms: Terms, parties: list[str], terms_id: str) -> Terms:
    """Return unsigned version 1 of ``terms`` for ``parties`` only: their flows, each to them alone.

    A flow from a party left out is dropped; a flow to several parties keeps
    only those given, and is dropped when none is left. Raises
    TermsFileError for a party the terms do not name, or fewer than two.
    """
    known = terms.party_codes()
    unknown = [p for p in parties if p not in known]
    if unknown:
        raise TermsFileError(f"{', '.join(unknown)} not a party of {terms.terms_id} (its parties: {', '.join(known)})")
    if len(set(parties)) < 2:
        raise TermsFileError("terms need at least two parties")
    flows = []
    for flow in terms.flows:
        to = [p for p in flow.to if p in parties]
        if flow.from_party in parties and to:
            flows.append(flow.model_copy(update={"to": to}))
    if not flows:
        raise TermsFileError(f"{terms.terms_id} has no flow between {', '.join(parties)}")
    document = terms_json(terms)
    document.update(
        terms_id=terms_id,
        version=1,
        title=f"{'-'.join(parties)} terms, from: {terms.title}"[:300],
        parties=[p for p in document["parties"] if p["code"] in parties],
        flows=[f.model_dump(mode="json", by_alias=True, exclude_none=True) for f in flows],
    )
    document["parties"] = [{k: v for k, v in p.items() if k != "joined_in"} for p in document["parties"]]
    return parse_terms(document, terms_id)


def leading_comments(path: Path) -> str:
    """Return the file's leading ``#`` comment lines (kept when the file is rewritten)."""
    lines = []
    for line in path.read_text("utf-8").splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


EXAMPLE_TERMS = Path(__file__).resolve().parents[2] / "deploy" / "terms" / "pa-co-us.yaml"


def signed_copy(source: Path, out: Path, keys: dict[str, SigningKey]) -> Terms:
    """Write ``source`` signed by every party in ``keys`` to ``out``; returns the signed terms."""
    terms = load_terms(source)
    for party, key in sorted(keys.items()):
        terms = sign_terms(terms, party, key)
    out.parent.mkdir(parents=True, exist_ok=True)
    dump_terms(terms, out, header=leading_comments(source))
    return terms
