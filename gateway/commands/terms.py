"""``gateway terms``: show, check and sign the MOU data-sharing terms."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from gateway.commands.common import ConfigOption, fail, settings_from, stderr, stdout, write_stdout_text
from gateway.commands.output import OutputFormat, OutputOption, print_rows
from gateway.errors import InputError
from gateway.terms.document import (
    EXAMPLE_TERMS,
    check_signature,
    check_signatures,
    dump_terms,
    load_terms,
    sign_terms,
    terms_digest,
    terms_for_parties,
    with_signatures,
)
from gateway.terms.schemas import Terms
from gateway.trust.bundle import TrustBundle
from gateway.trust.keys import SigningKey

app = typer.Typer(help="The MOU data-sharing terms: show, check, sign.", no_args_is_help=True)


def _flows_table(terms: Terms, live: dict[str, bool] | None = None) -> Table:
    table = Table("flow", "from → to", "record types", "purposes", "offences", "fields", *(["live"] if live else []))
    for flow in terms.flows:
        row = [
            flow.id,
            f"{flow.from_party} → {', '.join(flow.to)}",
            ", ".join(t.value for t in flow.record_types),
            ", ".join(flow.purposes),
            ", ".join(c.value for c in flow.offence_categories) if flow.offence_categories else "any",
            "all" if flow.fields is None else f"{len(flow.fields)} listed ({flow.outside_fields} others)",
        ]
        if live:
            row.append("yes" if live[flow.id] else "no")
        table.add_row(*row)
    return table


@app.command("show")
def show(
    file: Annotated[Path | None, typer.Argument(help="Terms YAML (default: the node's terms files).")] = None,
    config: ConfigOption = None,
) -> None:
    """Print the terms in a readable table: parties, dates, flows, retention, prohibitions."""
    paths = [file] if file else settings_from(config).terms_files
    if not paths:
        fail("no terms file given", "pass FILE or set GATEWAY_TERMS_FILES")
    for path in paths:
        terms = load_terms(path)
        stdout.print(
            f"[bold]{escape(terms.title)}[/bold]  ({terms.terms_id} v{terms.version}, sha256 {terms_digest(terms)})",
            markup=True,
        )
        stdout.print(
            f"in force {terms.effective_from} … {terms.expires_on}; parties: "
            + "; ".join(f"{p.code} {p.authority}" for p in terms.parties)
        )
        stdout.print(_flows_table(terms))
        retention = Table("record type", "subject status", "retention (days)")
        for rule in terms.retention:
            retention.add_row(
                rule.record_type.value, rule.subject_status.value if rule.subject_status else "any", str(rule.days)
            )
        stdout.print(retention)
        stdout.print(
            f"prohibitions: no flag about a person under {terms.prohibitions.minimum_flag_subject_age}; "
            + (
                "nothing to a person's state of nationality while a protection claim is pending; "
                if terms.prohibitions.no_records_to_nationality_state_with_pending_protection_claim
                else ""
            )
            + f"onward sharing needs originator consent: {terms.onward_sharing.requires_originator_consent}, "
            f"never for {', '.join(h.value for h in terms.onward_sharing.forbidden_handling)}; "
            f"human review before action: {', '.join(t.value for t in terms.human_review_required)}; "
            "deletion notices at the end of retention: "
            + (
                ", ".join(
                    who
                    for who, on in (
                        ("recipients → originator", terms.deletion_notices.recipients_notify_originator),
                        ("originator → recipients", terms.deletion_notices.originator_notifies_recipients),
                    )
                    if on
                )
                or "none"
            )
        )
        stdout.print("signed by: " + (", ".join(s.party for s in terms.signatures) or "nobody yet"))


@app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="Terms YAML file.")],
    trust: Annotated[Path, typer.Option(help="Trust bundle (JSON).")],
    at: Annotated[str | None, typer.Option(help="Check as of this RFC 3339 time (default now).")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Check validity, dates and signatures; list each flow and whether it is live. Exit 1 if not usable."""
    from gateway.commands.records import parse_time

    moment = parse_time(at) if at else datetime.now(UTC)
    terms = load_terms(file)
    bundle = TrustBundle.load(trust)
    checks = check_signatures(terms, bundle, moment)
    live = {f.id: all(checks[p].valid for p in terms.signers_needed(f)) for f in terms.flows}
    signatures = [(party, bool(result.valid), result.detail) for party, result in sorted(checks.items())]
    flows = [
        (f.id, f.from_party, ", ".join(f.to), ", ".join(t.value for t in f.record_types), live[f.id])
        for f in terms.flows
    ]
    if output is OutputFormat.JSON:
        document = {
            "signatures": [{"party": p, "valid": v, "detail": d} for p, v, d in signatures],
            "flows": [{"flow": i, "from": s, "to": t, "record_types": r, "live": ok} for i, s, t, r, ok in flows],
        }
        write_stdout_text(json.dumps(document, indent=2) + "\n")
    else:
        print_rows(["party", "signature valid", "detail"], signatures, output)
        write_stdout_text("\n")  # two tables: a blank line between them (TSV too)
        print_rows(["flow", "from", "to", "record types", "live"], flows, output)
    problems = []
    if not terms.effective_from <= moment.date() <= terms.expires_on:
        problems.append(f"not in force on {moment.date()} (in force {terms.effective_from} … {terms.expires_on})")
    tampered = [p for p, r in checks.items() if r.valid is False and r.detail != "not signed"]
    if tampered:
        problems.append(f"invalid signature of {', '.join(sorted(tampered))} (edited after signing?)")
    if not any(live.values()):
        problems.append("no flow is live: every party to a flow must sign this exact version")
    if problems:
        fail("; ".join(problems))
    stderr.print(f"[green]ok[/green]: {sum(live.values())} of {len(live)} flows live", markup=True)


@app.command("new")
def new(
    parties: Annotated[str, typer.Option(help="Party codes, comma-separated, e.g. PA,CO.")],
    out: Annotated[Path, typer.Option(help="Where to write the new terms (YAML); never overwritten.")],
    source: Annotated[
        Path, typer.Option("--from", help="Terms to start from (default: the shipped PA-CO-US terms).")
    ] = EXAMPLE_TERMS,
) -> None:
    """Write starting terms for a subset of parties: their flows only, a fresh terms_id, unsigned."""
    import uuid

    codes = [p.strip().upper() for p in parties.split(",") if p.strip()]
    if out.exists():
        fail(f"{out} exists", hint="give another --out (terms files are never overwritten)")
    terms_id = f"{'-'.join(c.lower() for c in codes)}-mou-{uuid.uuid4().hex[:8]}"
    subset = terms_for_parties(load_terms(source), codes, terms_id)
    header = (
        f"# Starting terms for {', '.join(codes)}, written by `gateway terms new` from {source.name}.\n"
        "# Review every flow, purpose, retention rule and prohibition with the parties' legal teams;\n"
        "# then each party signs with `gateway terms sign` and checks with `gateway terms check`.\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    dump_terms(subset, out, header=header)
    flows = ", ".join(f.id for f in subset.flows)
    stdout.print(f"{subset.terms_id} v1 for {', '.join(codes)} → {out} (unsigned; flows: {flows})", soft_wrap=True)


@app.command("sign")
def sign(
    file: Annotated[Path, typer.Argument(help="Terms YAML file (its signatures block is rewritten).")],
    party: Annotated[str, typer.Option(help="Your party code.")],
    key: Annotated[Path, typer.Option(help="Your record-signing private key (PEM).")],
    cert: Annotated[Path, typer.Option(help="Your record-signing certificate (PEM).")],
    chain: Annotated[Path | None, typer.Option(help="Intermediate CA certificates (PEM).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of rewriting FILE.")] = None,
    trust: Annotated[
        Path | None, typer.Option(help="Trust bundle (JSON) to check the signature with; default: the node's.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Add your party's detached signature over the canonical digest of the terms.

    The new signature is checked as `terms check` checks it (your party's CA,
    a record-signing certificate, valid now) before anything is written; only
    the file's signatures block changes, so its comments stay.
    """
    code = party.upper()
    text = read_text(file)
    terms = load_terms(file)
    bundle_path = trust or (settings_from(config).trust_bundle if config is not None else None)
    if bundle_path is None:
        fail(
            "terms sign needs a trust bundle to check the new signature as `terms check` would",
            hint="give --trust BUNDLE or --config FILE",
        )
        return
    signed = sign_terms(terms, code, SigningKey.from_files(key, cert, chain))
    mine = next(s for s in signed.signatures if s.party == code)
    result = check_signature(signed, mine, TrustBundle.load(bundle_path), datetime.now(UTC))
    if not result.valid:
        fail(
            f"{code}'s signature with {cert} would be refused: {result.detail}",
            hint=f"sign with {code}'s record-signing key and certificate; nothing was written",
        )
    target = out or file
    write_atomically(target, with_signatures(text, signed, str(file)))
    stdout.print(f"{code} signed {terms.terms_id} v{terms.version} (sha256 {terms_digest(terms)}) → {target}")


def read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (a reader never sees half a file)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, "utf-8")
    os.replace(partial, path)
