"""``gateway evidence export|verify``: one file that proves a record, checked offline (docs/evidence.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gateway.commands.audit import ledger_session
from gateway.commands.common import ConfigOption, fail, settings_from, stderr, stdout
from gateway.evidence.service import export_evidence
from gateway.evidence.verify import verify_evidence
from gateway.records.signing import rfc3339
from gateway.trust.bundle import TrustBundle
from gateway.trust.longterm import Standing

app = typer.Typer(help="Export a record's evidence bundle and verify one offline.", no_args_is_help=True)


@app.command("export")
def export(
    record_id: Annotated[str, typer.Argument(help="The record's id.")],
    out: Annotated[Path, typer.Option(help="Where to write the evidence bundle (JSON).")],
    originator: Annotated[
        str | None, typer.Option(help="The record's originator party, when several used the id.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write RECORD_ID's JWS, certificates, CRLs, receipts, ledger proof and terms into one file."""
    settings = settings_from(config)
    if settings.trust_bundle is None:
        fail("GATEWAY_TRUST_BUNDLE is not set")
        return
    bundle = TrustBundle.load(settings.trust_bundle)
    from gateway.node import open_vault

    vault = open_vault(settings)  # the bundle carries the record's JWS: its body is opened
    try:
        with ledger_session(settings, None, vault) as session:
            evidence = export_evidence(
                session,
                party=settings.party,
                record_id=record_id,
                originator=originator.upper() if originator else None,
                bundle=bundle,
                terms_files=settings.terms_files,
                now=datetime.now(UTC),
            )
    finally:
        vault.keystore.engine.dispose()
    out.write_text(evidence.to_json(), "utf-8")
    if evidence.ledger is None:
        stderr.print(
            "[yellow]warning:[/yellow] no signed checkpoint covers the record yet; the bundle has no ledger proof",
            markup=True,
        )
    stdout.print(
        f"evidence of record {record_id}: {len(evidence.receipts)} receipt(s)"
        + (f", {len(evidence.ledger.entries)} ledger entries" if evidence.ledger else "")
        + f" → {out}",
        soft_wrap=True,
    )


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="Evidence bundle from `gateway evidence export`.")],
    trust: Annotated[
        Path | None, typer.Option(help="Your trust bundle: check the record against your CAs, not the file's.")
    ] = None,
) -> None:
    """Verify an evidence bundle offline (no database, no network); print what it proves."""
    anchors = TrustBundle.load(trust) if trust is not None else None
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
        return
    proven = verify_evidence(data, trust=anchors, now=datetime.now(UTC))
    record = proven.record
    colour = "green" if proven.standing in (Standing.VALID, Standing.VALID_WHEN_RECEIVED) else "red"
    stdout.print(
        f"[{colour}]{proven.standing.value.replace('_', ' ')}[/{colour}] {record.record_type} {record.record_id}",
        soft_wrap=True,
        markup=True,
    )
    stdout.print(f"  signed by   {proven.signer_party}: {proven.signer_subject}", soft_wrap=True)
    bound = (
        f", before {rfc3339(proven.received_before)} (checkpoint of {proven.ledger_party})"
        if proven.received_before
        else ""
    )
    stdout.print(
        f"  received    by {', '.join(proven.received_by)} at {rfc3339(proven.received_at)}{bound}", soft_wrap=True
    )
    if proven.tree_size is not None:
        stdout.print(
            f"  ledger      {len(proven.ledger_entries)} entries ({', '.join(proven.ledger_entries)}) "
            f"in {proven.ledger_party}'s tree of {proven.tree_size}",
            soft_wrap=True,
        )
    if proven.terms is not None:
        stdout.print(f"  terms       {proven.terms}, signed by {', '.join(proven.terms_signed_by)}", soft_wrap=True)
    stdout.print(f"  why         {proven.standing_reason}", soft_wrap=True)
    stdout.print(f"  anchored in {proven.anchors}", soft_wrap=True)
    if proven.standing is Standing.SUSPECT:
        raise typer.Exit(1)


@app.command("check-standing")
def check_standing(config: ConfigOption = None) -> None:
    """Judge every stored record with the trust bundle's CRLs now; flag suspect ones and tell their reviewers.

    Run it after adopting a new CRL or trust update (`serve` also runs it
    every standing_check_seconds). Each newly suspect record gets a
    records:record:suspected ledger event; officers who viewed or answered
    it see a notice on the console inbox (docs/evidence.md).
    """
    from gateway.evidence.standing_check import run_standing_check
    from gateway.node import build_node

    node = build_node(settings_from(config))
    try:
        check = run_standing_check(node, actor="cli")
    finally:
        node.close()
    for found in check.found:
        told = ", ".join(found.reviewers) if found.reviewers else "no officer had reviewed it"
        stdout.print(
            f"SUSPECT {found.record_id} (from {found.originator}): {found.reason}", soft_wrap=True, markup=False
        )
        stdout.print(f"  notified: {told}", soft_wrap=True, markup=False)
    for record_id in check.unreadable:
        stderr.print(f"warning: the sealed body of record {record_id} failed its integrity check", soft_wrap=True)
    stdout.print(
        f"standing checked: {check.judged} record(s) judged, {len(check.found)} newly suspect, "
        f"{check.notices} officer notice(s)",
        soft_wrap=True,
    )
