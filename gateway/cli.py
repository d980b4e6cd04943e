"""The ``gateway`` command line. Sub-commands live in ``gateway/commands/``.

Commands are imported when they run, not when ``gateway`` starts: the
node's commands pull in FastAPI, SQLAlchemy and Alembic (over two seconds
of imports), which ``gateway --help`` and ``gateway verify`` never need.
To add a command, add a line to ``COMMANDS``; a test checks that each line's
summary matches the command's own help.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import IO, Any

import typer
from typer import _click as click  # typer bundles its own click; TyperGroup is built on it
from typer.core import TyperGroup
from typer.exceptions import TyperException

from gateway.errors import GatewayError


@dataclass(frozen=True)
class Entry:
    module: str  # gateway.commands.<module>
    attribute: str  # a typer.Typer (a group) or a function (one command)
    summary: str  # the line ``gateway --help`` shows


COMMANDS: dict[str, Entry] = {
    "sign": Entry("records", "sign", "Sign a record draft offline and print the compact JWS."),
    "verify": Entry(
        "records", "verify", "Verify a signed record offline; print its envelope, or the failing step and reason."
    ),
    "serve": Entry(
        "node", "serve", "Start the partner listener (mTLS), the agency listener and (by default) the worker."
    ),
    "worker": Entry(
        "node", "worker", "Run delivery workers only (several processes may share one PostgreSQL database)."
    ),
    "send": Entry("node", "send", "Sign a draft with this node's key and queue it for delivery (the worker sends it)."),
    "doctor": Entry("doctor", "doctor", "Check the configuration as `serve` does at start; exit 1 when a check fails."),
    "demo": Entry(
        "demo", "demo", "Run the parties' nodes on loopback and replay a removal-flight scenario between them."
    ),
    "report": Entry(
        "report",
        "report",
        "Oversight report of a period: records sent and received, rejections, corrections, deletions, access.",
    ),
    "pki": Entry("pki", "app", "Create and manage a development PKI and trust bundles."),
    "party": Entry(
        "party", "app", "Admit a new party into the trust bundle (a signed admission; terms decide its flows)."
    ),
    "db": Entry("database", "app", "Database schema migrations."),
    "keys": Entry("keys", "app", "Keys of record bodies at rest: new and rotated key-encryption keys."),
    "schemas": Entry("schemas", "app", "JSON Schemas of the record types, receipts and terms."),
    "clients": Entry("clients", "app", "Agency API clients (OAuth 2.0 client credentials)."),
    "officers": Entry("officers", "app", "Officer accounts for the web console (/console)."),
    "deliveries": Entry("deliveries", "app", "The outbox: deliveries to partners."),
    "terms": Entry("terms", "app", "The MOU data-sharing terms: show, check, sign."),
    "audit": Entry("audit", "app", "The tamper-evident audit ledger: verify, prove, checkpoints."),
    "evidence": Entry("evidence", "app", "Export a record's evidence bundle and verify one offline."),
    "retention": Entry("retention", "app", "Retention: delete expired record bodies, review dates, legal holds."),
    "conformance": Entry("conformance", "app", "Conformance kit for the partner protocol (docs/protocol.md)."),
}


def load_command(name: str) -> click.Command:
    """Import the command ``name`` and return it as a click command (help in plain words)."""
    import importlib

    from gateway.commands.plain_help import install

    install()
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(f"gateway.commands.{entry.module}"), entry.attribute)
    command: click.Command
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """The top-level group: lists commands from ``COMMANDS`` and imports only the one that runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Plain click layout: the rich one would import every command for its summary.
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        with formatter.section("Options"):
            formatter.write_dl([("--help", "Show this message and exit.")])
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry.summary) for name, entry in COMMANDS.items()])
        formatter.write_paragraph()
        formatter.write_text("`gateway COMMAND --help` explains a command.")


app = typer.Typer(
    cls=LazyGroup,
    help="MOU Gateway: signed-record exchange between the parties of a memorandum of understanding.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """MOU Gateway: signed-record exchange between the parties of a memorandum of understanding."""


class _ClosedPipeSafe:
    """stdout that, once the reader is gone (``| head``), discards the rest instead of failing.

    The command then finishes and exits with its own code; without this a
    BrokenPipeError would turn a successful listing into exit 1 (or 120).
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def _closed(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._closed()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._closed()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _error(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def main() -> None:
    """Entry point: run the CLI, turning gateway errors into one-line messages."""
    if not isinstance(sys.stdout, _ClosedPipeSafe):
        sys.stdout = _ClosedPipeSafe(sys.stdout)
    try:
        # Outside standalone mode click returns (not raises) the code of typer.Exit.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except GatewayError as exc:
        _error(exc.cli_message())
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # `gateway` or `gateway clients` alone: the help
        sys.exit(exc.exit_code)
    except click.exceptions.UsageError as exc:
        # A bad option or value: one line naming it and where the help is, not a usage panel.
        where = f" — see `{exc.ctx.command_path} --help`" if exc.ctx is not None else ""
        _error(exc.format_message().rstrip(".") + where)
        sys.exit(exc.exit_code)  # 2: the usual code of a usage error
    except TyperException as exc:
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            _error(str(exc))
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except Exception as exc:
        from gateway.database_errors import describe_database_error, is_database_unavailable

        # The database away (refused, missing, lost) at any command: one line, not a traceback.
        if not is_database_unavailable(exc):
            raise
        _error(describe_database_error(exc).cli_message())
        sys.exit(1)
