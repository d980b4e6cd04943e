"""Load run: 1 vs 2 ``gateway serve`` instances on one PostgreSQL database.

For each instance count, on fresh PostgreSQL databases: a receiving node (CO,
``gateway serve``), the sender PA as N ``gateway serve --no-worker`` processes
plus two ``gateway worker`` processes, and C client processes that submit
records through PA's agency API (round-robin over the instances, keep-alive,
one request in flight each) for a fixed time. Rate limits are off.

Reports, per instance count: records/s submitted (202) and delivered (receipt
stored at PA) during the window, and p50/p99 submit latency.

    .venv/bin/python bench/load.py [--seconds 30] [--quick] [--clients 8] [--worker-threads 4]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' PKI and process helpers

import httpx
import psycopg
from sqlalchemy import func, select

from gateway.clients.service import create_client
from gateway.exchange.models import Delivery
from gateway.migrate import upgrade
from gateway.node import Node, build_node
from tests.operations.processes import GatewayProcess
from tests.support.exchange import access_token, example_draft, write_settings_toml
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI, make_test_pki

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
WORKERS = 2  # `gateway worker` processes, the same for every instance count


def new_database(label: str) -> str:
    name = f"bench_load_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def delivered(node: Node) -> int:
    with node.transaction() as session:
        return int(
            session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")) or 0
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- client processes -----------------------------------------------------------


def submit_until(url: str, token: str, deadline: float, out: Any) -> None:
    """Submit flags to ``url`` until ``deadline`` (time.time()); put (latencies, statuses) on ``out``."""
    draft = example_draft("criminal_network_flag", recipients=["CO"])
    draft.pop("terms")
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        while time.time() < deadline:
            started = time.perf_counter()
            try:
                status = api.post("/v1/records", json=draft).status_code
            except httpx.HTTPError:
                status = 0
            if status == 202:
                latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    out.put((latencies, statuses))


# -- one run ----------------------------------------------------------------------


def run(pki: TestPKI, workdir: Path, instances: int, args: argparse.Namespace) -> dict[str, Any]:
    databases = [new_database("co"), new_database("pa")]
    urls = [f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}" for name in databases]
    quiet: dict[str, Any] = {
        "log_level": "ERROR",
        "rate_limit_client_per_minute": 0,
        "rate_limit_partner_per_minute": 0,
        "delivery_batch": 50,
        "delivery_poll_seconds": 0.05,
    }
    co_port = free_port()
    co = node_settings(pki, "CO", urls[0], workdir / f"co-{instances}", {}, partner_port=co_port, **quiet)
    pa = node_settings(pki, "PA", urls[1], workdir / f"pa-{instances}", {"CO": f"https://127.0.0.1:{co_port}"}, **quiet)
    co_config = write_settings_toml(workdir / f"co-{instances}.toml", co)
    pa_config = write_settings_toml(workdir / f"pa-{instances}.toml", pa)
    sender = build_node(pa)
    for node in (sender, build_node(co)):
        upgrade(node.engine)
    with sender.transaction() as session:
        client_id, secret = create_client(session, "load", ["records:write", "records:read"], sender.now())

    processes: list[GatewayProcess] = []
    try:
        processes.append(GatewayProcess(["serve", "--no-migrate"], co_config, workdir / f"co-{instances}.log"))
        servers = [
            GatewayProcess(["serve", "--no-worker", "--no-migrate"], pa_config, workdir / f"pa-{instances}-{i}.log")
            for i in range(instances)
        ]
        processes += servers
        processes[0].agency_url()
        agency_urls = [server.agency_url() for server in servers]
        processes += [
            GatewayProcess(
                ["worker", "--threads", str(args.worker_threads)], pa_config, workdir / f"worker-{instances}-{i}.log"
            )
            for i in range(WORKERS)
        ]
        tokens = [access_token(url, client_id, secret) for url in agency_urls]

        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        deadline = time.time() + 2.0 + args.seconds  # 2 s for the clients to start
        clients = [
            ctx.Process(
                target=submit_until,
                args=(agency_urls[i % instances], tokens[i % instances], deadline, out),
                daemon=True,
            )
            for i in range(args.clients)
        ]
        for client in clients:
            client.start()
        time.sleep(max(0.0, deadline - args.seconds - time.time()))
        delivered_at_start = delivered(sender)
        time.sleep(max(0.0, deadline - time.time()))
        delivered_in_window = delivered(sender) - delivered_at_start
        results = [out.get(timeout=60) for _ in clients]
        for client in clients:
            client.join(10)

        latencies = [value for result in results for value in result[0]]
        statuses: dict[str, int] = {}
        for _, counts in results:
            for status, count in counts.items():
                statuses[str(status)] = statuses.get(str(status), 0) + count
        # Everything submitted must still be delivered once the load stops.
        drain_started = time.monotonic()
        while delivered(sender) < len(latencies) and time.monotonic() - drain_started < args.seconds * 2:
            time.sleep(0.2)
        return {
            "instances": instances,
            "submitted_per_s": round(len(latencies) / args.seconds, 1),
            "delivered_per_s": round(delivered_in_window / args.seconds, 1),
            "p50_submit_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "p99_submit_ms": round(percentile(latencies, 0.99) * 1000, 1),
            "statuses": statuses,
            "all_delivered": delivered(sender) >= len(latencies),
            "drain_s": round(time.monotonic() - drain_started, 1),
        }
    finally:
        for process in processes:
            process.stop()
        sender.close()
        for name in databases:
            drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="load window per instance count")
    parser.add_argument("--quick", action="store_true", help="10-second windows")
    parser.add_argument("--clients", type=int, default=8, help="client processes")
    parser.add_argument("--worker-threads", type=int, default=4, help="threads per `gateway worker` process")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 10.0

    workdir = Path(tempfile.mkdtemp(prefix="mou-load-"))
    pki = make_test_pki(workdir / "pki")
    runs = [run(pki, workdir, instances, args) for instances in (1, 2)]
    for figures in runs:
        print(
            f"{figures['instances']} instance(s): {figures['submitted_per_s']} submitted/s, "
            f"{figures['delivered_per_s']} delivered/s, p50 {figures['p50_submit_ms']} ms, "
            f"p99 {figures['p99_submit_ms']} ms, statuses {figures['statuses']}, "
            f"all delivered {figures['all_delivered']} (drained in {figures['drain_s']} s)"
        )
    summary = {
        "database": "postgres",
        "seconds": args.seconds,
        "clients": args.clients,
        "worker_processes": WORKERS,
        "worker_threads": args.worker_threads,
        "cpus": os.cpu_count(),
        "runs": runs,
        "submit_speedup": round(runs[1]["submitted_per_s"] / max(runs[0]["submitted_per_s"], 0.1), 2),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
