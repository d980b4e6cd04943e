"""``gateway demo``: three nodes, the scenario, a summary; optionally keep serving."""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.demo import scenario, synthetic
from gateway.demo.cluster import DemoNode, make_pki, start_nodes, stop_nodes, write_nodes_json
from gateway.exchange import repository as outbox
from gateway.records import repository as records
from gateway.terms.document import EXAMPLE_TERMS, signed_copy
from gateway.trust.keys import SigningKey

TERMS_REF: dict[str, Any] | None = None  # let each node fill in the terms in force


@dataclass
class PartySummary:
    party: str
    sent: int
    received: int
    rejected: int
    deliveries: dict[str, int]

    @property
    def receipts(self) -> int:
        return self.deliveries.get("delivered", 0) + self.deliveries.get("rejected", 0)


def summarize(nodes: dict[str, DemoNode]) -> list[PartySummary]:
    result = []
    for party, demo in nodes.items():
        with demo.node.transaction() as session:
            counts = records.counts(session)
            deliveries = outbox.count_by_status(session)
        result.append(
            PartySummary(
                party, counts.get(("out", "valid"), 0), counts.get(("in", "valid"), 0),
                counts.get(("in", "invalid"), 0), deliveries,
            )
        )
    return result


def summary_table(summaries: list[PartySummary], elapsed: float) -> Table:
    table = Table(title=f"MOU Gateway demo — {elapsed:.1f} s")
    for column in ("party", "sent", "received", "rejected", "delivered", "pending", "dead", "receipts verified"):
        table.add_column(column, justify="right" if column != "party" else "left")
    for s in summaries:
        table.add_row(
            s.party, str(s.sent), str(s.received), str(s.rejected),
            str(s.deliveries.get("delivered", 0)), str(s.deliveries.get("pending", 0)),
            str(s.deliveries.get("dead", 0)), str(s.receipts),
        )
    return table


def wait_settled(nodes: dict[str, DemoNode], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(s.deliveries.get("pending", 0) == 0 for s in summarize(nodes)):
            return
        time.sleep(0.1)
    raise scenario.ScenarioError("deliveries still pending after the scenario")


def run_demo(
    console: Console, *, flights: int = 1, workdir: Path | None = None, serve: bool = False,
    stop_event: threading.Event | None = None,
) -> list[PartySummary]:
    """Run the demo; returns the per-party summary. Raises ScenarioError on a failed step."""
    started = time.monotonic()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="mou-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    console.print(f"work directory: {workdir}")
    files, bundle_path = make_pki(workdir)
    console.print("PKI: a root CA, TLS and record-signing certificates for PA, CO and US")
    keys = {party: SigningKey.from_files(f.signing_key, f.signing_cert) for party, f in files.items()}
    terms = signed_copy(EXAMPLE_TERMS, workdir / "terms" / EXAMPLE_TERMS.name, keys)
    console.print(f"terms {terms.terms_id} v{terms.version} signed by {', '.join(sorted(keys))}")
    nodes = start_nodes(workdir, files, bundle_path, workdir / "terms" / EXAMPLE_TERMS.name)
    try:
        for demo in nodes.values():
            console.print(f"  {demo.party}: partner {demo.partner_url} (mTLS)  agency {demo.agency_url}")
        tally = scenario.Tally()
        plan = synthetic.flights(flights)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=False) as progress:
            task = progress.add_task("removal flights", total=len(plan))
            for flight in plan:
                scenario.fly(nodes, flight, TERMS_REF, tally, with_flags=flight.number == 1)
                progress.advance(task)
        console.print(f"{tally.flights} flight(s), {tally.people} people: manifests to CO and US, "
                      "CO acknowledgements, removal confirmations; PA↔US criminal-network flags")
        reason = scenario.tampered_record(nodes, TERMS_REF, tally)
        console.print(f"altered record: CO answered a signed [bold]rejected[/bold] receipt ({reason})")
        scenario.refused_at_sender(nodes, TERMS_REF, tally)
        console.print(f"refused at the sender: {tally.refused_at_sender[-1]}")
        scenario.refused_by_terms(nodes, TERMS_REF, tally)
        console.print(f"refused by the terms: {tally.refused_at_sender[-1]}")
        wait_settled(nodes)
        summaries = summarize(nodes)
        console.print(summary_table(summaries, time.monotonic() - started))
        if serve:
            path = write_nodes_json(workdir, nodes, bundle_path)
            console.print(f"nodes are running; connection details in {path}. Ctrl-C stops.")
            (stop_event or threading.Event()).wait()
        return summaries
    finally:
        stop_nodes(nodes)
