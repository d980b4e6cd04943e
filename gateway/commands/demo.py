"""``gateway demo``: the removal-flight demonstration on loopback nodes (PA, CO, US; others join)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from gateway.commands.common import fail, stdout


def demo(
    flights: Annotated[int, typer.Option(min=1, max=500, help="Flights to replay (59 ≈ 2,000 people).")] = 1,
    serve: Annotated[bool, typer.Option(help="Keep the nodes running afterwards.")] = False,
    workdir: Annotated[Path | None, typer.Option(help="Where PKI, databases and nodes.json go.")] = None,
    parties: Annotated[
        str,
        typer.Option(
            help="Comma-separated party codes. PA, CO and US found the federation (PA,CO: a bilateral "
            "deployment); any other code, e.g. CR, joins it by a signed admission and a terms amendment."
        ),
    ] = "PA,CO,US",
    pkcs11: Annotated[
        bool, typer.Option(help="PA's record-signing key in a SoftHSM2 token (PKCS#11) instead of a PEM file.")
    ] = False,
    sso: Annotated[
        bool,
        typer.Option(
            help="With --serve: start a test OpenID Connect provider and configure every node for it "
            "(its URL and users go into nodes.json under sso)."
        ),
    ] = False,
) -> None:
    """Run the parties' nodes on loopback and replay a removal-flight scenario between them."""
    from gateway.demo.runner import run_demo
    from gateway.demo.scenario import ScenarioError

    if sso and not serve:
        fail("--sso needs --serve: the provider and the nodes must keep running for you to sign in")
    stop = threading.Event()
    try:
        run_demo(
            stdout,
            flights=flights,
            workdir=workdir,
            serve=serve,
            stop_event=stop,
            parties=parties.split(","),
            pkcs11=pkcs11,
            sso=sso,
        )
    except ScenarioError as exc:
        fail(f"demo step failed: {exc}")
    except KeyboardInterrupt:
        stop.set()
        stdout.print("stopped")
