"""Generate the partner-protocol test vectors of docs/vectors/ (see README.md there).

    .venv/bin/python docs/vectors/make_vectors.py [OUT_DIR]

Keys are made afresh on every run and thrown away: no private key is ever
written to OUT_DIR, only certificates, the trust bundle and signed documents.
The signatures therefore differ from run to run (ES256 is randomised, and the
certificates are new); everything else — file names, record contents, expected
outcomes, Merkle entries, roots and proofs — is the same on every run.
``tests/conformance/test_vectors.py`` checks that the committed vectors still
verify as index.json says, and that a fresh run produces the same set.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

from gateway.exchange.receipts import issue_receipt  # noqa: E402
from gateway.ledger.checkpoints import sign_body  # noqa: E402
from gateway.ledger.merkle import leaf_hash  # noqa: E402
from gateway.ledger.schemas import CheckpointBody  # noqa: E402
from gateway.ledger.service import entry_bytes  # noqa: E402
from gateway.ledger.tree import consistency_path, inclusion_path, merkle_tree_hash  # noqa: E402
from gateway.records.schemas import Receipt, Verdict, record_json  # noqa: E402
from gateway.records.signing import build_record  # noqa: E402
from gateway.trust.bundle import TrustBundle  # noqa: E402
from gateway.trust.bundle_update import sign_trust_update  # noqa: E402
from gateway.trust.canonical import canonicalize  # noqa: E402
from gateway.trust.jws import RECEIPT_TYP, RECORD_TYP, b64url_decode, b64url_encode, sign_compact  # noqa: E402
from gateway.trust.keys import KeyKind, SigningKey, generate_private_key, load_private_key, write_private_key  # noqa: E402
from gateway.trust.pki import PartyFiles, issue_certificate, make_crl, make_root_ca, write_bundle_entry  # noqa: E402

EXAMPLES = ROOT / "schemas" / "examples"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# Fixed record ids and times, so that every run describes the same records.
NOT_BEFORE = datetime(2026, 11, 1, tzinfo=UTC)
CREATED_AT = "2026-12-01T09:00:00Z"
VERIFY_AT = "2026-12-02T12:00:00Z"
RECEIVED_AT = "2026-12-01T09:00:05Z"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fixed_id(n: int) -> str:
    """A fixed UUIDv7 (version 7, RFC 9562 variant), the n-th of the vectors."""
    return f"0193e0a0-0000-7000-8000-{n:012x}"


class Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.index: list[dict[str, Any]] = []

    def add(self, name: str, text: str, **facts: Any) -> str:
        path = self.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "ascii")
        self.index.append({"file": name, **facts})
        return text


def document(record_type: str, n: int, **changes: Any) -> dict[str, Any]:
    draft = json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8"))
    draft.update(record_id=fixed_id(n), created_at=CREATED_AT)
    draft.update(changes)
    return record_json(build_record(draft, datetime.now(UTC)))


def with_header(jws: str, **changes: Any) -> str:
    header, payload, signature = jws.split(".")
    values = json.loads(b64url_decode(header))
    values.update(changes)
    return ".".join([b64url_encode(json.dumps(values, separators=(",", ":")).encode()), payload, signature])


def make_party(party: str, root: Path, key_kind: KeyKind) -> PartyFiles:
    """A party's PKI valid from NOT_BEFORE for ten years, so the vectors verify at VERIFY_AT for years."""
    files = PartyFiles(root)
    ca_key = generate_private_key("ec-p256")
    ca = make_root_ca(party, ca_key, now=NOT_BEFORE)
    root.mkdir(parents=True)
    files.ca_cert.write_bytes(ca.public_bytes(Encoding.PEM))
    for kind, cert_path, key_path, kind_of_key in (
        ("tls", files.tls_cert, files.tls_key, "ec-p256"),
        ("signing", files.signing_cert, files.signing_key, key_kind),
    ):
        key = generate_private_key(kind_of_key)  # type: ignore[arg-type]
        cert = issue_certificate(party, kind, key, ca, ca_key, hosts=("localhost",), not_before=NOT_BEFORE, days=3650)  # type: ignore[arg-type]
        write_private_key(key_path, key)  # the temporary directory only
        cert_path.write_bytes(cert.public_bytes(Encoding.PEM))
    files.crl.write_bytes(make_crl(ca, ca_key, [], now=NOT_BEFORE, days=3650).public_bytes(Encoding.PEM))
    write_bundle_entry(files, party)
    return files


PARTIES: dict[str, KeyKind] = {"PA": "ec-p256", "CO": "ed25519", "US": "ec-p256"}  # CO signs with Ed25519


def make_pki(work: Path) -> tuple[dict[str, PartyFiles], TrustBundle]:
    files = {party: make_party(party, work / party.lower(), kind) for party, kind in PARTIES.items()}
    return files, TrustBundle.merge(TrustBundle.load(f.bundle_entry) for f in files.values())


def records(writer: Writer, keys: dict[str, SigningKey], pa_tls: SigningKey) -> dict[str, str]:
    """Valid records of every type, then one invalid record per reason code a verifier must give."""
    pa = keys["PA"]
    signed: dict[str, str] = {}
    types = sorted(p.stem for p in EXAMPLES.glob("*.json"))
    for n, record_type in enumerate(types, start=1):
        payload = document(record_type, n)
        signer = payload["originator"]["party"]  # each example is signed by its own originator
        jws = sign_compact(canonicalize(payload), keys[signer], RECORD_TYP)
        name = f"records/valid-{record_type}.jws"
        signed[name] = writer.add(
            name, jws, kind="record", expect="valid", signer=signer, alg=keys[signer].algorithm,
            record_id=payload["record_id"], jws_sha256=sha256_hex(jws.encode()),
        )  # fmt: skip
    flag = document("criminal_network_flag", 100)
    good = sign_compact(canonicalize(flag), pa, RECORD_TYP)
    header, payload_segment, signature = good.split(".")

    altered = dict(flag, legal_basis=flag["legal_basis"] + " (altered)")
    raw_signature = b64url_decode(signature)
    high_s = (P256_ORDER - int.from_bytes(raw_signature[32:], "big")).to_bytes(32, "big")
    ca_key = generate_private_key("ec-p256")
    rogue_ca = make_root_ca("PA", ca_key)
    rogue_key = generate_private_key("ec-p256")
    rogue = SigningKey(rogue_key, (issue_certificate("PA", "signing", rogue_key, rogue_ca, ca_key),))
    expired = document(
        "criminal_network_flag", 101, expires_at="2026-12-02T00:00:00Z", review_due="2026-12-01T12:00:00Z"
    )
    claims_co = {"originator": {**flag["originator"], "party": "CO"}, "recipients": ["PA", "US"]}
    invalid: list[tuple[str, str, str]] = [
        (
            "bad_signature",
            f"{header}.{b64url_encode(canonicalize(altered))}.{signature}",
            "payload changed after signing",
        ),
        ("alg_not_allowed", with_header(good, alg="HS256"), "alg HS256"),
        ("unknown_key", with_header(good, kid="A" * 43), "kid is not the thumbprint of x5c[0]"),
        (
            "untrusted_chain",
            sign_compact(canonicalize(flag), rogue, RECORD_TYP),
            "signed under a CA outside the bundle",
        ),
        ("key_purpose", sign_compact(canonicalize(flag), pa_tls, RECORD_TYP), "signed with a TLS certificate"),
        (
            "signature_malleable",
            f"{header}.{payload_segment}.{b64url_encode(raw_signature[:32] + high_s)}",
            "high-S twin",
        ),
        ("schema_violation", sign_compact(canonicalize({**flag, "colour": "blue"}), pa, RECORD_TYP), "unknown member"),
        (
            "schema_violation",
            sign_compact(json.dumps(flag, indent=1).encode(), pa, RECORD_TYP),
            "payload not RFC 8785 canonical",
        ),
        ("record_expired", sign_compact(canonicalize(expired), pa, RECORD_TYP), "expires_at before verify_at"),
        (
            "party_mismatch",
            sign_compact(canonicalize({**flag, **claims_co}), pa, RECORD_TYP),
            "originator CO, signed by PA",
        ),
        ("malformed_jws", sign_compact(canonicalize(flag), pa, RECEIPT_TYP), "typ mou-receipt+jws"),
    ]
    seen: dict[str, int] = {}
    for reason, jws, note in invalid:
        seen[reason] = seen.get(reason, 0) + 1
        name = f"records/invalid-{reason}{'' if seen[reason] == 1 else f'-{seen[reason]}'}.jws"
        writer.add(name, jws, kind="record", expect=reason, note=note, jws_sha256=sha256_hex(jws.encode()))
    signed["records/flag-for-receipts.jws"] = writer.add(
        "records/flag-for-receipts.jws", good, kind="record", expect="valid", signer="PA", alg="ES256",
        record_id=flag["record_id"], jws_sha256=sha256_hex(good.encode()),
    )  # fmt: skip
    return signed


def receipts(writer: Writer, co: SigningKey, record: str) -> None:
    digest = sha256_hex(record.encode())
    record_id = json.loads(b64url_decode(record.split(".")[1]))["record_id"]
    at = datetime.fromisoformat(RECEIVED_AT)
    for verdict, reason_code, reason, index in (
        (Verdict.ACCEPTED, None, None, 7),
        (Verdict.REJECTED, "handling_too_permissive", "flow pa-flags-to-co requires handling H2 or stricter", 8),
    ):
        receipt = Receipt(
            record_id=record_id, jws_sha256=digest, received_at=at, receiver="CO", sender="PA",
            verdict=verdict, reason_code=reason_code, reason=reason, ledger_index=index,
        )  # fmt: skip
        writer.add(
            f"receipts/{verdict.value}.jws", issue_receipt(receipt, co), kind="receipt", expect="valid",
            receiver="CO", sender="PA", verdict=verdict.value, reason_code=reason_code,
            record="records/flag-for-receipts.jws", jws_sha256=digest,
        )  # fmt: skip


def ledger(writer: Writer, co: SigningKey) -> None:
    at = datetime.fromisoformat(RECEIVED_AT)
    entries = [
        {
            "index": i,
            "event": "exchange:record:received" if i % 3 else "exchange:record:rejected",
            "actor": "party:PA",
            "subject": fixed_id(200 + i),
            "at": (at + timedelta(seconds=i)).isoformat(),
            "detail_sha256": sha256_hex(f"detail {i}".encode()),
        }
        for i in range(11)
    ]
    leaves = [
        leaf_hash(
            entry_bytes(
                e["index"], e["event"], e["actor"], e["subject"], datetime.fromisoformat(e["at"]), e["detail_sha256"]
            )
        )
        for e in entries
    ]
    body = CheckpointBody(
        origin="co.vectors.example", party="CO", tree_size=len(leaves),
        root_hash=merkle_tree_hash(leaves).hex(), signed_at=datetime.fromisoformat(VERIFY_AT),
    )  # fmt: skip
    writer.add("checkpoint.jws", sign_body(body, co), kind="checkpoint", expect="valid", party="CO",
               tree_size=body.tree_size, root_hash=body.root_hash)  # fmt: skip
    document_ = {
        "hashing": "RFC 9162 (SHA-256): leaf = SHA-256(0x00 || RFC 8785 JSON of entry), node = SHA-256(0x01 || l || r)",
        "entries": entries,
        "leaf_hashes": [leaf.hex() for leaf in leaves],
        "roots": {str(n): merkle_tree_hash(leaves[:n]).hex() for n in range(len(leaves) + 1)},
        "inclusion": [
            {"index": i, "tree_size": n, "proof": [h.hex() for h in inclusion_path(i, leaves[:n])]}
            for n in (1, 5, 8, 11)
            for i in range(n)
        ],
        "consistency": [
            {"first": m, "second": n, "proof": [h.hex() for h in consistency_path(m, leaves[:n])]}
            for n in (5, 8, 11)
            for m in range(n + 1)
        ],
    }
    writer.add("ledger.json", json.dumps(document_, indent=2) + "\n", kind="ledger", expect="valid")


def generate(out: Path) -> list[dict[str, Any]]:
    """Write every vector under ``out`` (bundle, documents, index.json); returns the index."""
    with tempfile.TemporaryDirectory(prefix="vectors-") as work:
        files, bundle = make_pki(Path(work))
        keys = {party: SigningKey.from_files(f.signing_key, f.signing_cert) for party, f in files.items()}
        pa_files, co = files["PA"], keys["CO"]
        pa_tls = SigningKey(
            load_private_key(pa_files.tls_key), tuple(x509.load_pem_x509_certificates(pa_files.tls_cert.read_bytes()))
        )
        out.mkdir(parents=True, exist_ok=True)
        for stale in [*out.glob("records/*.jws"), *out.glob("receipts/*.jws")]:
            stale.unlink()
        writer = Writer(out)
        writer.add("trust-bundle.json", bundle.to_json(), kind="bundle", expect="valid")
        signed = records(writer, keys, pa_tls)
        receipts(writer, co, signed["records/flag-for-receipts.jws"])
        ledger(writer, co)
        own = bundle.party("CO")
        assert own is not None
        writer.add("trust-update.jws", sign_trust_update(own, co, datetime.fromisoformat(VERIFY_AT)),
                   kind="trust_update", expect="valid", party="CO")  # fmt: skip
    index = {"verify_at": VERIFY_AT, "vectors": writer.index}
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n", "utf-8")
    return writer.index


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = generate(target)
    print(f"wrote {len(written)} vectors to {target}")
