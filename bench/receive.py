"""In-process benchmark of the receive path, without HTTP: where a received record's time goes.

For each backend, a receiving node (CO) on a fresh migrated database and
flags signed by PA (signing is not measured):

1. verify    ``verify_record`` alone: the trust library's nine steps (the baseline
             every receipt pays before any database work)
2. single    ``receive_group`` of one record: one committed transaction per record
             (a lone ``POST /v1/exchange/records`` minus HTTP and TLS)
3. group     ``receive_group`` of ``--group`` records: what concurrent single
             POSTs cost when the intake writes them together (group commit)
4. batch     ``receive_batch`` of ``--batch`` records in one transaction
             (the ``records:batch`` path minus HTTP and TLS)

5. reference the minimum any implementation must do for the same batch, in
             the same process: one base64url/JSON parse of each token, the
             ECDSA check with ``cryptography`` and a key cached per
             certificate, one bulk insert of the rows (executemany in one
             transaction) and one receipt signature per record (the protocol
             answers every record with its own signed receipt, RCP-01). The
             batch path's cost is printed as a multiple of it
             (``batch_vs_reference``, target ≤ 2); ``reference_one_receipt_*``
             is the same with one signature for the whole batch, as this
             benchmark first measured it.

Times are CPU seconds of this process (``time.process_time``) next to the
wall clock, so a busy machine does not bend the comparison. The batch and the
reference each run ``--rounds`` times on records not seen before, alternating,
and the median round is reported (one round of 500 records is a third of a
second, which a single scheduler hiccup bends).

Each backend runs twice on fresh databases: with record bodies sealed at rest
(the node as deployed: a data key per record, wrapped into the key store) and
in the clear (the same node with a session that has no vault); ``sealed_vs_clear``
gives the sealed run's single, group and batch throughput as a share of the
clear run's (target ≥ 0.9).

``--profile`` prints the top functions of the batch run (cProfile). The last
line printed is one JSON object with every figure.

    .venv/bin/python bench/receive.py [--records N] [--group G] [--batch B] [--rounds R] [--backends sqlite,postgres]
        [--profile]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import json
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' PKI helper
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from exchange import database_url, settings_for
from sqlalchemy import Engine, text

from gateway.db import make_engine, make_sessionmaker
from gateway.demo import synthetic
from gateway.exchange.intake import receive_group
from gateway.exchange.outgoing import prepare_outgoing
from gateway.exchange.service import receive_batch
from gateway.migrate import upgrade
from gateway.node import Node, build_node
from gateway.records.signing import sign_record, verify_record
from gateway.trust.keys import SigningKey
from tests.support.pki import TestPKI, make_test_pki

SUBJECT = {"family_names": "Bench", "given_names": "Sujeto", "date_of_birth": "1980-01-01", "nationality": "COL"}


def signed_flags(pa: Node, key: SigningKey, count: int) -> list[bytes]:
    now = datetime.now(UTC)
    return [
        sign_record(prepare_outgoing(pa, synthetic.flag("PA", ["CO"], SUBJECT, None, [], now), now), key).jws.encode()
        for _ in range(count)
    ]


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


REFERENCE_TABLE = """CREATE TABLE reference_records (
    originator VARCHAR(2) NOT NULL, record_id VARCHAR(64) NOT NULL, record_type VARCHAR(40) NOT NULL,
    digest VARCHAR(64) NOT NULL, jws TEXT NOT NULL, PRIMARY KEY (originator, record_id))"""


def reference_batch(
    engine: Engine, tokens: list[bytes], receipt_key: ec.EllipticCurvePrivateKey, *, receipt_per_record: bool = True
) -> None:
    """The minimum a receiver must do for a batch: parse, check each signature, insert all rows, sign the receipts."""
    keys: dict[str, ec.EllipticCurvePublicKey] = {}
    rows = []
    for token in tokens:
        header_b64, payload_b64, signature_b64 = token.decode().split(".")
        header = json.loads(_b64(header_b64))
        payload = json.loads(_b64(payload_b64))
        leaf = header["x5c"][0]
        key = keys.get(leaf)
        if key is None:
            public = x509.load_der_x509_certificate(base64.b64decode(leaf)).public_key()
            assert isinstance(public, ec.EllipticCurvePublicKey)
            key = keys[leaf] = public
        raw = _b64(signature_b64)
        signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        key.verify(signature, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        rows.append(
            {
                "originator": payload["originator"]["party"],
                "record_id": payload["record_id"],
                "record_type": payload["record_type"],
                "digest": hashlib.sha256(token).hexdigest(),
                "jws": token.decode(),
            }
        )
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO reference_records (originator, record_id, record_type, digest, jws)"
                " VALUES (:originator, :record_id, :record_type, :digest, :jws)"
            ),
            rows,
        )
    if receipt_per_record:
        for row in rows:
            receipt = json.dumps({"jws_sha256": row["digest"], "record_id": row["record_id"]}).encode()
            receipt_key.sign(receipt, ec.ECDSA(hashes.SHA256()))
    else:
        receipt_key.sign(json.dumps([row["digest"] for row in rows]).encode(), ec.ECDSA(hashes.SHA256()))


def median_run(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The (wall, CPU) seconds of the round with the median CPU time."""
    return sorted(runs, key=lambda run: run[1])[len(runs) // 2]


def per_second(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def measure(
    kind: str,
    pki: TestPKI,
    workdir: Path,
    records: int,
    group: int,
    batch: int,
    profile: bool,
    *,
    sealed: bool,
    rounds: int = 3,
) -> dict[str, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    urls = {party: database_url(kind, workdir, party) for party in ("PA", "CO")}
    for url in urls.values():
        upgrade(make_engine(url))
    pa = build_node(settings_for(pki, "PA", urls["PA"], workdir, {}))
    co = build_node(settings_for(pki, "CO", urls["CO"], workdir, {}))
    if not sealed:  # the same node, its bodies stored in the clear (as before sealing at rest)
        co.sessions, co.vault = make_sessionmaker(co.engine), None
    key = SigningKey.from_files(pki.parties["PA"].signing_key, pki.parties["PA"].signing_cert)
    warm, singles, grouped = signed_flags(pa, key, 50), signed_flags(pa, key, records), signed_flags(pa, key, records)
    batches = [signed_flags(pa, key, batch) for _ in range(rounds)]
    reference_tokens = [signed_flags(pa, key, batch) for _ in range(2 * rounds)]

    def accepted(outcomes: list[object], expected: int, what: str) -> None:
        count = sum(1 for r in outcomes if getattr(r, "verdict", None) == "accepted")
        if count != expected:
            raise SystemExit(f"{kind}: only {count} of {expected} {what} records accepted")

    for raw in warm:  # caches, connection pool, prepared statements
        receive_group(co, [(raw, "PA")])

    started = time.perf_counter()
    for raw in singles:
        verify_record(raw, co.bundle, co.now())
    verify_seconds = time.perf_counter() - started

    started = time.perf_counter()
    outcomes: list[object] = []
    for raw in singles:
        outcomes += receive_group(co, [(raw, "PA")])
    single_seconds = time.perf_counter() - started
    accepted(outcomes, records, "single")

    started = time.perf_counter()
    outcomes = []
    for start in range(0, records, group):
        outcomes += receive_group(co, [(raw, "PA") for raw in grouped[start : start + group]])
    group_seconds = time.perf_counter() - started
    accepted(outcomes, records, "grouped")

    # The reference on its own database (same backend), on records it has not seen.
    reference_url = database_url(kind, workdir, "REF")
    reference_engine = make_engine(reference_url)
    with reference_engine.begin() as connection:
        connection.execute(text(REFERENCE_TABLE))
    receipt_key = serialization.load_pem_private_key(pki.parties["CO"].signing_key.read_bytes(), None)
    assert isinstance(receipt_key, ec.EllipticCurvePrivateKey)
    reference_batch(reference_engine, warm, receipt_key)  # connection and key caches, like the warm-up above

    profiler = cProfile.Profile() if profile else None
    batch_runs: list[tuple[float, float]] = []  # (wall, CPU) seconds of each round
    reference_runs: list[tuple[float, float]] = []
    one_receipt_runs: list[tuple[float, float]] = []
    for round_index in range(rounds):
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        with co.transaction() as session:
            results = receive_batch(session, co, batches[round_index], "PA")
        if profiler is not None:
            profiler.disable()
        batch_runs.append((time.perf_counter() - started, time.process_time() - cpu_started))
        accepted(list(results), batch, "batch")
        for per_record, runs in ((True, reference_runs), (False, one_receipt_runs)):
            tokens = reference_tokens[2 * round_index + (0 if per_record else 1)]
            started, cpu_started = time.perf_counter(), time.process_time()
            reference_batch(reference_engine, tokens, receipt_key, receipt_per_record=per_record)
            runs.append((time.perf_counter() - started, time.process_time() - cpu_started))
    reference_engine.dispose()
    if profiler is not None:
        print(f"-- {kind}: batch profile (top 25 by cumulative time, gateway code)")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats("gateway", 25)
        print(f"-- {kind}: batch profile (top 30 by own time)")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    batch_seconds, batch_cpu = median_run(batch_runs)
    reference_seconds, reference_cpu = median_run(reference_runs)
    one_receipt_cpu = median_run(one_receipt_runs)[1]
    figures = {
        "verify_per_s": per_second(records, verify_seconds),
        "single_per_s": per_second(records, single_seconds),
        "group_per_s": per_second(records, group_seconds),
        "batch_per_s": per_second(batch, batch_seconds),
        "single_ms": round(1000 * single_seconds / records, 3),
        "group_ms_per_record": round(1000 * group_seconds / records, 3),
        "batch_ms_per_record": round(1000 * batch_seconds / batch, 3),
        "verify_ms": round(1000 * verify_seconds / records, 3),
        "batch_cpu_ms_per_record": round(1000 * batch_cpu / batch, 3),
        "reference_per_s": per_second(batch, reference_seconds),
        "reference_cpu_ms_per_record": round(1000 * reference_cpu / batch, 3),
        "batch_vs_reference": round(batch_cpu / reference_cpu, 2) if reference_cpu > 0 else 0.0,
        "reference_one_receipt_cpu_ms_per_record": round(1000 * one_receipt_cpu / batch, 3),
        "batch_vs_reference_one_receipt": round(batch_cpu / one_receipt_cpu, 2) if one_receipt_cpu > 0 else 0.0,
    }
    for name, value in figures.items():
        print(f"{kind:>9} {'sealed' if sealed else 'clear':>6} {name:>22}: {value}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=300, help="records for verify and single")
    parser.add_argument("--group", type=int, default=4, help="records per group (the intake's group commit)")
    parser.add_argument("--batch", type=int, default=500, help="records in the one batch")
    parser.add_argument("--rounds", type=int, default=3, help="batch and reference rounds (the median is reported)")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the batch run")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-receive-"))
    pki = make_test_pki(workdir / "pki")
    results: dict[str, dict[str, object]] = {}
    for kind in args.backends.split(","):
        runs = {
            mode: measure(
                kind,
                pki,
                workdir / f"{kind}-{mode}",
                args.records,
                args.group,
                args.batch,
                args.profile,
                sealed=mode == "sealed",
                rounds=args.rounds,
            )
            for mode in ("clear", "sealed")
        }
        ratios = {
            name: round(runs["sealed"][name] / runs["clear"][name], 3) if runs["clear"][name] else 0.0
            for name in ("single_per_s", "group_per_s", "batch_per_s")
        }
        print(f"{kind:>9} sealed_vs_clear: {ratios}")
        results[kind] = runs | {"sealed_vs_clear": ratios}
    summary = {
        "benchmark": "receive",
        "records": args.records,
        "group": args.group,
        "batch": args.batch,
        "rounds": args.rounds,
    }
    print(json.dumps(summary | {"results": results}))


if __name__ == "__main__":
    main()
