"""The partner API on bad input: always problem+json 4xx with a stable type, never a 500.

And on good input: a signed receipt that names exactly the bytes that were posted.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.exchange.receipts import verify_receipt
from gateway.records.signing import build_record, sign_record
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import PartyMismatchError, SchemaViolationError
from gateway.trust.jws import RECEIPT_TYP, RECORD_TYP, sign_compact
from gateway.trust.keys import SigningKey
from gateway.trust.pki import init_party
from tests.support.exchange import (
    BATCH_PATH,
    JOSE,
    RECORDS_PATH,
    example_draft,
    mtls_context,
    partner_client,
    party_certificate,
    post_jws,
    record_rows,
    sha256_hex,
    signed_record,
    tampered_copy,
)
from tests.support.nodes import Cluster, RunningNode
from tests.support.pki import TestPKI

PROBLEMS = "https://mou-gateway.example/problems/"
PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def co(shared_receivers: Cluster) -> RunningNode:
    """CO's node, shared by this module (one per backend)."""
    return shared_receivers["CO"]


def pa_client(pki: TestPKI, node: RunningNode, tmp_path: Path) -> AbstractContextManager[httpx.Client]:
    return partner_client(pki, node.partner_url, party_certificate(pki, "PA"), "CO", tmp_path)


def pa_flag(pki: TestPKI, **changes: Any) -> str:
    changes.setdefault("recipients", ["CO"])
    return signed_record(pki, "PA", example_draft("criminal_network_flag", **changes)).jws


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert problem["type"] == PROBLEMS + slug
    assert problem["status"] == status
    assert problem["correlation_id"] == response.headers["x-correlation-id"]
    assert "Traceback" not in response.text
    return problem


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# -- single records ----------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json", "application/jose+json"])
def test_wrong_content_type_is_415(content_type: str | None, pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    before = record_rows(co.node)
    with pa_client(pki, co, tmp_path) as client:
        response = client.post(RECORDS_PATH, content=pa_flag(pki).encode(), headers=headers)
    assert_problem(response, 415, "unsupported-media-type")
    assert record_rows(co.node) == before


def test_media_type_parameters_are_ignored(pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    with pa_client(pki, co, tmp_path) as client:
        response = client.post(
            RECORDS_PATH, content=pa_flag(pki).encode(), headers={"Content-Type": "Application/JOSE; charset=us-ascii"}
        )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_over_the_limit_is_413(framing: str, pki: TestPKI, limited_co: RunningNode, tmp_path: Path) -> None:
    small, before = limited_co, record_rows(limited_co.node)
    jws = pa_flag(pki).encode()
    assert len(jws) > 1024
    content: bytes | Iterator[bytes] = jws
    if framing == "chunked":  # no Content-Length: the limit must hold while streaming
        content = iter([jws[i : i + 512] for i in range(0, len(jws), 512)])
    with pa_client(pki, small, tmp_path) as client:
        response = client.post(RECORDS_PATH, content=content, headers={"Content-Type": JOSE})
        if framing == "chunked":
            assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")
    assert record_rows(small.node) == before


def _jws_with_header(header: dict[str, Any], payload: bytes = b"{}") -> bytes:
    return f"{b64url(json.dumps(header).encode())}.{b64url(payload)}.{b64url(b'sig')}".encode()


MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "not-a-jws": b"hello partner",
    "two-parts": b"eyJhbGciOiJFUzI1NiJ9.e30",
    "empty-signature": b"eyJhbGciOiJFUzI1NiJ9.e30.",
    "non-ascii": "eyJhbGciOiJFUzI1NiJ9.é.c2ln".encode(),
    "padded-base64": b"eyJhbGciOiJFUzI1NiJ9.e30=.c2ln",
    "header-not-json": f"{b64url(b'not json')}.e30.c2ln".encode(),
    "header-is-a-list": f"{b64url(b'[1,2]')}.e30.c2ln".encode(),
    "header-duplicate-key": (b64url(b'{"alg":"ES256","alg":"none"}') + ".e30.c2ln").encode(),
    "typ-missing": _jws_with_header({"alg": "ES256"}),
    "typ-of-a-receipt": _jws_with_header({"alg": "ES256", "typ": RECEIPT_TYP}),
    "jwk-header": _jws_with_header({"alg": "ES256", "typ": RECORD_TYP, "jwk": {"kty": "EC"}}),
    "crit-header": _jws_with_header({"alg": "ES256", "typ": RECORD_TYP, "crit": ["exp"]}),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_jws_is_422_malformed_jws(case: str, pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    before = record_rows(co.node)
    with pa_client(pki, co, tmp_path) as client:
        response = post_jws(client, MALFORMED[case])
    assert_problem(response, 422, "malformed-jws")
    assert record_rows(co.node) == before


def test_a_receipt_posted_as_a_record_is_malformed(pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    before = record_rows(co.node)
    with pa_client(pki, co, tmp_path) as client:
        receipt = post_jws(client, pa_flag(pki)).text
        response = post_jws(client, receipt)
    problem = assert_problem(response, 422, "malformed-jws")
    assert RECORD_TYP in problem["detail"]
    assert record_rows(co.node) == before + 1  # the record, not the receipt


def _tampered(pki: TestPKI) -> str:
    return tampered_copy(pa_flag(pki))


def _foreign_signer(_pki: TestPKI, tmp_path: Path) -> str:
    rogue = init_party("PA", tmp_path / "rogue-pa")  # a "PA" CA no bundle knows
    key = SigningKey.from_files(rogue.signing_key, rogue.signing_cert)
    draft = example_draft("criminal_network_flag", recipients=["CO"])
    return sign_record(build_record(draft, datetime.now(UTC)), key).jws


def _schema_violation(pki: TestPKI) -> str:
    document = json.loads(json.dumps(example_draft("criminal_network_flag", recipients=["CO"])))
    document.pop("purpose")
    return sign_compact(canonicalize(document), pki.signing_key("PA"), RECORD_TYP)


def _expired(pki: TestPKI) -> str:
    return pa_flag(
        pki,
        created_at="2025-01-01T00:00:00Z",
        review_due="2025-06-01T00:00:00Z",
        expires_at="2025-12-01T00:00:00Z",
    )


def _unknown_terms(pki: TestPKI) -> str:
    return pa_flag(pki, terms={"id": "pa-co-us-removal-mou", "version": 1, "sha256": "1" * 64})


REFUSED: dict[str, tuple[Callable[[TestPKI, Path], str], str]] = {
    "tampered-payload": (lambda pki, _tmp: _tampered(pki), "bad_signature"),
    "signer-from-unknown-ca": (_foreign_signer, "untrusted_chain"),
    "payload-violates-schema": (lambda pki, _tmp: _schema_violation(pki), "schema_violation"),
    "record-expired": (lambda pki, _tmp: _expired(pki), "record_expired"),
    "terms-not-held": (lambda pki, _tmp: _unknown_terms(pki), "terms_unknown"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_verifiable_but_refused_record_gets_a_signed_rejection(
    case: str, pki: TestPKI, co: RunningNode, tmp_path: Path
) -> None:
    make, reason_code = REFUSED[case]
    jws = make(pki, tmp_path)
    before = record_rows(co.node)
    with pa_client(pki, co, tmp_path) as client:
        response = post_jws(client, jws)
    assert response.status_code == 201, response.text
    receipt = verify_receipt(
        response.text, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(jws)
    ).payload
    assert (receipt.verdict.value, receipt.reason_code) == ("rejected", reason_code)
    assert record_rows(co.node) == before + 1  # kept for audit


# -- receipts ----------------------------------------------------------------


def test_receipt_names_exactly_the_posted_bytes(pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    first, second = pa_flag(pki), pa_flag(pki)
    before = datetime.now(UTC)
    with pa_client(pki, co, tmp_path) as client:
        responses = [post_jws(client, first), post_jws(client, second)]

    receipts = []
    for jws, response in zip((first, second), responses, strict=True):
        assert response.status_code == 201
        verified = verify_receipt(
            response.text, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(jws)
        )
        assert verified.signer_party == "CO"
        receipts.append(verified.payload)
    for jws, receipt in zip((first, second), receipts, strict=True):
        assert receipt.jws_sha256 == sha256_hex(jws.encode("ascii"))
        assert isinstance(receipt.ledger_index, int)
        assert (receipt.receiver, receipt.sender, receipt.verdict.value) == ("CO", "PA", "accepted")
        assert before <= receipt.received_at <= datetime.now(UTC)
    assert receipts[0].record_id != receipts[1].record_id
    assert receipts[1].ledger_index > receipts[0].ledger_index  # type: ignore[operator]

    # The receipt binds receiver and bytes: checked against anything else it fails.
    with pytest.raises(PartyMismatchError, match="expected US"):
        verify_receipt(responses[0].text, pki.bundle(), datetime.now(UTC), receiver="US", jws_sha256=sha256_hex(first))
    with pytest.raises(SchemaViolationError, match="other bytes"):
        verify_receipt(responses[0].text, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(second))


def test_concurrent_identical_posts_store_one_copy_and_answer_one_receipt(
    pki: TestPKI, co: RunningNode, tmp_path: Path
) -> None:
    jws = pa_flag(pki)
    before = record_rows(co.node)
    context = mtls_context(pki, party_certificate(pki, "PA"), "CO", tmp_path)
    start = threading.Barrier(6)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=co.partner_url, verify=context, timeout=30) as client:
            client.get("/v1/exchange/none")  # connect (handshake) before the race starts
            start.wait(10)
            return post_jws(client, jws)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(post, range(6)))

    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.content for r in responses}) == 1
    assert record_rows(co.node) == before + 1


# -- batches -----------------------------------------------------------------


def post_batch(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post(BATCH_PATH, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    "body",
    [
        b"garbage",
        b"",
        b"[]",
        b"{}",
        b'{"records": "eyJ.e30.c2ln"}',
        b'{"records": [1, 2]}',
        b'{"records": [null]}',
        b'{"records": [], "records": []}',
        b'{"records": [NaN]}',
        b"\xff\xfe{}",
        b'{"records": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
    ids=[
        "garbage",
        "empty",
        "list",
        "no-records",
        "records-a-string",
        "numbers",
        "null",
        "duplicate-key",
        "nan",
        "not-utf8",
        "deeply-nested",
    ],
)
def test_garbage_batch_is_400_malformed_batch(body: bytes, pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    before = record_rows(co.node)
    with pa_client(pki, co, tmp_path) as client:
        response = post_batch(client, body)
    assert_problem(response, 400, "malformed-batch")
    assert record_rows(co.node) == before


def test_batch_needs_json_content_type(pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    with pa_client(pki, co, tmp_path) as client:
        response = client.post(
            BATCH_PATH, content=json.dumps({"records": [pa_flag(pki)]}), headers={"Content-Type": JOSE}
        )
    assert_problem(response, 415, "unsupported-media-type")


def test_oversized_batch_is_413(pki: TestPKI, limited_co: RunningNode, tmp_path: Path) -> None:
    limited, before = limited_co, record_rows(limited_co.node)
    records = [pa_flag(pki) for _ in range(3)]
    with pa_client(pki, limited, tmp_path) as client:
        too_many = post_batch(client, json.dumps({"records": records}).encode())
        at_limit = post_batch(client, json.dumps({"records": records[:2]}).encode())
    assert_problem(too_many, 413, "batch-too-large")
    assert at_limit.status_code == 200  # the batch size is fine; each item is judged on its own
    # limited_co also caps a record at 1 KiB, which these x5c-carrying records exceed.
    assert [r["status"] for r in at_limit.json()["results"]] == [413, 413]
    assert record_rows(limited.node) == before


def test_batch_items_obey_the_record_size_limit(pki: TestPKI, limited_co: RunningNode, tmp_path: Path) -> None:
    small = limited_co
    jws = pa_flag(pki)
    assert len(jws) > 1024
    with pa_client(pki, small, tmp_path) as client:
        response = post_batch(client, json.dumps({"records": [jws]}).encode())
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["status"] == 413
    assert result["problem"]["type"] == PROBLEMS + "payload-too-large"


def test_mixed_batch_answers_each_item(pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    good = signed_record(pki, "PA", example_draft("criminal_network_flag", recipients=["CO"]))
    conflicting = signed_record(pki, "PA", good.record.model_dump(mode="json")).jws  # same id, new bytes
    not_addressed = pa_flag(pki, recipients=["US"])
    items = [good.jws, "not a jws", _tampered(pki), good.jws, conflicting, not_addressed]
    before = record_rows(co.node)

    with pa_client(pki, co, tmp_path) as client:
        response = post_batch(client, json.dumps({"records": items}).encode())

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == [201, 422, 201, 200, 409, 201]
    assert results[1]["problem"]["type"] == PROBLEMS + "malformed-jws"
    assert results[4]["problem"]["type"] == PROBLEMS + "record-id-conflict"
    assert results[3]["receipt"] == results[0]["receipt"]
    verdicts = {}
    for index in (0, 2, 5):
        receipt = verify_receipt(
            results[index]["receipt"],
            pki.bundle(),
            datetime.now(UTC),
            receiver="CO",
            jws_sha256=sha256_hex(items[index]),
        ).payload
        assert receipt.verdict.value == results[index]["verdict"]
        verdicts[index] = (receipt.verdict.value, receipt.reason_code)
    assert verdicts == {0: ("accepted", None), 2: ("rejected", "bad_signature"), 5: ("rejected", "not_addressed")}
    assert record_rows(co.node) == before + 3  # good, tampered, not addressed; nothing for 1, 3, 4

    # The batch's receipts are the ones a single POST of the same bytes answers.
    with pa_client(pki, co, tmp_path) as client:
        single = post_jws(client, good.jws)
    assert (single.status_code, single.text) == (200, results[0]["receipt"])


HOSTILE: dict[str, tuple[str, bytes]] = {
    "only-dots": (RECORDS_PATH, b"." * 10_000),
    "many-parts": (RECORDS_PATH, b"a.b.c" * 2000),
    "alg-none": (RECORDS_PATH, _jws_with_header({"alg": "none", "typ": RECORD_TYP})),
    "alg-hs256": (RECORDS_PATH, _jws_with_header({"alg": "HS256", "typ": RECORD_TYP}, b'{"record_id": 5}')),
    "x5c-not-der": (RECORDS_PATH, _jws_with_header({"alg": "ES256", "typ": RECORD_TYP, "x5c": ["AAAA"]})),
    "x5c-not-a-list": (RECORDS_PATH, _jws_with_header({"alg": "ES256", "typ": RECORD_TYP, "x5c": "x"})),
    "payload-deeply-nested": (
        RECORDS_PATH,
        _jws_with_header({"alg": "ES256", "typ": RECORD_TYP}, b"[" * 3000 + b"]" * 3000),
    ),
    "batch-non-ascii-item": (BATCH_PATH, b'{"records": ["\\u00e9\\u00e9.\\u00e9.\\u00e9"]}'),
    "batch-huge-item": (BATCH_PATH, json.dumps({"records": ["x" * 50_000]}).encode()),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_never_gets_a_500(case: str, pki: TestPKI, co: RunningNode, tmp_path: Path) -> None:
    path, body = HOSTILE[case]
    content_type = JOSE if path == RECORDS_PATH else "application/json"
    with pa_client(pki, co, tmp_path) as client:
        response = client.post(path, content=body, headers={"Content-Type": content_type})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM_JSON
    elif path == BATCH_PATH:
        assert [r["status"] < 500 for r in response.json()["results"]] == [True]
    else:  # a verifiable shape: a signed rejection
        assert response.headers["x-receipt-verdict"] == "rejected"
