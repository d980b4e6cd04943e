"""Write the golden JWS vectors (tests/vectors/jws_*.json), one per ``typ`` the gateway signs.

Run by hand from the repository root, never by the tests:

    .venv/bin/python tests/vectors/make_jws_vectors.py

Every key is generated here and dropped when the script ends: the vectors hold
public certificates (in the trust bundle and in each token's x5c) and tokens,
never a private key. Certificates come from gateway.trust.pki (make_root_ca,
issue_certificate, make_crl), so a change in what the gateway issues (a new
extension, another extended key usage) reaches the vectors by running this
script again. All times are fixed (FIXED_TIME), so the tests verify each vector
at the moment it was made, long after the certificates' issue.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from gateway.exchange.receipts import issue_receipt
from gateway.ledger.checkpoints import sign_body
from gateway.ledger.schemas import CheckpointBody
from gateway.records.schemas import Receipt, Verdict
from gateway.records.signing import build_record, sign_record
from gateway.terms.document import EXAMPLE_TERMS, load_terms, sign_terms, terms_json
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.bundle_update import sign_trust_update
from gateway.trust.jws import (
    CHECKPOINT_TYP,
    RECEIPT_TYP,
    RECORD_TYP,
    TERMS_SIGNATURE_TYP,
    TRUST_UPDATE_TYP,
)
from gateway.trust.keys import KeyKind, PrivateKey, SigningKey, generate_private_key
from gateway.trust.pki import issue_certificate, make_crl, make_root_ca

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "schemas" / "examples"
FIXED_TIME = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # every certificate, CRL and document is made "now" = this
VERIFY_AT = FIXED_TIME + timedelta(hours=1)  # when the tests verify them
PARTIES = ("PA", "CO", "US")
BUNDLE_FILE = "jws_trust_bundle.json"


def _ca(party: str) -> tuple[PrivateKey, Any]:
    key = generate_private_key("ec-p256")
    return key, make_root_ca(party, key, days=3650, now=FIXED_TIME)


def _signing_key(party: str, ca_key: PrivateKey, ca_cert: Any, kind: KeyKind = "ec-p256") -> SigningKey:
    key = generate_private_key(kind)
    cert = issue_certificate(
        party, "signing", key, ca_cert, ca_key, not_before=FIXED_TIME - timedelta(minutes=5), days=3650
    )
    return SigningKey(key, (cert,))


def _draft(record_type: str) -> dict[str, Any]:
    draft: dict[str, Any] = json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8"))
    return draft


def _header_and_payload(jws: str) -> tuple[dict[str, Any], Any]:
    raw_header, raw_payload, _ = jws.split(".")
    header = json.loads(base64.urlsafe_b64decode(raw_header + "=" * (-len(raw_header) % 4)))
    payload = json.loads(base64.urlsafe_b64decode(raw_payload + "=" * (-len(raw_payload) % 4))) if raw_payload else None
    return header, payload


def _vector(name: str, what: str, typ: str, verifier: str, signer: str, jws: str, **context: Any) -> dict[str, Any]:
    header, payload = _header_and_payload(jws)
    return {
        "name": name,
        "description": what,
        "typ": typ,
        "verifier": verifier,
        "verify_at": VERIFY_AT.isoformat().replace("+00:00", "Z"),
        "bundle": BUNDLE_FILE,
        "signer_party": signer,
        "header": header,
        "payload": payload,
        "context": context,
        "jws": jws,
    }


def make() -> dict[str, dict[str, Any]]:
    """Return file name → vector (and the bundle), all made with fresh keys."""
    cas = {party: _ca(party) for party in PARTIES}
    keys = {party: _signing_key(party, *cas[party]) for party in PARTIES}
    pa_ed25519 = _signing_key("PA", *cas["PA"], kind="ed25519")
    trust = {
        party: PartyTrust(party, (ca,), (make_crl(ca, key, [], now=FIXED_TIME, days=3650),))
        for party, (key, ca) in cas.items()
    }
    bundle = TrustBundle(trust)

    flag = sign_record(build_record(_draft("criminal_network_flag"), FIXED_TIME), keys["PA"])
    flag_ed25519 = sign_record(build_record(_draft("removal_manifest"), FIXED_TIME), pa_ed25519)
    consent = sign_record(build_record(_draft("onward_sharing_consent"), FIXED_TIME), keys["PA"])
    receipt = issue_receipt(
        Receipt(
            record_id=UUID(str(flag.record.record_id)),
            jws_sha256=flag.jws_sha256,
            received_at=FIXED_TIME + timedelta(seconds=2),
            receiver="CO",
            sender="PA",
            verdict=Verdict.ACCEPTED,
            ledger_index=0,
        ),
        keys["CO"],
    )
    checkpoint = sign_body(
        CheckpointBody(
            origin="co.mou-gateway.example",
            party="CO",
            tree_size=1,
            root_hash=hashlib.sha256(b"\x00" + flag.jws_sha256.encode("ascii")).hexdigest(),
            signed_at=FIXED_TIME + timedelta(seconds=3),
        ),
        keys["CO"],
    )
    terms = load_terms(EXAMPLE_TERMS)
    signed_terms = sign_terms(terms, "PA", keys["PA"])
    terms_signature = next(s.jws for s in signed_terms.signatures if s.party == "PA")
    raw_header, _, raw_signature = terms_signature.partition("..")
    update = sign_trust_update(
        PartyTrust("PA", trust["PA"].cas, trust["PA"].crls, sequence=1), keys["PA"], FIXED_TIME + timedelta(minutes=1)
    )

    vectors = {
        "jws_record.json": _vector(
            "record-es256", "A criminal_network_flag record from PA, ES256", RECORD_TYP, "record", "PA", flag.jws
        ),
        "jws_record_ed25519.json": _vector(
            "record-ed25519",
            "A removal_manifest record from PA signed with an Ed25519 key (RFC 9864 alg Ed25519)",
            RECORD_TYP,
            "record",
            "PA",
            flag_ed25519.jws,
        ),
        "jws_consent.json": _vector(
            "consent",
            "An onward_sharing_consent record from PA (a record JWS)",
            RECORD_TYP,
            "record",
            "PA",
            consent.jws,
        ),
        "jws_receipt.json": _vector(
            "receipt",
            "CO's accepted receipt for the record of jws_record.json",
            RECEIPT_TYP,
            "receipt",
            "CO",
            receipt,
            receiver="CO",
            jws_sha256=flag.jws_sha256,
        ),
        "jws_checkpoint.json": _vector(
            "checkpoint", "CO's signed tree head (tree_size 1)", CHECKPOINT_TYP, "checkpoint", "CO", checkpoint
        ),
        "jws_terms_signature.json": {
            **_vector(
                "terms-signature",
                "PA's detached signature (header..signature) over the example terms' statement",
                TERMS_SIGNATURE_TYP,
                "terms_signature",
                "PA",
                f"{raw_header}..{raw_signature}",
                party="PA",
                terms=terms_json(terms),
            ),
        },
        "jws_trust_update.json": _vector(
            "trust-update",
            "PA's signed trust update (its CA and CRL, sequence 1)",
            TRUST_UPDATE_TYP,
            "trust_update",
            "PA",
            update,
        ),
    }
    return {BUNDLE_FILE: json.loads(bundle.to_json()), **vectors}


def main() -> None:
    for name, content in make().items():
        (HERE / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", "utf-8")
        print(f"wrote tests/vectors/{name}")


if __name__ == "__main__":
    main()
