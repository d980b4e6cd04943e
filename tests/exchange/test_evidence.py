"""Evidence bundles: export a delivered record, verify it offline later, refuse any altered part.

One PA→CO/US exchange per backend (its own PKI, so revocations here touch no other test);
every test works on the exported bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from gateway.evidence.errors import EvidenceError
from gateway.evidence.service import export_evidence
from gateway.evidence.verify import verify_evidence
from gateway.ledger.checkpoints import checkpoint_if_due
from gateway.trust.bundle import TrustBundle
from gateway.trust.keys import load_certificates
from gateway.trust.longterm import Standing
from gateway.trust.pki import revoke_in_dir
from tests.exchange.test_end_to_end import EXAMPLES, token
from tests.support.databases import DatabaseFactory
from tests.support.nodes import Cluster, start_cluster, wait_for
from tests.support.pki import TestPKI, make_test_pki
from tests.test_cli_offline import gateway_cli


@dataclass
class Exchanged:
    pki: TestPKI
    cluster: Cluster
    record_id: str
    at_pa: bytes  # PA's bundle: its record with CO's and US's receipts, PA's ledger
    at_co: bytes  # CO's bundle: the record it received with its own receipt, CO's ledger
    workdir: Path


@pytest.fixture(scope="module")
def exchanged(
    module_database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Exchanged]:
    root = tmp_path_factory.mktemp("evidence")
    pki = make_test_pki(root / "pki")
    urls = {p: module_database_factory.fresh_url() for p in ("PA", "CO", "US")}
    cluster = start_cluster(pki, urls, root / "nodes")
    try:
        pa = cluster["PA"]
        client_id, secret = pa.add_client()
        headers = {"Authorization": f"Bearer {token(pa.agency_url, client_id, secret)}"}
        draft = json.loads((EXAMPLES / "removal_manifest.json").read_text())
        response = httpx.post(f"{pa.agency_url}/v1/records", json=draft, headers=headers)
        assert response.status_code == 202, response.text
        record_id = str(response.json()["record_id"])

        def delivered() -> bool:
            detail = httpx.get(f"{pa.agency_url}/v1/records/{record_id}", headers=headers).json()
            return [d["status"] for d in detail["deliveries"]] == ["delivered", "delivered"]

        wait_for(delivered)
        bundles: dict[str, bytes] = {}
        for party in ("PA", "CO"):
            node = cluster[party].node
            assert checkpoint_if_due(node, force=True) is not None
            with node.transaction() as session:
                evidence = export_evidence(
                    session,
                    party=party,
                    record_id=record_id,
                    originator="PA",
                    bundle=node.bundle,
                    terms_files=node.settings.terms_files,
                    now=datetime.now(UTC),
                )
            bundles[party] = evidence.to_json().encode()
        yield Exchanged(pki, cluster, record_id, bundles["PA"], bundles["CO"], root)
    finally:
        cluster.stop()


def test_an_exported_bundle_proves_signer_receipt_time_ledger_and_terms(exchanged: Exchanged) -> None:
    proven = verify_evidence(exchanged.at_pa, trust=exchanged.pki.bundle(), now=datetime.now(UTC))
    assert str(proven.record.record_id) == exchanged.record_id
    assert (proven.standing, proven.signer_party, proven.received_by) == (Standing.VALID, "PA", ("CO", "US"))
    assert proven.ledger_party == "PA"
    assert proven.received_before is None  # PA's ledger proves what PA did, not when CO and US received it
    assert "exchange:record:created" in proven.ledger_entries or proven.ledger_entries
    assert proven.terms is not None
    assert proven.terms.startswith(f"{proven.record.terms.id} v{proven.record.terms.version}")
    assert proven.terms_signed_by == ("CO", "PA", "US")
    assert proven.anchors == "your trust bundle"

    at_co = verify_evidence(exchanged.at_co, trust=None, now=datetime.now(UTC))
    assert (at_co.received_by, at_co.ledger_party) == (("CO",), "CO")
    assert at_co.received_before is not None
    assert at_co.received_before >= at_co.received_at.replace(microsecond=0)  # checkpoints carry whole seconds
    assert "exchange:record:received" in at_co.ledger_entries
    assert at_co.anchors.startswith("the CAs in the bundle itself")


def test_after_the_signing_certificate_expired_the_bundle_still_proves_valid_when_received(
    exchanged: Exchanged,
) -> None:
    signing = load_certificates(exchanged.pki.parties["PA"].signing_cert)[0]
    later = signing.not_valid_after_utc + timedelta(days=30)
    proven = verify_evidence(exchanged.at_pa, trust=exchanged.pki.bundle(), now=later)
    assert proven.standing is Standing.VALID_WHEN_RECEIVED
    assert proven.standing_reason.startswith("valid when received on ")
    assert "expired" in proven.standing_reason


def revoked_bundle(
    exchanged: Exchanged, reason: x509.ReasonFlags, invalidity: datetime | None, name: str
) -> TrustBundle:
    """PA's signing certificate revoked now, in a copy of PA's CA directory (the module's PKI stays as it was)."""
    import shutil

    copy = exchanged.workdir / name
    shutil.copytree(exchanged.pki.parties["PA"].root, copy)
    # CRLs carry whole seconds: revoke two seconds on, so the revocation is plainly after the receipt.
    revoke_in_dir(
        copy,
        copy / "signing.pem",
        reason=reason,
        invalidity_date=invalidity,
        now=datetime.now(UTC) + timedelta(seconds=2),
    )
    bundle = exchanged.pki.bundle()
    return TrustBundle({**bundle.parties, "PA": TrustBundle.load(copy / "bundle-entry.json").parties["PA"]})


def test_after_a_superseded_revocation_the_bundle_still_proves_valid_when_received(exchanged: Exchanged) -> None:
    trust = revoked_bundle(exchanged, x509.ReasonFlags.superseded, None, "superseded")
    proven = verify_evidence(exchanged.at_pa, trust=trust, now=datetime.now(UTC) + timedelta(seconds=5))
    assert proven.standing is Standing.VALID_WHEN_RECEIVED
    assert "(superseded) after it was received" in proven.standing_reason


def test_a_key_compromise_dated_before_the_receipt_makes_the_record_suspect(exchanged: Exchanged) -> None:
    proven_first = verify_evidence(exchanged.at_pa, trust=exchanged.pki.bundle(), now=datetime.now(UTC))
    invalidity = proven_first.received_at - timedelta(minutes=1)
    trust = revoked_bundle(exchanged, x509.ReasonFlags.key_compromise, invalidity, "compromised")
    proven = verify_evidence(exchanged.at_pa, trust=trust, now=datetime.now(UTC) + timedelta(seconds=5))
    assert proven.standing is Standing.SUSPECT
    assert "for key_compromise; the key is held compromised since" in proven.standing_reason

    path = exchanged.workdir / "suspect.json"
    path.write_bytes(exchanged.at_pa)
    trust_path = exchanged.workdir / "compromised-trust.json"
    trust_path.write_text(trust.to_json(), "utf-8")
    run = gateway_cli("evidence", "verify", path, "--trust", trust_path)
    assert run.code == 1
    assert run.stdout.startswith("suspect removal_manifest ")


def _changed(text: str, at: int | None = None) -> str:
    """``text`` with one character in its middle (or at ``at``) replaced by another of the same alphabet."""
    i = len(text) // 2 if at is None else at
    # Never a mere change of case: hex reads "a" and "A" as the same nibble.
    replacement = "A" if text[i] not in "aA" else "B"
    return text[:i] + replacement + text[i + 1 :]


def _pem_body_change(pem: str) -> str:
    # A byte inside the DER (not the armour lines), in the to-be-signed part.
    lines = pem.splitlines()
    lines[3] = _changed(lines[3])
    return "\n".join(lines) + "\n"


TAMPERINGS: dict[str, tuple[str, Any]] = {
    "record": ("record", lambda d: {**d, "record": _changed(d["record"], len(d["record"].split(".")[0]) + 40)}),
    "record signature": ("record", lambda d: {**d, "record": _changed(d["record"], len(d["record"]) - 20)}),
    "CA certificate": (
        "trust",
        lambda d: _with(
            d, ["trust", "parties", "PA", "cas", 0], _pem_body_change(d["trust"]["parties"]["PA"]["cas"][0])
        ),
    ),
    "CRL": (
        "trust",
        lambda d: _with(
            d, ["trust", "parties", "PA", "crls", 0], _pem_body_change(d["trust"]["parties"]["PA"]["crls"][0])
        ),
    ),
    "receipt": (
        "receipt 1",
        lambda d: _with(d, ["receipts", 0], _changed(d["receipts"][0], len(d["receipts"][0]) - 20)),
    ),
    "receipt payload": (
        "receipt 1",
        lambda d: _with(d, ["receipts", 0], _changed(d["receipts"][0], len(d["receipts"][0].split(".")[0]) + 30)),
    ),
    "checkpoint": (
        "ledger checkpoint",
        lambda d: _with(
            d, ["ledger", "checkpoint"], _changed(d["ledger"]["checkpoint"], len(d["ledger"]["checkpoint"]) - 20)
        ),
    ),
    "ledger entry": (
        "ledger entry 1",
        lambda d: _with(
            d, ["ledger", "entries", 0, "entry", "actor"], d["ledger"]["entries"][0]["entry"]["actor"] + "x"
        ),
    ),
    "inclusion proof": (
        "ledger entry 1",
        lambda d: _with(d, ["ledger", "entries", 0, "proof", 0], _changed(d["ledger"]["entries"][0]["proof"][0], 5)),
    ),
    "terms document": ("terms", lambda d: _with(d, ["terms", "title"], d["terms"]["title"] + ".")),
    "terms signature": (
        "terms signature of CO",
        lambda d: _with(
            d,
            ["terms", "signatures", [s["party"] for s in d["terms"]["signatures"]].index("CO"), "jws"],
            _changed(d["terms"]["signatures"][[s["party"] for s in d["terms"]["signatures"]].index("CO")]["jws"], -20),
        ),
    ),
    "format": ("format", lambda d: {**d, "format": "mou-evidence/2"}),
}


def _with(document: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(document))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


@pytest.mark.parametrize("what", sorted(TAMPERINGS))
def test_a_bundle_with_one_part_changed_is_refused_naming_the_part(exchanged: Exchanged, what: str) -> None:
    part, change = TAMPERINGS[what]
    document = json.loads(exchanged.at_pa)
    tampered = json.dumps(change(document)).encode()
    assert tampered != exchanged.at_pa
    with pytest.raises(EvidenceError) as refused:
        verify_evidence(tampered, trust=None, now=datetime.now(UTC))
    assert refused.value.part == part, refused.value.detail


def test_the_cli_exports_and_verifies_offline(exchanged: Exchanged, tmp_path: Path) -> None:
    co = exchanged.cluster["CO"].node.settings
    config = tmp_path / "co.toml"
    config.write_text(
        "\n".join(
            [
                'party = "CO"',
                f'database_url = "{co.sqlalchemy_url()}"',
                f'trust_bundle = "{co.trust_bundle}"',
                f"terms_files = {json.dumps([str(p) for p in co.terms_files])}",
                f'data_dir = "{tmp_path}"',
                # The bundle carries the record's JWS: the export opens its sealed body.
                f'kek_file = "{co.kek_file}"',
                f'keystore_url = "{co.keystore_sqlalchemy_url()}"',
            ]
        ),
        "utf-8",
    )
    out = tmp_path / "evidence.json"
    run = gateway_cli("evidence", "export", exchanged.record_id, "--out", out, "--config", config)
    assert run.code == 0, run.stderr
    assert f"evidence of record {exchanged.record_id}: 1 receipt(s)" in run.stdout

    run = gateway_cli("evidence", "verify", out, "--trust", exchanged.pki.bundle_path)
    assert run.code == 0, run.stderr
    assert run.stdout.startswith(f"valid removal_manifest {exchanged.record_id}")
    assert "signed by   PA: " in run.stdout
    assert "received    by CO at " in run.stdout

    tampered = tmp_path / "tampered.json"
    tampered.write_text(out.read_text("utf-8").replace('"format": "mou-evidence/1"', '"format": "x"'), "utf-8")
    run = gateway_cli("evidence", "verify", tampered)
    assert run.code == 1
    assert "format: not a mou-evidence/1 document" in run.error_line

    missing = gateway_cli(
        "evidence", "export", "0190f1f0-0000-7000-8000-000000000000", "--out", out, "--config", config
    )
    assert missing.code == 1
    assert "no valid record 0190f1f0-0000-7000-8000-000000000000 is held here" in missing.error_line


DOCS = Path(__file__).resolve().parents[2] / "docs" / "evidence.md"


def _doc_block(starts_with: str) -> str:
    text = DOCS.read_text("utf-8")
    start = text.index("```python\n" + starts_with) + len("```python\n")
    return text[start : text.index("```", start)]


def test_the_documented_rfc_9162_check_with_the_standard_library_accepts_the_bundle(
    exchanged: Exchanged, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "record.evidence.json").write_bytes(exchanged.at_co)
    monkeypatch.chdir(tmp_path)
    code = _doc_block("import base64, hashlib, json")
    exec(compile(code, str(DOCS), "exec"), {})  # noqa: S102 - the documentation's own snippet

    document = json.loads(exchanged.at_co)
    document["ledger"]["entries"][0]["entry"]["actor"] += "x"
    (tmp_path / "record.evidence.json").write_text(json.dumps(document), "utf-8")
    with pytest.raises(AssertionError):
        exec(compile(code, str(DOCS), "exec"), {})  # noqa: S102


def test_the_documented_joserfc_check_and_receipt_digest_hold(exchanged: Exchanged, tmp_path: Path) -> None:
    import base64
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding
    from joserfc import jws as jose_jws
    from joserfc.jwk import ECKey

    document = json.loads(exchanged.at_pa)
    record = document["record"]
    header = json.loads(base64.urlsafe_b64decode(record.split(".")[0] + "=="))
    signer = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    registry = jose_jws.JWSRegistry(algorithms=["ES256"])
    registry.max_header_length = 16384
    assert jose_jws.deserialize_compact(record, ECKey.import_key(signer.public_key()), registry=registry).payload
    receipt = json.loads(base64.urlsafe_b64decode(document["receipts"][0].split(".")[1] + "=="))
    assert receipt["jws_sha256"] == hashlib.sha256(record.strip().encode()).hexdigest()
    ca = x509.load_pem_x509_certificate(document["trust"]["parties"]["PA"]["cas"][0].encode())
    signer.verify_directly_issued_by(ca)
    assert signer.public_bytes(Encoding.PEM).startswith(b"-----BEGIN CERTIFICATE-----")


def test_the_agency_api_reports_a_records_standing(exchanged: Exchanged) -> None:
    co = exchanged.cluster["CO"]
    client_id, secret = co.add_client(("records:read",))
    headers = {"Authorization": f"Bearer {token(co.agency_url, client_id, secret)}"}
    response = httpx.get(f"{co.agency_url}/v1/records/{exchanged.record_id}/standing", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["standing"], body["originator"], body["revoked"]) == ("valid", "PA", None)
    assert body["reason"] == "valid now and when received"
    assert body["received_at"] is not None
    unknown = httpx.get(f"{co.agency_url}/v1/records/0190f1f0-0000-7000-8000-000000000000/standing", headers=headers)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")


def test_stored_records_stand_valid_when_received_or_suspect_after_revocations(exchanged: Exchanged) -> None:
    from gateway.records import repository
    from gateway.records.standing import count_standings, record_standing

    later = datetime.now(UTC) + timedelta(seconds=5)
    retired = revoked_bundle(exchanged, x509.ReasonFlags.superseded, None, "standing-superseded")
    for party in ("PA", "CO"):  # the sender (partner receipts) and a receiver (its own receipt)
        node = exchanged.cluster[party].node
        with node.transaction() as session:
            [stored] = repository.accepted_copies(session, exchanged.record_id, "PA")
            deliveries = repository.deliveries_of(session, stored.pk)
            now_verdict = record_standing(stored, deliveries, node.bundle, datetime.now(UTC))
            retired_verdict = record_standing(stored, deliveries, retired, later)
            proven = now_verdict.proven_at if now_verdict is not None else later
            compromised = revoked_bundle(
                exchanged, x509.ReasonFlags.key_compromise, proven - timedelta(minutes=1), f"standing-kc-{party}"
            )
            suspect_verdict = record_standing(stored, deliveries, compromised, later)
            counts = count_standings([(stored, deliveries)], compromised, later)
        assert now_verdict is not None
        assert now_verdict.standing is Standing.VALID
        assert retired_verdict is not None
        assert retired_verdict.standing is Standing.VALID_WHEN_RECEIVED
        assert suspect_verdict is not None
        assert suspect_verdict.standing is Standing.SUSPECT
        assert counts[Standing.SUSPECT] == 1
