"""Forged chains and hostile leaves over the real partner endpoint: each gets a SIGNED rejection.

PA (a genuine partner, over mutual TLS with its real TLS certificate) posts
records whose x5c was forged with keys a thief could hold: PA's TLS key, PA's
record-signing key, or hostile but well-formed certificates of PA's own CA.
CO must answer each with a signed ``rejected`` receipt naming the rule the
chain broke, keep it as INVALID for audit, and never show it as VALID on the
console. Certificates and tokens are built with ``cryptography`` alone
(tests/trust/minting.py, tests/trust/forge.py).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from gateway.console import service as console
from gateway.console.schemas import Role
from gateway.exchange.receipts import verify_receipt
from gateway.records.models import StoredRecord
from gateway.trust.keys import load_certificates, load_private_key
from tests.support.exchange import BATCH_PATH, JOSE, partner_client, party_certificate, post_jws, sha256_hex
from tests.support.nodes import TEST_SEED_CIPHER, Cluster, RunningNode
from tests.support.pki import TestPKI
from tests.trust import forge
from tests.trust.minting import (
    CA_USAGE_WITHOUT_CERT_SIGN,
    Authority,
    flag_payload,
    mint,
    name,
    raw_es_token,
    signed_token,
)

LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


@pytest.fixture
def co(shared_receivers: Cluster) -> RunningNode:
    """CO's node, shared by this module (one per backend)."""
    return shared_receivers["CO"]


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pa_ca(pki: TestPKI) -> Authority:
    files = pki.parties["PA"]
    key = load_private_key(files.ca_key)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return Authority(load_certificates(files.ca_cert)[0], key)


def stolen_leaf_token(pki: TestPKI, kind: str) -> str:
    """A PA record whose leaf was minted with PA's TLS (or signing) key: x5c = [leaf, PA's real certificate]."""
    files = pki.parties["PA"]
    cert_path, key_path = (files.tls_cert, files.tls_key) if kind == "tls" else (files.signing_cert, files.signing_key)
    stolen_cert, stolen_key = load_certificates(cert_path)[0], load_private_key(key_path)
    key = new_key()
    rogue = mint(name("PA", f"rogue signer ({kind} key)"), key.public_key(), stolen_cert.subject, stolen_key)
    return signed_token(key, [rogue, stolen_cert], flag_payload(datetime.now(UTC)))


def hostile_token(pki: TestPKI, case: str) -> str:
    """A PA record (addressed to CO) signed under a hostile but well-formed certificate of ``case``."""
    payload, ca, key = flag_payload(datetime.now(UTC)), pa_ca(pki), new_key()
    if case == "rsa-leaf":
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return raw_es_token(rsa_key, [ca.issue(name("PA", "rsa"), rsa_key.public_key())], payload, "rsa")
    if case == "p384-leaf":
        p384 = ec.generate_private_key(ec.SECP384R1())
        leaf = ca.issue(name("PA", "p384"), p384.public_key())
        return raw_es_token(p384, [leaf], payload, forge.jwk_thumbprint(key.public_key()))
    if case == "unknown-critical-extension":
        return signed_token(key, [ca.issue(name("PA", "crit"), key.public_key(), unknown_extension=True)], payload)
    if case == "issued-by-leaf-without-basic-constraints":
        bare_key = new_key()
        bare = ca.issue(name("PA", "bare"), bare_key.public_key(), basic_constraints=False)
        return signed_token(key, [mint(name("PA", "below"), key.public_key(), bare.subject, bare_key), bare], payload)
    if case == "intermediate-without-keycertsign":
        sub = ca.sub_ca("PA intermediate", key_usage=CA_USAGE_WITHOUT_CERT_SIGN)
        return signed_token(key, [sub.issue(name("PA", "leaf"), key.public_key()), sub.cert], payload)
    if case == "path-length-exceeded":  # PA's root allows one CA below it
        upper = ca.sub_ca("PA upper")
        lower = upper.sub_ca("PA lower")
        return signed_token(key, [lower.issue(name("PA", "leaf"), key.public_key()), lower.cert, upper.cert], payload)
    if case == "tls-certificate-signs":
        files = pki.parties["PA"]
        tls_key = load_private_key(files.tls_key)
        return signed_token(tls_key, load_certificates(files.tls_cert), payload)
    if case == "non-ascii-kid":
        leaf = ca.issue(name("PA", "leaf"), key.public_key())
        return signed_token(key, [leaf], payload, kid="clé-ñ-😀")
    raise AssertionError(case)


HOSTILE = {
    "rsa-leaf": "key_usage",
    "p384-leaf": "key_usage",
    "unknown-critical-extension": "unknown_critical_extension",
    "issued-by-leaf-without-basic-constraints": "issuer_not_ca",
    "intermediate-without-keycertsign": "issuer_not_ca",
    "path-length-exceeded": "path_length_exceeded",
    "tls-certificate-signs": "key_purpose",
    "non-ascii-kid": "unknown_key",
}


def stored(node: RunningNode, jws: str) -> StoredRecord:
    with node.node.transaction() as session:
        return session.scalars(
            select(StoredRecord).where(StoredRecord.jws_sha256 == sha256_hex(jws), StoredRecord.direction == "in")
        ).one()


def assert_signed_rejection(pki: TestPKI, node: RunningNode, jws: str, receipt_jws: str, reason: str) -> None:
    """The receipt verifies as CO's, names these bytes, rejects them with ``reason``; the row says the same."""
    receipt = verify_receipt(
        receipt_jws, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(jws)
    ).payload
    assert (receipt.verdict.value, receipt.reason_code, receipt.sender) == ("rejected", reason, "PA"), receipt.reason
    row = stored(node, jws)
    assert (row.verification, row.verification_reason, row.status) == ("invalid", reason, "failed_verification")
    assert row.accepted_record_id is None


def post_as_pa(pki: TestPKI, node: RunningNode, jws: str, tmp_path: Path) -> httpx.Response:
    with partner_client(pki, node.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
        return post_jws(client, jws)


# -- console over the agency listener ----------------------------------------------------------


@contextmanager
def console_session(node: RunningNode) -> Iterator[httpx.Client]:
    """An httpx client signed in to ``node``'s console as a new viewer (real sockets)."""
    with node.node.transaction() as session:
        officer = console.create_officer(
            session,
            f"viewer-{uuid.uuid4().hex[:8]}",
            Role.VIEWER,
            node.node.now(),
            issuer="test",
            password_change_required=False,
            cipher=TEST_SEED_CIPHER,
        )
    with httpx.Client(base_url=node.agency_url, timeout=10) as client:
        form = client.get("/console/login")
        assert form.status_code == 200, form.text
        match = LOGIN_TOKEN.search(form.text)
        assert match is not None, form.text
        signed = client.post(
            "/console/login",
            data={
                "username": officer.username,
                "password": officer.password,
                "code": pyotp.TOTP(officer.totp_secret).now(),
                "login_token": match.group(1),
                "next": "/console/inbox",
            },
        )
        assert signed.status_code == 303, signed.text
        yield client


# -- 1. a leaf minted with PA's TLS key or its signing key --------------------------------------


@pytest.mark.parametrize("kind", ["tls", "signing"])
def test_leaf_minted_with_an_end_entity_key_gets_a_signed_issuer_not_ca_rejection(
    kind: str, pki: TestPKI, co: RunningNode, tmp_path: Path
) -> None:
    jws = stolen_leaf_token(pki, kind)
    response = post_as_pa(pki, co, jws, tmp_path)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == JOSE
    assert response.headers["x-receipt-verdict"] == "rejected"
    assert_signed_rejection(pki, co, jws, response.text, "issuer_not_ca")

    # The console lists it as INVALID with its reason, never as VALID.
    row = stored(co, jws)
    with console_session(co) as console_client:
        page = console_client.get(f"/console/records/{row.pk}")
    assert page.status_code == 200, page.text
    assert 'id="verification-verdict">INVALID<' in page.text
    assert 'id="verification-verdict">VALID<' not in page.text
    assert "issuer_not_ca" in page.text

    # A replay is answered with the same signed rejection.
    again = post_as_pa(pki, co, jws, tmp_path)
    assert (again.status_code, again.content) == (200, response.content)


def test_control_the_same_record_from_the_real_signing_key_is_accepted(
    pki: TestPKI, co: RunningNode, tmp_path: Path
) -> None:
    files = pki.parties["PA"]
    key = load_private_key(files.signing_key)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    jws = signed_token(key, load_certificates(files.signing_cert), flag_payload(datetime.now(UTC)))
    response = post_as_pa(pki, co, jws, tmp_path)
    assert response.status_code == 201, response.text
    receipt = verify_receipt(
        response.text, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(jws)
    ).payload
    assert (receipt.verdict.value, receipt.reason_code) == ("accepted", None)
    row = stored(co, jws)
    with console_session(co) as console_client:
        page = console_client.get(f"/console/records/{row.pk}")
    assert 'id="verification-verdict">VALID<' in page.text  # the marker the test above looks for


# -- 4. hostile but well-formed leaves ---------------------------------------------------------


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_leaf_gets_a_signed_rejection(case: str, pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    jws = hostile_token(pki, case)
    response = post_as_pa(pki, co, jws, tmp_path)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == JOSE
    assert response.headers["x-receipt-verdict"] == "rejected"
    assert_signed_rejection(pki, co, jws, response.text, HOSTILE[case])


def test_hostile_leaves_in_one_batch_each_get_a_signed_rejection(pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    cases = sorted(HOSTILE)
    tokens = [hostile_token(pki, case) for case in cases]
    with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
        response = client.post(
            BATCH_PATH, content=json.dumps({"records": tokens}), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["index"], r["status"], r["verdict"]) for r in results] == [
        (i, 201, "rejected") for i in range(len(cases))
    ]
    for case, token, result in zip(cases, tokens, results, strict=True):
        assert_signed_rejection(pki, co, token, result["receipt"], HOSTILE[case])


def test_leaf_without_basic_constraints_from_the_party_ca_is_accepted(
    pki: TestPKI, co: RunningNode, tmp_path: Path
) -> None:
    """RFC 5280 4.2.1.9 lets an end entity omit basicConstraints: such a leaf of PA's own CA is PA's signer."""
    key = new_key()
    bare = pa_ca(pki).issue(name("PA", "bare signer"), key.public_key(), basic_constraints=False)
    jws = signed_token(key, [bare], flag_payload(datetime.now(UTC)))
    response = post_as_pa(pki, co, jws, tmp_path)
    assert response.status_code == 201, response.text
    receipt = verify_receipt(
        response.text, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(jws)
    ).payload
    assert (receipt.verdict.value, receipt.reason_code) == ("accepted", None)
