"""``gateway officers``: liaison officer accounts for the web console."""

from __future__ import annotations

import io
from typing import Annotated

import typer

from gateway.commands.common import ConfigOption, node_database, settings_from, stderr, stdout
from gateway.commands.output import OutputFormat, OutputOption, print_rows, rfc3339_utc
from gateway.console import service
from gateway.console.schemas import Role
from gateway.console.seeds import SeedCipher
from gateway.node import utc_now

app = typer.Typer(help="Officer accounts for the web console (/console).", no_args_is_help=True)


def terminal_qr(uri: str) -> str | None:
    """Return ``uri`` as a QR code drawn with block characters, or None without segno."""
    try:
        import segno
    except ImportError:  # optional: the URI alone is enough to enrol
        return None
    buffer = io.StringIO()
    segno.make(uri, error="m").terminal(out=buffer, compact=True)
    return buffer.getvalue()


@app.command("add")
def add(
    name: Annotated[str, typer.Option(help="Login name: 3-64 of a-z 0-9 . _ -")],
    role: Annotated[Role, typer.Option(help="viewer reads; reviewer also answers; admin also administers.")],
    officer_ref: Annotated[
        str | None, typer.Option(help="Reference put on acknowledgements they sign (default: the name).")
    ] = None,
    qr: Annotated[bool, typer.Option(help="Draw the TOTP enrolment URI as a QR code.")] = True,
    config: ConfigOption = None,
) -> None:
    """Create an officer; print a one-time password and the TOTP enrolment URI (shown once)."""
    settings = settings_from(config)
    cipher = SeedCipher.from_settings(settings)  # before anything is written: no key, no officer
    with node_database(settings) as session:
        created = service.create_officer(
            session,
            name,
            role,
            utc_now(),
            issuer=f"MOU Gateway {settings.party}",
            actor="cli",
            officer_ref=officer_ref,
            cipher=cipher,
        )
    stdout.print(f"officer:            {created.username} ({created.role.value})", soft_wrap=True)
    stdout.print(f"one-time password:  {created.password}", soft_wrap=True)
    stdout.print(f"totp secret:        {created.totp_secret}", soft_wrap=True)
    stdout.print(f"totp enrolment uri: {created.otpauth_uri}", soft_wrap=True)
    drawing = terminal_qr(created.otpauth_uri) if qr else None
    if drawing:
        stdout.print(drawing, markup=False, highlight=False, soft_wrap=True)
    stderr.print(
        "[yellow]warning:[/yellow] hand these over securely now: the gateway stores only an "
        "argon2id hash of the password, which must be changed at first sign-in, and the TOTP "
        "secret encrypted under totp_encryption_key.",
        soft_wrap=True,
        markup=True,
    )


@app.command("list")
def list_(config: ConfigOption = None, output: OutputOption = OutputFormat.TABLE) -> None:
    """List officers with their role and lock state (never passwords or TOTP seeds)."""
    now = utc_now()
    with node_database(settings_from(config)) as session:
        officers = service.list_officers(session)
    if not officers and output is OutputFormat.TABLE:
        stderr.print("no officers; create one with `gateway officers add`")
        return
    rows = []
    for officer in officers:
        if officer.disabled_at is not None:
            state = "disabled"
        elif officer.locked_until is not None and officer.locked_until > now:
            state = f"locked until {rfc3339_utc(officer.locked_until)}"
        else:
            state = "active"
        rows.append((officer.username, officer.role.value, state, officer.officer_ref))
    print_rows(["officer", "role", "state", "officer ref"], rows, output)


@app.command("unlock")
def unlock(
    name: Annotated[str, typer.Argument(help="Login name of the officer.")],
    config: ConfigOption = None,
) -> None:
    """Lift the sign-in throttling of an officer's account, from every source address."""
    with node_database(settings_from(config)) as session:
        service.unlock_officer(session, name, utc_now())
    stdout.print(f"officer {name} unlocked")


@app.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="Login name of the officer.")],
    config: ConfigOption = None,
) -> None:
    """Disable an officer: their sessions end and they can no longer sign in."""
    with node_database(settings_from(config)) as session:
        service.set_disabled(session, name, True, utc_now())
    stdout.print(f"officer {service.normalised_username(name)} disabled")


@app.command("enable")
def enable(
    name: Annotated[str, typer.Argument(help="Login name of the officer.")],
    config: ConfigOption = None,
) -> None:
    """Enable a disabled officer again (their password and TOTP seed are unchanged)."""
    with node_database(settings_from(config)) as session:
        service.set_disabled(session, name, False, utc_now())
    stdout.print(f"officer {service.normalised_username(name)} enabled")
