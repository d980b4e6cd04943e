"""Exchange benchmark: the partner API against a bare FastAPI endpoint over the same mTLS.

Starts, in child processes, (1) a bare FastAPI app returning a fixed body
behind the same uvicorn + mTLS setup (the baseline) and (2) a receiving node
(CO); then measures from this process, over keep-alive mTLS connections:
single-record POST throughput and p50/p99 latency for both (``--rounds``
rounds, baseline and node alternating; the ratio is the median of the rounds'
ratios), batch ingest records/s, and end-to-end submit (PA agency API) →
receipt stored latency.

Records follow the demo's mix of what CO receives from PA (per flight: one
removal manifest, one removal confirmation, two criminal-network flags;
acknowledgements travel the other way, CO → PA, and are not part of it), and
each type is also measured alone.

Next to wall-clock figures it reports CPU seconds, read from /proc, that each
server process consumed during each phase (bench/cpu.py): requests per
CPU-second of the baseline and of the node, their ratio (``cpu_ratio``), and
batch records per CPU-second. The database server's CPU is reported apart
(PostgreSQL: every ``postgres`` process, so run on an otherwise idle server).
A busy machine slows the wall clock, not the CPU seconds a request costs.

    .venv/bin/python bench/exchange.py [--quick] [--database sqlite|postgres] [--rounds N]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' PKI helper
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import psycopg
import uvicorn
from cpu import CpuMeter, per_cpu_second
from fastapi import FastAPI, Response
from pydantic import SecretStr

from gateway.console.seeds import new_key
from gateway.demo import synthetic
from gateway.exchange.outgoing import prepare_outgoing
from gateway.migrate import upgrade
from gateway.node import build_node
from gateway.records.signing import sign_record
from gateway.server import NodeServer, bind
from gateway.settings import Settings
from gateway.transport.tls import PeerCertProtocol, client_context, server_context
from gateway.trust.bundle import TrustBundle
from gateway.trust.keys import SigningKey
from gateway.trust.pki import PartyFiles
from tests.support.pki import TestPKI, make_test_pki

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


def database_url(kind: str, workdir: Path, party: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / f'{party.lower()}.sqlite3'}"
    name = f"bench_{party.lower()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def settings_for(pki: TestPKI, party: str, url: str, workdir: Path, partners: dict[str, str]) -> Settings:
    files: PartyFiles = pki.parties[party]
    return Settings(
        party=party,
        data_dir=workdir / party.lower(),
        database_url=SecretStr(url),  # type: ignore[arg-type]
        partner_port=0,
        agency_port=0,
        tls_cert=files.tls_cert,
        tls_key=files.tls_key,
        signing_cert=files.signing_cert,
        signing_key=files.signing_key,
        trust_bundle=pki.bundle_path,
        terms_files=[pki.terms_path],
        partners=partners,
        delivery_poll_seconds=0.05,
        log_level="WARNING",
        totp_encryption_key=SecretStr(new_key()),  # the agency listener needs one; no officers here
        kek_file=_kek_file(workdir / party.lower()),
    )


def _kek_file(data_dir: Path) -> Path:
    """A key-encryption key file for a bench node, made once (record bodies are sealed at rest)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "kek.key"
    if not path.exists():
        path.write_text(new_key() + "\n")
    return path


# What CO receives from PA in the demo, per flight (see the module docstring).
MIX = ["removal_manifest", "criminal_network_flag", "removal_confirmation", "criminal_network_flag"]
TYPES = ["removal_manifest", "removal_confirmation", "criminal_network_flag"]


# -- child processes -----------------------------------------------------------


def run_baseline(pki: TestPKI, sock_fd: int, workdir: Path) -> None:
    import socket

    sock = socket.socket(fileno=sock_fd)
    app = FastAPI()

    @app.post("/v1/exchange/records")
    async def fixed() -> Response:
        return Response(b"x" * 700, status_code=201, media_type="application/jose")

    files = pki.parties["CO"]
    bundle = pki.bundle()
    config = uvicorn.Config(
        app,
        http=PeerCertProtocol,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ssl_context_factory=lambda _c, _d: server_context(
            files.tls_cert, files.tls_key, bundle, workdir / "base", ["PA", "US"]
        ),
    )
    uvicorn.Server(config).run(sockets=[sock])


def run_node(settings: Settings, partner_fd: int, agency_fd: int) -> None:
    import socket

    node = build_node(settings)
    server = NodeServer(
        node, partner_socket=socket.socket(fileno=partner_fd), agency_socket=socket.socket(fileno=agency_fd)
    )
    server.run()


# -- load ----------------------------------------------------------------------


def hammer(
    client_factory: Any, url: str, bodies: list[bytes], concurrency: int, content_type: str = "application/jose"
) -> tuple[float, list[float], dict[int, int]]:
    """POST every body with ``concurrency`` keep-alive clients; returns (elapsed, latencies, status counts)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    chunks = [bodies[i::concurrency] for i in range(concurrency)]

    def worker(chunk: list[bytes]) -> None:
        with client_factory() as client:
            for body in chunk:
                start = time.perf_counter()
                response = client.post(url, content=body, headers={"Content-Type": content_type})
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, chunks))
    return time.perf_counter() - started, latencies, statuses


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="finish in under a minute")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternate baseline and node this many times; the ratio is the median of the rounds' ratios",
    )
    args = parser.parse_args()
    singles = 400 if args.quick else 3000
    batches = 4 if args.quick else 20
    per_type = 100 if args.quick else 600
    e2e_count = 30 if args.quick else 200

    workdir = Path(tempfile.mkdtemp(prefix="mou-bench-"))
    pki = make_test_pki(workdir / "pki")
    pa_key: SigningKey = pki.signing_key("PA")
    bundle = TrustBundle.load(pki.bundle_path)

    base_sock = bind("127.0.0.1", 0)
    co_partner, co_agency = bind("127.0.0.1", 0), bind("127.0.0.1", 0)
    pa_partner, pa_agency = bind("127.0.0.1", 0), bind("127.0.0.1", 0)
    co_url = f"https://127.0.0.1:{co_partner.getsockname()[1]}"
    pa_url = f"https://127.0.0.1:{pa_partner.getsockname()[1]}"
    co_settings = settings_for(pki, "CO", database_url(args.database, workdir, "CO"), workdir, {"PA": pa_url})
    pa_settings = settings_for(pki, "PA", database_url(args.database, workdir, "PA"), workdir, {"CO": co_url})
    for settings in (co_settings, pa_settings):
        node = build_node(settings)
        upgrade(node.engine)
        node.close()

    ctx = multiprocessing.get_context("fork")
    children = [
        ctx.Process(target=run_baseline, args=(pki, base_sock.fileno(), workdir), daemon=True),
        ctx.Process(target=run_node, args=(co_settings, co_partner.fileno(), co_agency.fileno()), daemon=True),
        ctx.Process(target=run_node, args=(pa_settings, pa_partner.fileno(), pa_agency.fileno()), daemon=True),
    ]
    for child in children:
        child.start()
    time.sleep(2.0)

    # Pre-sign every record so signing is not part of what is measured.
    pa_node = build_node(pa_settings)
    now = datetime.now(UTC)
    plan = synthetic.flights(8)
    subject = {"family_names": "Bench", "given_names": "Sujeto", "date_of_birth": "1980-01-01", "nationality": "COL"}
    counter = iter(range(10**9))

    def sign(draft: dict[str, Any]) -> str:
        return sign_record(prepare_outgoing(pa_node, draft, now), pa_key).jws

    def signed(kind: str) -> str:
        """A fresh record of ``kind`` from PA to CO (the same bytes again would be replays)."""
        n = next(counter)
        if kind == "criminal_network_flag":
            return sign(synthetic.flag("PA", ["CO"], subject, None, [], now))
        flight = plan[n % len(plan)]
        manifest = synthetic.manifest(flight, None, seed=n)
        manifest["recipients"] = ["CO"]
        if kind == "removal_manifest":
            return sign(manifest)
        confirmation = synthetic.confirmation(flight, manifest, str(uuid.uuid4()), None)
        confirmation["recipients"] = ["CO"]
        return sign(confirmation)

    def mixed(count: int) -> list[str]:
        return [signed(MIX[i % len(MIX)]) for i in range(count)]

    round_bodies = [[body.encode() for body in mixed(singles)] for _ in range(args.rounds)]
    single_bodies = round_bodies[0]
    batch_bodies = [json.dumps({"records": mixed(500)}).encode() for _ in range(batches)]
    type_bodies = {kind: [signed(kind).encode() for _ in range(per_type)] for kind in TYPES}
    pa_ctx = client_context(pki.parties["PA"].tls_cert, pki.parties["PA"].tls_key, bundle, workdir / "cli", "CO")

    def client() -> httpx.Client:
        return httpx.Client(verify=pa_ctx, timeout=60)

    pids = {"baseline": children[0].pid or 0, "node": children[1].pid or 0, "sender": children[2].pid or 0}
    postgres = args.database == "postgres"
    base_url = f"https://127.0.0.1:{base_sock.getsockname()[1]}/v1/exchange/records"
    single_url = f"{co_url}/v1/exchange/records"
    hammer(client, base_url, single_bodies[:50], args.concurrency)  # warm up
    # Baseline and node alternate, so a machine whose speed drifts (shared
    # cores) slows both sides of each round's ratio alike.
    base_lat: list[float] = []
    single_lat: list[float] = []
    single_status: dict[int, int] = {}
    rounds: list[dict[str, float]] = []
    for bodies in round_bodies:
        with CpuMeter(pids, postgres=postgres) as base_cpu:
            base_elapsed, base_round, _ = hammer(client, base_url, bodies, args.concurrency)
        with CpuMeter(pids, postgres=postgres) as node_cpu:
            single_elapsed, single_round, statuses = hammer(client, single_url, bodies, args.concurrency)
        base_lat += base_round
        single_lat += single_round
        for code, count in statuses.items():
            single_status[code] = single_status.get(code, 0) + count
        base_rps, single_rps = len(base_round) / base_elapsed, len(single_round) / single_elapsed
        rounds.append({"baseline_rps": round(base_rps, 1), "single_rps": round(single_rps, 1)})
        rounds[-1]["ratio"] = round(single_rps / base_rps, 3)
        rounds[-1]["baseline_cpu_s"] = base_cpu.spent["baseline"]
        rounds[-1]["node_cpu_s"] = node_cpu.spent["node"]
        rounds[-1]["baseline_req_per_cpu_s"] = per_cpu_second(len(base_round), base_cpu.spent["baseline"])
        rounds[-1]["single_req_per_cpu_s"] = per_cpu_second(len(single_round), node_cpu.spent["node"])
        if postgres:
            rounds[-1]["single_postgres_cpu_s"] = node_cpu.spent["postgres"]
        rounds[-1]["cpu_ratio"] = round(rounds[-1]["single_req_per_cpu_s"] / rounds[-1]["baseline_req_per_cpu_s"], 3)
    with CpuMeter(pids, postgres=postgres) as batch_cpu:
        batch_elapsed, _, batch_status = hammer(
            client, f"{co_url}/v1/exchange/records:batch", batch_bodies, 1, "application/json"
        )
    per_type_figures: dict[str, dict[str, float]] = {}
    for kind, bodies in type_bodies.items():
        with CpuMeter(pids, postgres=postgres) as type_cpu:
            elapsed, _, statuses = hammer(client, single_url, bodies, args.concurrency)
        if statuses != {201: len(bodies)}:
            raise SystemExit(f"{kind}: the node answered {statuses}, expected {len(bodies)} times 201")
        per_type_figures[kind] = {
            "single_rps": round(len(bodies) / elapsed, 1),
            "single_req_per_cpu_s": per_cpu_second(len(bodies), type_cpu.spent["node"]),
        }
        if postgres:
            per_type_figures[kind]["postgres_cpu_s"] = type_cpu.spent["postgres"]

    # End to end: agency API at PA → delivered to CO → receipt stored at PA.
    with pa_node.transaction() as session:
        from gateway.clients.service import create_client

        client_id, secret = create_client(session, "bench", ["records:write", "records:read"], now)
    agency = f"http://127.0.0.1:{pa_agency.getsockname()[1]}"
    token = httpx.post(
        f"{agency}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    ).json()["access_token"]
    e2e: list[float] = []
    with httpx.Client(base_url=agency, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        for _ in range(e2e_count):
            draft = synthetic.flag("PA", ["CO"], subject, None, [], now)
            start = time.perf_counter()
            record_id = api.post("/v1/records", json=draft).json()["record_id"]
            while True:
                detail = api.get(f"/v1/records/{record_id}").json()
                if detail["deliveries"][0]["status"] != "pending":
                    break
                time.sleep(0.002)
            e2e.append(time.perf_counter() - start)
    for child in children:
        child.terminate()

    figures = {
        "database": args.database,
        "concurrency": args.concurrency,
        "rounds": rounds,
        "baseline_rps": statistics.median(r["baseline_rps"] for r in rounds),
        "baseline_p50_ms": round(percentile(base_lat, 0.5) * 1000, 2),
        "baseline_p99_ms": round(percentile(base_lat, 0.99) * 1000, 2),
        "single_rps": statistics.median(r["single_rps"] for r in rounds),
        "p50_ms": round(percentile(single_lat, 0.5) * 1000, 2),
        "p99_ms": round(percentile(single_lat, 0.99) * 1000, 2),
        "single_statuses": single_status,
        "batch_records_per_s": round(batches * 500 / batch_elapsed, 1),
        "batch_node_cpu_s": batch_cpu.spent["node"],
        "batch_records_per_cpu_s": per_cpu_second(batches * 500, batch_cpu.spent["node"]),
        "batch_statuses": batch_status,
        "e2e_p50_ms": round(statistics.median(e2e) * 1000, 2),
        "e2e_p99_ms": round(percentile(e2e, 0.99) * 1000, 2),
    }
    figures["ratio"] = statistics.median(r["ratio"] for r in rounds)
    figures["baseline_req_per_cpu_s"] = statistics.median(r["baseline_req_per_cpu_s"] for r in rounds)
    figures["single_req_per_cpu_s"] = statistics.median(r["single_req_per_cpu_s"] for r in rounds)
    figures["cpu_ratio"] = statistics.median(r["cpu_ratio"] for r in rounds)
    if postgres:
        figures["batch_postgres_cpu_s"] = batch_cpu.spent["postgres"]
    figures["per_type"] = per_type_figures
    for key, value in figures.items():
        print(f"{key:>22}: {value}")
    print(json.dumps(figures))
    os._exit(0)  # children and pools are daemons; don't wait on their teardown


if __name__ == "__main__":
    main()
