"""Offline record commands: ``gateway sign`` and ``gateway verify`` (no server, no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gateway.commands.common import fail, stdout, write_stdout_text
from gateway.errors import InputError
from gateway.records.schemas import record_json
from gateway.records.signing import build_record, judge_record, rfc3339, sign_record, verify_record
from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import parse_strict
from gateway.trust.errors import CanonicalizationError, TrustError
from gateway.trust.keys import SigningKey


def read_json_file(path: Path) -> object:
    """Return the parsed JSON of ``path``; raises InputError with what is wrong."""
    try:
        return parse_strict(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    except CanonicalizationError as exc:
        raise InputError(f"{path}: {exc.detail}") from exc


def parse_time(value: str | None) -> datetime:
    """Return ``value`` (RFC 3339) as an aware UTC datetime, or now when None."""
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an RFC 3339 time", param_hint="--at") from exc
    if moment.tzinfo is None:
        raise typer.BadParameter("give a UTC offset, e.g. 2026-01-01T00:00:00Z", param_hint="--at")
    return moment.astimezone(UTC)


def sign(
    draft: Annotated[Path, typer.Argument(help="Record draft (JSON).")],
    key: Annotated[Path, typer.Option(help="Signing private key (PEM).")],
    cert: Annotated[Path, typer.Option(help="Signing certificate (PEM).")],
    chain: Annotated[Path | None, typer.Option(help="Intermediate CA certificates (PEM).")] = None,
) -> None:
    """Sign a record draft offline and print the compact JWS.

    Fills record_id (UUIDv7) and created_at when absent; the payload is the
    RFC 8785 canonical JSON of the validated record.
    """
    document = read_json_file(draft)
    if not isinstance(document, dict):
        fail(f"{draft} is not a JSON object", "a record draft is one JSON object")
        return
    signing_key = SigningKey.from_files(key, cert, chain)
    try:
        record = build_record(document, datetime.now(UTC))
    except TrustError as exc:
        fail(f"{draft} is not a valid record: {exc.detail}", "fix the fields named above")
        return
    write_stdout_text(sign_record(record, signing_key).jws + "\n")


def verify(
    record: Annotated[Path, typer.Argument(help="File holding one compact JWS.")],
    trust: Annotated[Path, typer.Option(help="Trust bundle (JSON).")],
    at: Annotated[
        str | None,
        typer.Option(
            help="The proven time the record was received (its receipt's received_at, RFC 3339): answer whether it "
            "was valid then, judged with today's CRLs (docs/evidence.md). Default: verify it as of now."
        ),
    ] = None,
) -> None:
    """Verify a signed record offline; print its envelope, or the failing step and reason.

    With --at: valid (still), valid when received, suspect (key compromised
    before that time) or invalid; exit 1 unless valid or valid when received.
    """
    bundle = TrustBundle.load(trust)
    try:
        data = record.read_bytes()
    except OSError as exc:
        fail(f"cannot read {record}: {exc.strerror}")
        return
    if at is not None:
        verdict = judge_record(data, bundle, parse_time(at), datetime.now(UTC))
        if verdict.error is not None:
            error = verdict.error
            fail(
                f"not valid when received on {rfc3339(verdict.proven_at)}: verification failed at step "
                f"{error.step}: {error.title}: {error.detail}"
            )
            return
        if not verdict.acceptable or verdict.verified is None:
            fail(f"{verdict.standing.value}: {verdict.reason}")
            return
        verified = verdict.verified
        stdout.print(
            f"[green]{verdict.standing.value.replace('_', ' ')}[/green]: {escape(verdict.reason)}",
            soft_wrap=True,
            markup=True,
        )
    else:
        try:
            verified = verify_record(data, bundle, parse_time(at))
        except TrustError as exc:
            fail(f"verification failed at step {exc.step}: {exc.title}: {exc.detail}")
            return
    envelope = record_json(verified.payload)
    body = envelope.pop("body")
    stdout.print(f"[green]valid[/green] {verified.payload.record_type} {verified.payload.record_id}", markup=True)
    stdout.print(f"  signer   {verified.signer_party}: {verified.signer_subject}")
    stdout.print(f"  kid      {verified.kid} ({verified.algorithm})")
    stdout.print(f"  verified {rfc3339(verified.verified_at)}")
    write_stdout_text(json.dumps({**envelope, "body_fields": sorted(body)}, indent=2, ensure_ascii=False) + "\n")
