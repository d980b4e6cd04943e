"""Load run: throughput as ``gateway serve`` instances are added, each with its own CPU budget.

For each instance count (``--instances 1,2,4``), on fresh PostgreSQL
databases: a receiving node (CO, ``gateway serve``), the sender PA as N
``gateway serve`` instances (agency API and delivery worker in one process),
and C client processes that submit records through PA's agency API
(round-robin over the instances, keep-alive, one request in flight each) for a
fixed time. Rate limits are off.

With ``--cpu-quota Q`` every PA instance runs in its own cgroup (v1 ``cpu``
controller, bench/cgroups.py) limited to Q CPUs, the way separate machines
would each bring their own CPU; CO, PostgreSQL and the load clients stay
outside the quotas. Without it, instances share the machine's cores.

Reports, per instance count: records/s submitted (202) and delivered (receipt
stored at PA) during the window, p50/p99 submit latency, the CPU seconds spent
by the PA instances, CO and PostgreSQL, the machine's idle CPU (where it nears
zero, the machine, not the instances, is the limit) and the quota throttling
counters. ``--plot FILE`` draws the curve (matplotlib, the ``bench`` extra).

    .venv/bin/python bench/load.py [--instances 1,2,4] [--cpu-quota 0.3] [--seconds 30] [--quick]
        [--clients 8] [--repeat 3] [--plot docs/scaling.png]

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
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import psycopg
from cgroups import CpuQuota, machine_idle_seconds, quota_support
from cpu import group_cpu_seconds, postgres_cpu_seconds
from sqlalchemy import func, select

from gateway.clients.service import create_client
from gateway.exchange.models import Delivery
from gateway.migrate import upgrade
from gateway.node import Node, build_node
from gateway.settings import Settings
from tests.operations.processes import GatewayProcess
from tests.support.exchange import access_token, example_draft, write_settings_toml
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI, make_test_pki

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


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


def records_per_claim(node: Node) -> float:
    """Mean deliveries per worker claim, over every delivered row (the jobs of one claim share last_attempt_at)."""
    with node.transaction() as session:
        rows, claims = session.execute(
            select(func.count(), func.count(func.distinct(Delivery.last_attempt_at))).where(
                Delivery.status == "delivered"
            )
        ).one()
    return round(int(rows) / max(1, int(claims)), 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- client processes -----------------------------------------------------------


def submit_until(url: str, token: str, ready: Any, go: Any, deadline: Any, out: Any) -> None:
    """After ``go``, submit flags to ``url`` until ``deadline``; put (latencies, statuses) on ``out``.

    Says ``ready`` first: a spawned client can take seconds to import on a busy
    machine, and the window must not start before every client can submit.
    """
    draft = example_draft("criminal_network_flag", recipients=["CO"])
    draft.pop("terms")
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        ready.put(True)
        go.wait()
        while time.time() < deadline.value:
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
        "delivery_coalesce_seconds": args.coalesce,
        # The production default poll, not the tests' 0.05 s: an instance wakes
        # its own workers when a record is submitted to it, so polling only
        # finds work other processes queued. A 0.05 s poll cost an idle
        # instance 0.07 CPU (a quarter of a 0.3 quota).
        "delivery_poll_seconds": Settings.model_fields["delivery_poll_seconds"].default,
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
    quotas: list[CpuQuota] = []
    try:
        processes.append(GatewayProcess(["serve", "--no-migrate"], co_config, workdir / f"co-{instances}.log"))
        servers = [
            GatewayProcess(["serve", "--no-migrate"], pa_config, workdir / f"pa-{instances}-{i}.log")
            for i in range(instances)
        ]
        processes += servers
        if args.cpu_quota:
            # Quota set before the instance warms up, so start-up runs under it too.
            for i, server in enumerate(servers):
                quotas.append(CpuQuota(f"pa-{instances}-{i}", args.cpu_quota))
                quotas[-1].add(server.process.pid)
        processes[0].agency_url()
        agency_urls = [server.agency_url() for server in servers]
        tokens = [access_token(url, client_id, secret) for url in agency_urls]

        ctx = multiprocessing.get_context("spawn")
        out, ready, go, deadline = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
        clients = [
            ctx.Process(
                target=submit_until,
                args=(agency_urls[i % instances], tokens[i % instances], ready, go, deadline, out),
                daemon=True,
            )
            for i in range(args.clients)
        ]
        for client in clients:
            client.start()
        for _ in clients:
            ready.get(timeout=120)
        deadline.value = time.time() + 1.0 + args.seconds  # 1 s for the clients to get going
        go.set()
        time.sleep(1.0)
        pa_pids = [server.process.pid for server in servers]
        co_pid = processes[0].process.pid
        delivered_at_start = delivered(sender)
        client_pids = [client.pid or 0 for client in clients]
        cpu_at_start = (
            group_cpu_seconds(pa_pids),
            group_cpu_seconds([co_pid]),
            postgres_cpu_seconds(),
            group_cpu_seconds(client_pids),
        )
        idle_at_start = machine_idle_seconds()
        throttled_at_start = [quota.throttled() for quota in quotas]
        time.sleep(max(0.0, deadline.value - time.time()))
        delivered_in_window = delivered(sender) - delivered_at_start
        cpu_spent = [
            round(now - then, 2)
            for now, then in zip(
                (
                    group_cpu_seconds(pa_pids),
                    group_cpu_seconds([co_pid]),
                    postgres_cpu_seconds(),
                    group_cpu_seconds(client_pids),
                ),
                cpu_at_start,
                strict=True,
            )
        ]
        idle = machine_idle_seconds() - idle_at_start
        throttled = [
            {key: after[key] - before[key] for key in after}
            for after, before in zip([quota.throttled() for quota in quotas], throttled_at_start, strict=True)
        ]
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
            "cpu_s": {
                "pa_instances": cpu_spent[0],
                "co": cpu_spent[1],
                "postgres": cpu_spent[2],
                "load_clients": cpu_spent[3],
            },
            "machine_idle_cpus": round(idle / args.seconds, 2),
            "records_per_claim": records_per_claim(sender),
            "throttled": throttled,
        }
    finally:
        for process in processes:
            process.stop()
        for quota in quotas:
            quota.remove()
        sender.close()
        for name in databases:
            drop_database(name)


def median_window(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """The window with the median records/s submitted, with every window's figure beside it."""
    ordered = sorted(windows, key=lambda window: float(window["submitted_per_s"]))
    median = dict(ordered[len(ordered) // 2])
    median["submitted_per_s_windows"] = [window["submitted_per_s"] for window in windows]
    median["delivered_per_s_windows"] = [window["delivered_per_s"] for window in windows]
    return median


def plot(runs: list[dict[str, Any]], quota: float | None, out: Path) -> None:
    """Draw records/s submitted and delivered against instances, with ideal linear scaling for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [run["instances"] for run in runs]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for key, label in (("submitted_per_s", "submitted"), ("delivered_per_s", "delivered")):
        values = [run[key] for run in runs]
        spread = [run.get(f"{key}_windows", [run[key]]) for run in runs]
        below = [value - min(all_) for value, all_ in zip(values, spread, strict=True)]
        above = [max(all_) - value for value, all_ in zip(values, spread, strict=True)]
        windows = len(spread[0])
        ax.errorbar(
            counts,
            values,
            yerr=[below, above],
            marker="o",
            capsize=3,
            label=f"records/s {label}" + (f" (median of {windows}, range)" if windows > 1 else ""),
        )
    first = runs[0]["submitted_per_s"]
    ax.plot(counts, [first * n / counts[0] for n in counts], linestyle=":", color="grey", label="linear")
    budget = f"{quota} CPU per instance (cgroup quota)" if quota else "instances share the machine"
    ax.set_title(f"PA instances vs throughput, {budget}", fontsize=10)
    ax.set_xlabel("gateway serve instances")
    ax.set_ylabel("records/s")
    ax.set_xticks(counts)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="load window per instance count")
    parser.add_argument("--quick", action="store_true", help="10-second windows")
    parser.add_argument("--clients", type=int, default=8, help="client processes")
    parser.add_argument("--instances", default="1,2", help="comma-separated instance counts, e.g. 1,2,4")
    parser.add_argument("--cpu-quota", type=float, default=None, help="CPUs per PA instance (cgroup v1 quota)")
    parser.add_argument(
        "--coalesce",
        type=float,
        default=0.05,
        help="PA's delivery_coalesce_seconds (0: every thread claims and sends at once, as before the lane)",
    )
    parser.add_argument("--plot", type=Path, default=None, help="write the scaling curve to this PNG")
    parser.add_argument(
        "--repeat", type=int, default=1, help="windows per instance count, interleaved; the median one is reported"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = 10.0
    if args.cpu_quota is not None:
        reason = quota_support()
        if reason is not None:
            raise SystemExit(f"--cpu-quota: {reason}; run as root on a cgroup v1 machine, or leave --cpu-quota out")
    counts = [int(n) for n in args.instances.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="mou-load-"))
    pki = make_test_pki(workdir / "pki")
    # Rounds go 1, 2, 4, 1, 2, 4, ...: a machine whose speed drifts (shared
    # cores) then bends every count alike, and the median window of each count
    # is reported with the spread of all of them.
    windows: dict[int, list[dict[str, Any]]] = {instances: [] for instances in counts}
    for _ in range(max(1, args.repeat)):
        for instances in counts:
            windows[instances].append(run(pki, workdir, instances, args))
    runs = [median_window(windows[instances]) for instances in counts]
    for figures in runs:
        print(
            f"{figures['instances']} instance(s): {figures['submitted_per_s']} submitted/s, "
            f"{figures['delivered_per_s']} delivered/s, p50 {figures['p50_submit_ms']} ms, "
            f"p99 {figures['p99_submit_ms']} ms, statuses {figures['statuses']}, "
            f"all delivered {figures['all_delivered']} (drained in {figures['drain_s']} s), "
            f"CPU s {figures['cpu_s']}, machine idle {figures['machine_idle_cpus']} CPUs, "
            f"submitted/s of every window {figures['submitted_per_s_windows']}"
        )
    summary = {
        "database": "postgres",
        "seconds": args.seconds,
        "clients": args.clients,
        "cpu_quota": args.cpu_quota,
        "cpus": os.cpu_count(),
        "runs": runs,
        "submit_speedup": {
            str(run["instances"]): round(run["submitted_per_s"] / max(runs[0]["submitted_per_s"], 0.1), 2)
            for run in runs
        },
        "delivered_speedup": {
            str(run["instances"]): round(run["delivered_per_s"] / max(runs[0]["delivered_per_s"], 0.1), 2)
            for run in runs
        },
    }
    if args.plot is not None:
        plot(runs, args.cpu_quota, args.plot)
        print(f"curve written to {args.plot}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
