"""``gateway clients``: agency API clients (OAuth 2.0 client credentials)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.clients import service
from gateway.clients.schemas import VALID_SCOPES
from gateway.commands.common import ConfigOption, fail, settings_from, stderr, stdout
from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.migrate import current_revision
from gateway.node import utc_now

app = typer.Typer(help="Agency API clients (OAuth 2.0 client credentials).", no_args_is_help=True)

_SCOPES_HELP = ", ".join(sorted(VALID_SCOPES))
_SETUP_HINT = "check data_dir or database_url, and run `gateway db upgrade` first"


@contextmanager
def _node_database(config: ConfigOption) -> Iterator[Session]:
    """Yield a session in one transaction on the node's database; exit 1 if it is not migrated."""
    settings = settings_from(config)
    engine = make_engine(settings.sqlalchemy_url())
    try:
        try:
            revision = current_revision(engine)
        except OperationalError as exc:
            fail(f"cannot open the node's database: {exc.orig}", hint=_SETUP_HINT)
        if revision is None:
            fail("the node's database has no schema", hint=_SETUP_HINT)
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


@app.command("add")
def add(
    name: Annotated[str, typer.Option(help="Who the client is, e.g. the agency and system.")],
    scope: Annotated[list[str], typer.Option("--scope", help=f"Scope to grant (repeatable): {_SCOPES_HELP}.")],
    config: ConfigOption = None,
) -> None:
    """Create an API client and print its id and secret (shown only this once)."""
    with _node_database(config) as session:
        client_id, secret = service.create_client(session, name, scope, utc_now(), actor="cli")
    stdout.print(f"client_id:     {client_id}", soft_wrap=True)
    stdout.print(f"client_secret: {secret}", soft_wrap=True)
    stderr.print(
        "[yellow]warning:[/yellow] copy the secret now: the gateway stores only an argon2id hash"
        " and cannot show it again.",
        soft_wrap=True,
    )


@app.command("list")
def list_(config: ConfigOption = None) -> None:
    """List API clients (never their secrets)."""
    with _node_database(config) as session:
        clients = service.list_clients(session)
    if not clients:
        stdout.print("no API clients; create one with `gateway clients add`")
        return
    for client in clients:
        status = "active" if client.active else "disabled"
        stdout.print(
            f"{client.client_id}  {status:<8}  {client.created_at:%Y-%m-%dT%H:%MZ}  "
            f"{' '.join(client.scopes):<40}  {escape(client.name)}",
            soft_wrap=True,
        )
