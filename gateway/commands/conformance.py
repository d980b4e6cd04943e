"""``gateway conformance run``: act as a partner against any implementation of the partner protocol."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from gateway.commands.common import fail, stdout
from gateway.conformance.registry import Status
from gateway.conformance.report import results_table, summary, write_junit
from gateway.conformance.runner import run_all
from gateway.conformance.target import DEFAULT_DRAFTS, Identity, Target
from gateway.errors import GatewayError
from gateway.trust.bundle import TrustBundle
from gateway.trust.keys import SigningKey, load_private_key

app = typer.Typer(help="Conformance kit for the partner protocol (docs/protocol.md).", no_args_is_help=True)


@app.command("run")
def run(
    target: Annotated[str, typer.Option("--target", help="Partner listener URL of the implementation under test.")],
    cert: Annotated[
        Path, typer.Option("--cert", exists=True, dir_okay=False, help="Kit's TLS client certificate (PEM).")
    ],
    key: Annotated[Path, typer.Option("--key", exists=True, dir_okay=False, help="Its private key (PEM).")],
    ca: Annotated[
        Path, typer.Option("--ca", exists=True, dir_okay=False, help="CA certificate(s) of the target's TLS server.")
    ],
    signing_cert: Annotated[
        Path, typer.Option("--signing-cert", exists=True, dir_okay=False, help="Kit's record-signing certificate.")
    ],
    signing_key: Annotated[Path, typer.Option("--signing-key", exists=True, dir_okay=False, help="Its private key.")],
    bundle: Annotated[
        Path,
        typer.Option(
            "--bundle", exists=True, dir_okay=False, help="Trust bundle naming the target's and the kit's CAs."
        ),
    ],
    party: Annotated[str, typer.Option("--party", help="The kit's party code (default: from --cert).")] = "",
    other_cert: Annotated[
        Path | None, typer.Option("--other-cert", exists=True, dir_okay=False, help="TLS certificate of a third party.")
    ] = None,
    other_key: Annotated[Path | None, typer.Option("--other-key", exists=True, dir_okay=False, help="Its key.")] = None,
    drafts: Annotated[
        Path, typer.Option("--drafts", file_okay=False, help="Directory of example drafts.")
    ] = DEFAULT_DRAFTS,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report to this file.")] = None,
    only: Annotated[str, typer.Option("--only", help="Run only cases whose id starts with this (e.g. RCP).")] = "",
    control: Annotated[
        str | None, typer.Option("--control", help="Test-control URL of the target (docs/protocol.md, section 13).")
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option("--listen", help="HOST:PORT for the kit's partner listener (the target delivers there)."),
    ] = None,
    ca_key: Annotated[
        Path | None,
        typer.Option("--ca-key", exists=True, dir_okay=False, help="Key of the kit's party CA (test PKI only)."),
    ] = None,
    checkpoint_wait: Annotated[
        float, typer.Option("--checkpoint-wait", help="Seconds to wait for a checkpoint covering the kit's records.")
    ] = 90.0,
) -> None:
    """Run every conformance case against TARGET; print a table, exit 1 if any case fails."""
    if (other_cert is None) != (other_key is None):
        fail("--other-cert and --other-key go together", hint="give both, or neither")
    address = _address(listen) if listen is not None else None
    with tempfile.TemporaryDirectory(prefix="conformance-") as workdir:
        subject = Target(
            url=target.rstrip("/"),
            identity=Identity(cert, key),
            ca=ca,
            signing_key=SigningKey.from_files(signing_key, signing_cert),
            bundle=TrustBundle.load(bundle),
            workdir=Path(workdir),
            party=party.upper(),
            other=Identity(other_cert, other_key) if other_cert is not None and other_key is not None else None,
            drafts=drafts,
            checkpoint_wait=checkpoint_wait,
            control=control,
            listen=address,
            ca_key=load_private_key(ca_key) if ca_key is not None else None,
        )
        try:
            subject.prepare()
        except GatewayError as exc:
            fail(exc.cli_message())
        results = run_all(subject, (lambda item: item.requirement.startswith(only)) if only else None)
    stdout.print(results_table(results))
    stdout.print(f"{subject.party} → {subject.target_party} at {subject.url}: {summary(results)}")
    if junit is not None:
        write_junit(results, junit, subject.url)
    if any(result.status is Status.FAIL for result in results):
        raise typer.Exit(1)


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"--listen {value!r} is not HOST:PORT", hint="e.g. --listen 0.0.0.0:9443")
    return host, int(port)
