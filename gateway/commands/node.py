"""``gateway serve``, ``gateway worker`` and ``gateway send``: running a node."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from gateway.commands.common import ConfigOption, fail, require_schema, settings_from, stdout
from gateway.commands.records import read_json_file
from gateway.exchange.outgoing import submit_draft
from gateway.exchange.worker import DeliveryWorker
from gateway.ledger.facts import record_startup_facts
from gateway.migrate import upgrade
from gateway.node import build_node, utc_now
from gateway.observability.doctor import refuse_on_errors, run_checks
from gateway.observability.exposition import start_worker_endpoint
from gateway.observability.logging import configure_logging
from gateway.server import NodeServer
from gateway.settings import Settings

log = logging.getLogger("gateway.start")


def _logging(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)


def _checked(settings: Settings, *, listener: bool) -> None:
    """Refuse to start on the first failed check (one line, exit 1); log every warning (one line each)."""
    for warning in refuse_on_errors(run_checks(settings, utc_now(), listener=listener)):
        log.warning("start-up check: %s", warning.line())


def serve(
    config: ConfigOption = None,
    worker: Annotated[bool, typer.Option(help="Run the delivery worker in this process.")] = True,
    migrate: Annotated[bool, typer.Option(help="Apply database migrations first.")] = True,
) -> None:
    """Start the partner listener (mTLS), the agency listener and (by default) the worker."""
    settings = settings_from(config)
    _logging(settings)
    _checked(settings, listener=True)  # before any listener is announced
    node = build_node(settings)
    if migrate:
        upgrade(node.engine)
    else:
        require_schema(node.engine)
    record_startup_facts(node)  # first use of this signing key / these terms signatures
    server = NodeServer(node, run_worker=worker and settings.run_worker)
    stdout.print(
        f"{settings.party} gateway: partner listener https://{settings.partner_host}:{server.partner_port} (mTLS), "
        f"agency listener {'https' if settings.agency_tls else 'http'}://{settings.agency_host}:{server.agency_port}"
    )
    server.run()
    node.close()


def worker(
    config: ConfigOption = None,
    threads: Annotated[int, typer.Option(min=1, max=32, help="Worker threads in this process.")] = 1,
) -> None:
    """Run delivery workers only (several processes may share one PostgreSQL database)."""
    settings = settings_from(config)
    _logging(settings)
    _checked(settings, listener=False)
    node = build_node(settings)
    require_schema(node.engine)  # the database away at start is one line, not a worker that polls in vain
    start_worker_endpoint(node)  # /metrics and /healthz when worker_metrics_port is set
    workers = [DeliveryWorker(node, name=f"{settings.party}-worker-{i}") for i in range(threads)]
    running = [threading.Thread(target=w.run_forever, daemon=True) for w in workers]
    for thread in running:
        thread.start()

    def stop_all(_signum: int = 0, _frame: object = None) -> None:
        for w in workers:
            w.stop()

    # SIGTERM (systemd, Kubernetes) stops as cleanly as Ctrl-C: finish the job in hand.
    signal.signal(signal.SIGTERM, stop_all)
    stdout.print(f"{threads} delivery worker(s) for {settings.party} running; Ctrl-C or SIGTERM stops")
    try:
        for thread in running:
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        stop_all()
        for thread in running:
            thread.join(30)
    node.close()


def send(
    draft: Annotated[Path, typer.Argument(help="Record draft (JSON) to sign and queue.")],
    config: ConfigOption = None,
) -> None:
    """Sign a draft with this node's key and queue it for delivery (the worker sends it)."""
    document = read_json_file(draft)
    if not isinstance(document, dict):
        fail(f"{draft} is not a JSON object")
        return
    node = build_node(settings_from(config))
    with node.transaction() as session:
        submission = submit_draft(session, node, document, actor="cli")
        record_id = submission.record.record_id
        recipients = submission.record.recipients
    stdout.print(f"queued {record_id} for {recipients}; `gateway deliveries list` shows progress")
    node.close()
