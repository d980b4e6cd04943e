"""Delivery over a slow international link: PA → CO through a relay that adds a round trip.

Starts CO (receiver) and PA (sender, with its delivery worker) as child
processes and puts bench/relay.py between them, so every byte PA's worker
sends to CO, and every byte back, waits ``--rtt-ms / 2``. Measures:

1. e2e      one record at a time through PA's agency API until its receipt is
            stored at PA (p50/p99), as the client sees it (its POST, then polling
            the record's status); the target is one round trip + 30 ms.
            ``e2e_node`` is the same from PA's own timestamps: signed → receipt
            verified, without the client's request and polling.
2. backlog  ``--records`` records queued at PA at once (one commit), then the
            time until every delivery holds a verified receipt: records/s over
            the link (target ≥ 500/s at 80 ms), and the CPU seconds PA's and
            CO's processes spent on them.

Afterwards every record must be stored exactly once at CO, delivered at PA.

    .venv/bin/python bench/wan.py [--rtt-ms 80] [--records 2000] [--delivery-batch 200] [--database sqlite|postgres]

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
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' PKI helper
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from cpu import CpuMeter
from exchange import database_url, run_node, settings_for
from relay import run_relay
from sqlalchemy import func, select

from gateway.clients.service import create_client
from gateway.demo import synthetic
from gateway.exchange.outgoing import submit_draft
from gateway.migrate import upgrade
from gateway.node import Node, build_node
from gateway.records.models import Delivery, StoredRecord
from gateway.server import bind
from tests.support.pki import make_test_pki

SUBJECT = {"family_names": "Bench", "given_names": "Sujeto", "date_of_birth": "1980-01-01", "nationality": "COL"}


def delivered(node: Node) -> int:
    with node.transaction() as session:
        return int(
            session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")) or 0
        )


def stored_in(node: Node) -> tuple[int, int]:
    """Return (rows received, distinct record ids received) at ``node``."""
    with node.transaction() as session:
        rows = session.scalar(select(func.count()).select_from(StoredRecord).where(StoredRecord.direction == "in"))
        distinct = session.scalar(
            select(func.count(func.distinct(StoredRecord.record_id))).where(StoredRecord.direction == "in")
        )
    return int(rows or 0), int(distinct or 0)


def node_latencies(node: Node) -> list[float]:
    """Seconds from each record's signing at ``node`` to its receipt verified there, in record order.

    The node's own timestamps: what the client adds (its request, its polling
    for the status) is not in them.
    """
    with node.transaction() as session:
        rows = session.execute(
            select(StoredRecord.created_at, Delivery.delivered_at)
            .join(Delivery, Delivery.record_pk == StoredRecord.pk)
            .where(Delivery.delivered_at.is_not(None))
            .order_by(StoredRecord.pk)
        ).all()
    return [(delivered_at - created_at).total_seconds() for created_at, delivered_at in rows]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, default=80.0, help="round trip the relay adds")
    parser.add_argument("--records", type=int, default=2000, help="records in the backlog phase")
    parser.add_argument("--e2e", type=int, default=40, help="records sent one at a time")
    parser.add_argument("--delivery-batch", type=int, default=200, help="PA's delivery_batch setting")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="mou-wan-"))
    pki = make_test_pki(workdir / "pki")
    co_partner, co_agency = bind("127.0.0.1", 0), bind("127.0.0.1", 0)
    pa_partner, pa_agency = bind("127.0.0.1", 0), bind("127.0.0.1", 0)
    relay_sock = bind("127.0.0.1", 0)
    relay_url = f"https://127.0.0.1:{relay_sock.getsockname()[1]}"
    co_settings = settings_for(pki, "CO", database_url(args.database, workdir, "CO"), workdir, {})
    pa_settings = settings_for(
        pki, "PA", database_url(args.database, workdir, "PA"), workdir, {"CO": relay_url}
    ).model_copy(update={"delivery_batch": args.delivery_batch})
    for settings in (co_settings, pa_settings):
        node = build_node(settings)
        upgrade(node.engine)
        node.close()

    ctx = multiprocessing.get_context("fork")
    children = [
        ctx.Process(
            target=run_relay,
            args=(relay_sock, ("127.0.0.1", co_partner.getsockname()[1]), args.rtt_ms / 2),
            daemon=True,
        ),
        ctx.Process(target=run_node, args=(co_settings, co_partner.fileno(), co_agency.fileno()), daemon=True),
        ctx.Process(target=run_node, args=(pa_settings, pa_partner.fileno(), pa_agency.fileno()), daemon=True),
    ]
    for child in children:
        child.start()
    time.sleep(2.0)
    pa, co = build_node(pa_settings), build_node(co_settings)
    pids = {"pa": children[2].pid or 0, "co": children[1].pid or 0}

    # 1. One at a time, through PA's agency API.
    now = datetime.now(UTC)
    with pa.transaction() as session:
        client_id, secret = create_client(session, "bench", ["records:write", "records:read"], now)
    agency = f"http://127.0.0.1:{pa_agency.getsockname()[1]}"
    token = httpx.post(
        f"{agency}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    ).json()["access_token"]
    e2e: list[float] = []
    with httpx.Client(base_url=agency, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        for _ in range(args.e2e + 3):  # the first three open the partner connection
            draft = synthetic.flag("PA", ["CO"], SUBJECT, None, [], now)
            start = time.perf_counter()
            record_id = api.post("/v1/records", json=draft).json()["record_id"]
            while api.get(f"/v1/records/{record_id}").json()["deliveries"][0]["status"] == "pending":
                time.sleep(0.002)
            e2e.append(time.perf_counter() - start)
    e2e = e2e[3:]
    e2e_node = node_latencies(pa)[3:]

    # 2. A backlog queued in one commit, drained over the link.
    before = delivered(pa)
    with pa.transaction() as session:
        for _ in range(args.records):
            draft = synthetic.flag("PA", ["CO"], SUBJECT, None, [], now)
            submit_draft(session, pa, draft, actor="bench")
    with CpuMeter(pids) as cpu:
        started = time.perf_counter()
        while delivered(pa) - before < args.records:
            if time.perf_counter() - started > 600:
                raise SystemExit(f"only {delivered(pa) - before} of {args.records} delivered in 600 s")
            time.sleep(0.05)
        drained = time.perf_counter() - started
    rows, distinct = stored_in(co)
    for child in children:
        child.terminate()

    figures = {
        "database": args.database,
        "rtt_ms": args.rtt_ms,
        "delivery_batch": args.delivery_batch,
        "e2e_p50_ms": round(statistics.median(e2e) * 1000, 1),
        "e2e_p99_ms": round(percentile(e2e, 0.99) * 1000, 1),
        "e2e_target_ms": args.rtt_ms + 30,
        "e2e_node_p50_ms": round(statistics.median(e2e_node) * 1000, 1),
        "e2e_node_p99_ms": round(percentile(e2e_node, 0.99) * 1000, 1),
        "backlog_records": args.records,
        "backlog_records_per_s": round(args.records / drained, 1),
        "backlog_cpu_s": cpu.spent,
        "co_rows_in": rows,
        "co_distinct_in": distinct,
        "exactly_once": rows == distinct == args.records + args.e2e + 3,
    }
    for key, value in figures.items():
        print(f"{key:>22}: {value}")
    print(json.dumps(figures))
    os._exit(0)  # children are daemons; don't wait on their teardown


if __name__ == "__main__":
    main()
