"""``gateway demo``: three nodes, the scenario, a summary; optionally keep serving."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.demo import federation, lifecycle, scenario, sso, synthetic
from gateway.demo.cluster import DemoNode, make_pki, start_nodes, stop_nodes, write_nodes_json
from gateway.demo.token import move_signing_key_into_token
from gateway.exchange import repository as outbox
from gateway.ledger import repository as ledger
from gateway.ledger.checkpoints import checkpoint_if_due
from gateway.ledger.errors import LedgerTamperedError
from gateway.ledger.verification import verify_ledger
from gateway.ledger.witness import PartnerLedger, witness_partner
from gateway.records import repository as records
from gateway.terms.document import EXAMPLE_TERMS
from gateway.transport.client import PartnerClients
from gateway.trust.keys import SigningKey
from gateway.trust.token_keys import TokenECPrivateKey

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
                party,
                counts.get(("out", "valid"), 0),
                counts.get(("in", "valid"), 0),
                counts.get(("in", "invalid"), 0),
                deliveries,
            )
        )
    return result


def summary_table(summaries: list[PartySummary], elapsed: float) -> Table:
    table = Table(title=f"MOU Gateway demo — {elapsed:.1f} s")
    for column in ("party", "sent", "received", "rejected", "delivered", "pending", "dead", "receipts verified"):
        table.add_column(column, justify="right" if column != "party" else "left")
    for s in summaries:
        table.add_row(
            s.party,
            str(s.sent),
            str(s.received),
            str(s.rejected),
            str(s.deliveries.get("delivered", 0)),
            str(s.deliveries.get("pending", 0)),
            str(s.deliveries.get("dead", 0)),
            str(s.receipts),
        )
    return table


def wait_settled(nodes: dict[str, DemoNode], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(s.deliveries.get("pending", 0) == 0 for s in summarize(nodes)):
            return
        time.sleep(0.1)
    raise scenario.ScenarioError("deliveries still pending after the scenario")


def _witness_round(nodes: dict[str, DemoNode]) -> None:
    for demo in nodes.values():
        clients = PartnerClients(demo.node)
        try:
            for party in sorted(demo.node.settings.partners):
                witness_partner(demo.node, party, PartnerLedger(clients, party))
        finally:
            clients.close()


def _unwitnessed(nodes: dict[str, DemoNode]) -> dict[str, list[str]]:
    """Return, per party, the partners whose newest witnessed checkpoint of it is not its newest."""
    latest: dict[str, tuple[int, str]] = {}
    for party, demo in nodes.items():
        with demo.node.transaction() as session:
            own = ledger.latest_own_checkpoint(session)
            latest[party] = (own.tree_size, own.root_hash) if own is not None else (-1, "")
    missing: dict[str, list[str]] = {party: [] for party in nodes}
    for witness, demo in nodes.items():
        with demo.node.transaction() as session:
            for party in nodes:
                if party == witness:
                    continue
                seen = ledger.witnessed_baseline(session, party)
                if seen is None or (seen.tree_size, seen.root_hash) != latest[party]:
                    missing[party].append(witness)
    return missing


def check_ledgers(nodes: dict[str, DemoNode]) -> Table:
    """Checkpoint every ledger, let each node witness the others, verify every ledger.

    Returns the table to print. Raises ScenarioError when a ledger does not
    verify or a partner did not witness another's newest checkpoint.
    """
    for demo in nodes.values():
        checkpoint_if_due(demo.node, force=True)
    missing: dict[str, list[str]] = {}
    for _ in range(3):  # a scheduler thread may sign a newer checkpoint meanwhile
        _witness_round(nodes)
        missing = _unwitnessed(nodes)
        if not any(missing.values()):
            break
    table = Table(title="Audit ledgers")
    for column in ("party", "entries", "root", "verified", "newest checkpoint", "witnessed by"):
        table.add_column(column, justify="right" if column == "entries" else "left")
    for party, demo in nodes.items():
        with demo.node.transaction() as session:
            try:
                report = verify_ledger(session, demo.node.bundle)
            except LedgerTamperedError as exc:
                raise scenario.ScenarioError(f"{party} ledger does not verify: {exc.detail}") from exc
            own = ledger.latest_own_checkpoint(session)
        if missing.get(party):
            raise scenario.ScenarioError(f"{', '.join(missing[party])} did not witness {party}'s newest checkpoint")
        witnesses = [p for p in nodes if p != party]
        table.add_row(
            party,
            str(report.entries),
            report.root_hash[:16] + "…",
            "yes",
            f"size {own.tree_size}" if own is not None else "-",
            ", ".join(witnesses),
        )
    return table


def run_demo(
    console: Console,
    *,
    flights: int = 1,
    workdir: Path | None = None,
    serve: bool = False,
    stop_event: threading.Event | None = None,
    parties: Sequence[str] = ("PA", "CO", "US"),
    pkcs11: bool = False,
    sso: bool = False,
) -> list[PartySummary]:
    """Run the demo with ``parties``; returns the per-party summary. Raises ScenarioError on a failed step.

    ``sso`` starts the test OpenID Connect provider and configures every founding node for it
    (gateway.demo.sso); raises ConfigurationError when it cannot run.

    Parties of the example terms found the federation; any other joins it
    once the founders' scenario ran (gateway.demo.federation).
    """
    started = time.monotonic()
    members = federation.plan(parties)  # before any directory or key is made
    if workdir is None:
        # Every party's CA key is in there: a temporary directory goes when the demo ends.
        temporary = Path(tempfile.mkdtemp(prefix="mou-demo-"))
        console.print(f"work directory: {temporary} (removed at the end; --workdir DIR keeps one)")
        try:
            return _run_in(console, temporary, started, flights, serve, stop_event, members, pkcs11, sso)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
            console.print(f"removed the work directory {temporary} and the keys in it")
    workdir.mkdir(parents=True, exist_ok=True)
    console.print(f"work directory: {workdir} (kept: it holds every party's CA and private keys)")
    return _run_in(console, workdir, started, flights, serve, stop_event, members, pkcs11, sso)


def _run_in(
    console: Console,
    workdir: Path,
    started: float,
    flights: int,
    serve: bool,
    stop_event: threading.Event | None,
    members: federation.Federation,
    pkcs11: bool = False,
    use_sso: bool = False,
) -> list[PartySummary]:
    files, _ = make_pki(workdir, members.founders)
    console.print(f"PKI: a root CA, TLS and record-signing certificates for {', '.join(members.founders)}")
    tokens = {}
    if pkcs11:
        tokens["PA"] = move_signing_key_into_token(workdir, files["PA"], "PA")
        console.print(f"PA's record-signing key is in a SoftHSM2 token: {tokens['PA'].uri}")
    keys = {
        party: tokens[party].signing_key(f.signing_cert)
        if party in tokens
        else SigningKey.from_files(f.signing_key, f.signing_cert)
        for party, f in files.items()
    }
    founding = workdir / "terms" / EXAMPLE_TERMS.name
    terms = federation.founding_terms(members, founding, keys)
    console.print(f"terms {terms.terms_id} v{terms.version} signed by {', '.join(sorted(keys))}")
    for key in keys.values():
        if isinstance(key.private_key, TokenECPrivateKey):
            key.private_key.token_session.close()
    provider = sso.reserve_provider(workdir, list(members.founders)) if use_sso else None
    overrides = {
        p: {**(tokens[p].settings() if p in tokens else {}), **(provider.node_settings(p) if provider else {})}
        for p in files
        if p in tokens or provider is not None
    }
    nodes = start_nodes(workdir, files, [founding], overrides=overrides)
    try:
        if provider is not None:
            provider.start([demo.agency_url for demo in nodes.values()])
            for demo in nodes.values():
                demo.extras["sso"] = provider.nodes_json_entry()
            console.print(f"identity provider (OpenID Connect) {provider.issuer}: users in nodes.json under sso")
        for demo in nodes.values():
            console.print(f"  {demo.party}: partner {demo.partner_url} (mTLS)  agency {demo.agency_url}")
        tally = scenario.Tally()
        plan = synthetic.flights(flights)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("removal flights", total=len(plan))
            first: tuple[str, str, str] | None = None
            for flight in plan:
                ids = scenario.fly(nodes, flight, TERMS_REF, tally, with_flags=flight.number == 1)
                first = first or ids
                progress.advance(task)
        partner = scenario.flag_partner(nodes).party
        console.print(
            f"{tally.flights} flight(s), {tally.people} people: manifests to "
            f"{' and '.join(p for p in ('CO', 'US') if p in nodes)}, "
            f"CO acknowledgements, removal confirmations; PA↔{partner} criminal-network flags"
        )
        if first is not None:
            for line in lifecycle.play(nodes, lifecycle.FlightOne(*first), tally):
                console.print(line)
        reason = scenario.tampered_record(nodes, TERMS_REF, tally)
        console.print(f"altered record: CO answered a signed [bold]rejected[/bold] receipt ({reason})")
        scenario.refused_at_sender(nodes, TERMS_REF, tally)
        console.print(f"refused at the sender: {tally.refused_at_sender[-1]}")
        scenario.refused_by_terms(nodes, TERMS_REF, tally)
        console.print(f"refused by the terms: {tally.refused_at_sender[-1]}")
        wait_settled(nodes)
        if members.joiners:
            nodes, lines = federation.join(workdir, nodes, files, members, founding)
            for line in lines:
                console.print(line)
            for joiner in members.joiners:
                scenario.joiner_flags(nodes, joiner, tally)
                console.print(f"{joiner} flagged a smuggling facilitator to PA; PA answered with a linked flag")
            wait_settled(nodes)
        summaries = summarize(nodes)
        console.print(summary_table(summaries, time.monotonic() - started))
        console.print(check_ledgers(nodes))
        if serve:
            path = write_nodes_json(workdir, nodes)
            console.print(f"nodes are running; connection details in {path}. Ctrl-C stops.")
            (stop_event or threading.Event()).wait()
        return summaries
    finally:
        stop_nodes(nodes)
        if provider is not None:
            provider.stop()
