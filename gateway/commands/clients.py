"""``gateway clients``: agency API clients (OAuth 2.0 client credentials)."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.clients import service
from gateway.clients.schemas import VALID_SCOPES
from gateway.commands.common import ConfigOption, node_database, settings_from, stderr, stdout
from gateway.commands.output import OutputFormat, OutputOption, print_rows, rfc3339_utc
from gateway.node import utc_now

app = typer.Typer(help="Agency API clients (OAuth 2.0 client credentials).", no_args_is_help=True)

_SCOPES_HELP = ", ".join(sorted(VALID_SCOPES))


@app.command("add")
def add(
    name: Annotated[str, typer.Option(help="Who the client is, e.g. the agency and system.")],
    scope: Annotated[list[str], typer.Option("--scope", help=f"Scope to grant (repeatable): {_SCOPES_HELP}.")],
    agency: Annotated[
        str | None,
        typer.Option(
            help="The agency the client acts for, as its records name it in originator.agency "
            "(only that agency's clients, or admin clients, may correct or retract its records)."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Create an API client and print its id and secret (shown only this once)."""
    with node_database(settings_from(config)) as session:
        client_id, secret = service.create_client(session, name, scope, utc_now(), actor="cli", agency=agency)
    stdout.print(f"client_id:     {client_id}", soft_wrap=True)
    stdout.print(f"client_secret: {secret}", soft_wrap=True)
    if agency is None:
        stderr.print(
            "[yellow]note:[/yellow] no --agency: this client may not correct or retract records"
            " (set one with `gateway clients set-agency`).",
            soft_wrap=True,
            markup=True,
        )
    stderr.print(
        "[yellow]warning:[/yellow] copy the secret now: the gateway stores only an argon2id hash"
        " and cannot show it again.",
        soft_wrap=True,
        markup=True,
    )


@app.command("list")
def list_(config: ConfigOption = None, output: OutputOption = OutputFormat.TABLE) -> None:
    """List API clients (never their secrets)."""
    with node_database(settings_from(config)) as session:
        clients = service.list_clients(session)
    if not clients and output is OutputFormat.TABLE:
        stderr.print("no API clients; create one with `gateway clients add`")
        return
    print_rows(
        ["client id", "status", "created", "scopes", "agency", "name"],
        [
            (
                c.client_id,
                "active" if c.active else "disabled",
                rfc3339_utc(c.created_at),
                " ".join(c.scopes),
                c.agency or "",
                c.name,
            )
            for c in clients
        ],
        output,
    )


@app.command("set-agency")
def set_agency(
    client_id: Annotated[str, typer.Argument(help="The client's id (agc_...).")],
    agency: Annotated[str, typer.Option(help="The agency the client acts for, as in originator.agency.")],
    config: ConfigOption = None,
) -> None:
    """Set the agency an existing API client acts for (clients created before agencies had none)."""
    with node_database(settings_from(config)) as session:
        stored = service.set_agency(session, client_id, agency, utc_now(), actor="cli")
    stdout.print(f"client {client_id} acts for {stored}", soft_wrap=True)
