"""``gateway audit``: verify the ledger, prove a record's events, list checkpoints.

These commands read the node's database only (``--database`` points at
another one, e.g. a restored backup); they need no running node. Signatures of
checkpoints are checked with the trust bundle of the settings when there is
one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gateway import db
from gateway.commands.common import ConfigOption, fail, settings_from, stderr, stdout, write_stdout_text
from gateway.commands.output import OutputFormat, OutputOption, print_rows
from gateway.ledger import repository
from gateway.ledger.errors import LedgerTamperedError
from gateway.ledger.models import Checkpoint
from gateway.ledger.proofs import prove_subject
from gateway.ledger.status import ledger_status
from gateway.ledger.verification import verify_ledger
from gateway.migrate import current_revision
from gateway.records.signing import rfc3339
from gateway.settings import Settings
from gateway.trust.bundle import TrustBundle

app = typer.Typer(help="The tamper-evident audit ledger: verify, prove, checkpoints.", no_args_is_help=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", help="SQLAlchemy URL of the database to read (default: the node's)."),
]


def _begin_deferred(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def snapshot_engine(url: str) -> Engine:
    """Return an engine whose transactions read one consistent snapshot without blocking writers.

    PostgreSQL: REPEATABLE READ. SQLite: a deferred BEGIN (the node's engines
    take the write lock up front, which would stall a running node for the
    whole verification); in WAL mode its first read fixes the snapshot.
    """
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not Path(database).exists():
            fail(f"no database file {database}")
        engine = db.make_engine(url)
        event.remove(engine, "begin", db._sqlite_begin)
        event.listen(engine, "begin", _begin_deferred)
        return engine
    return db.make_engine(url, isolation_level="REPEATABLE READ")


@contextmanager
def ledger_session(settings: Settings | None, database: str | None, vault: object | None = None) -> Iterator[Session]:
    """Yield a read-only session on a migrated database; exits 1 on an unmigrated one.

    ``settings`` may be None when ``database`` names the database.

    With ``vault`` (gateway.vault.vault.Vault) the session opens sealed record bodies;
    the ledger and the oversight report need none.
    """
    if database is not None:
        url = database
    elif settings is not None:
        url = settings.sqlalchemy_url()
    else:
        raise TypeError("ledger_session needs settings or a database URL")
    engine = snapshot_engine(url)
    try:
        if current_revision(engine) is None:
            fail("the database has no gateway schema", hint="run `gateway db upgrade` or check --database")
        with db.make_sessionmaker(engine, vault)() as session, session.begin():
            yield session
    finally:
        engine.dispose()


def _bundle(settings: Settings | None) -> TrustBundle | None:
    if settings is None or settings.trust_bundle is None:
        return None
    return TrustBundle.load(settings.trust_bundle)


def _auditor_settings(config: Path | None, database: str | None) -> Settings | None:
    """Settings for a command reading the ledger; None when ``--database`` alone says where it is.

    An auditor may copy a node's database to a machine with no node configuration: a ledger
    verifies without knowing which party ran it. A configuration given with ``--config`` is
    still read (its trust bundle checks the checkpoints' signatures).
    """
    if database is not None and config is None and not os.environ.get("GATEWAY_PARTY"):
        return None
    return settings_from(config)


@app.command("verify")
def verify(config: ConfigOption = None, database: DatabaseOption = None) -> None:
    """Recompute every leaf and the tree from the entries; check nodes and every checkpoint.

    Exits 1 naming the first bad entry index when a row was changed, deleted
    or reordered.
    """
    settings = _auditor_settings(config, database)
    bundle = _bundle(settings)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        ledger_session(settings, database) as session,
        Progress(*columns, console=stderr, transient=True) as progress,
    ):
        task = progress.add_task("recomputing the ledger", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=max(total, done))

        try:
            report = verify_ledger(session, bundle, progress=advance)
        except LedgerTamperedError as exc:
            progress.stop()
            for problem in exc.problems[:20]:
                stderr.print(f"  - {problem}", soft_wrap=True, markup=False, highlight=False)
            if len(exc.problems) > 20:
                stderr.print(f"  … and {len(exc.problems) - 20} more")
            fail(exc.cli_message())
            return
    if not report.signatures_checked:
        stderr.print(
            "[yellow]warning:[/yellow] no trust bundle configured: checkpoint signatures not checked", markup=True
        )
    witnessed = ", ".join(f"{party}: {count}" for party, count in sorted(report.witnessed.items())) or "none"
    stdout.print(
        f"ledger verified: {report.entries} entries, root {report.root_hash}, {report.nodes} stored nodes, "
        f"{report.own_checkpoints} own checkpoints, witnessed checkpoints {witnessed}",
        soft_wrap=True,
    )
    for fork in report.forks:
        stderr.print(f"[red]partner fork on record:[/red] {escape(str(fork))}", soft_wrap=True, markup=True)


@app.command("prove")
def prove(
    record_id: Annotated[str, typer.Argument(help="Record id (or any ledger subject).")],
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """Print RFC 9162 inclusion proofs (JSON) of every ledger entry about RECORD_ID.

    The proofs are against the newest own checkpoint that covers the entries,
    whose signed JWS is included; a verifier recomputes each leaf hash from
    ``entry`` and checks the path against the checkpoint's root.
    """
    settings = _auditor_settings(config, database)
    with ledger_session(settings, database) as session:
        proofs = prove_subject(session, record_id)
    if proofs.checkpoint is None:
        stderr.print(
            "[yellow]warning:[/yellow] no signed checkpoint covers these entries yet; root is unsigned", markup=True
        )
    write_stdout_text(json.dumps(proofs.as_json(), indent=2) + "\n")


def _checkpoint_json(row: Checkpoint) -> dict[str, object]:
    return {
        "pk": row.pk,
        "origin": row.origin,
        "party": row.party,
        "own": row.own,
        "tree_size": row.tree_size,
        "root_hash": row.root_hash,
        "signed_at": rfc3339(row.signed_at),
        "stored_at": rfc3339(row.stored_at),
        "consistent": row.consistent,
        "note": row.note,
    }


@app.command("checkpoints")
def checkpoints(
    config: ConfigOption = None,
    database: DatabaseOption = None,
    party: Annotated[str | None, typer.Option(help="Only this party's checkpoints.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Newest N checkpoints.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --output json.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List own and witnessed checkpoints, newest last, then each partner's witness status."""
    settings = _auditor_settings(config, database)
    with ledger_session(settings, database) as session:
        rows = [_checkpoint_json(row) for row in repository.checkpoints(session, party=party, limit=limit)]
        witnesses = ledger_status(session)["witness"]
    if as_json or output is OutputFormat.JSON:
        write_stdout_text(json.dumps({"checkpoints": rows, "witness": witnesses}, indent=2) + "\n")
        return
    print_rows(
        ["#", "kind", "party", "tree size", "root hash", "signed at", "status"],
        [
            (
                row["pk"],
                "own" if row["own"] else "witnessed",
                str(row["party"]),
                row["tree_size"],
                str(row["root_hash"]),
                str(row["signed_at"]),
                "ok" if row["consistent"] else f"FORK: {row['note']}",
            )
            for row in rows
        ],
        output,
    )
    if witnesses and output is OutputFormat.TABLE:
        write_stdout_text("\n")
        print_rows(
            ["partner", "state", "tree size", "checked at", "alarm"],
            [(code, w["state"], w["tree_size"], w["checked_at"], w["alarm"] or "") for code, w in witnesses.items()],
            output,
        )
