"""Running a node: partner listener (mTLS), agency listener, and the delivery worker.

Both listeners are uvicorn servers in one event loop; the worker runs in a
thread (embedded mode) unless ``run_worker`` is off. Sockets are bound before
the servers start, so callers (tests, the demo) know the ports immediately.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import uvicorn

from gateway.app import create_agency_app, create_partner_app
from gateway.errors import ConfigurationError
from gateway.evidence.standing_check import StandingWatcher
from gateway.exchange.worker import DeliveryWorker
from gateway.ledger.scheduler import LedgerScheduler
from gateway.node import Node
from gateway.retention.scheduler import RetentionScheduler
from gateway.terms.sync import TermsWatcher
from gateway.transport.tls import PeerCertProtocol, server_context

log = logging.getLogger("gateway.server")


class _QuietServer(uvicorn.Server):
    """uvicorn Server that leaves signal handling to the NodeServer (two servers, one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """Return a listening TCP socket on (host, port); port 0 picks a free one."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(512)
    sock.setblocking(False)
    return sock


@dataclass
class NodeServer:
    """Both listeners of one node, plus its embedded delivery worker."""

    node: Node
    run_worker: bool = True
    partner_socket: socket.socket | None = None
    agency_socket: socket.socket | None = None
    _servers: list[uvicorn.Server] = field(default_factory=list)
    _workers: list[DeliveryWorker] = field(default_factory=list)
    _worker_threads: list[threading.Thread] = field(default_factory=list)
    _ledger: LedgerScheduler | None = None
    _ledger_thread: threading.Thread | None = None
    _retention: RetentionScheduler | None = None
    _retention_thread: threading.Thread | None = None
    _terms_watcher: TermsWatcher | None = None
    _standing_watcher: StandingWatcher | None = None
    _loop_thread: threading.Thread | None = None
    _started: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        settings = self.node.settings
        if self.partner_socket is None:
            self.partner_socket = bind(settings.partner_host, settings.partner_port)
        if self.agency_socket is None:
            self.agency_socket = bind(settings.agency_host, settings.agency_port)

    @property
    def partner_port(self) -> int:
        assert self.partner_socket is not None
        return int(self.partner_socket.getsockname()[1])

    @property
    def agency_port(self) -> int:
        assert self.agency_socket is not None
        return int(self.agency_socket.getsockname()[1])

    def _partner_ssl(self, _config: uvicorn.Config, _default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        settings = self.node.settings
        if settings.tls_cert is None or settings.tls_key is None:
            raise ConfigurationError("the partner listener needs GATEWAY_TLS_CERT and GATEWAY_TLS_KEY")
        partners = sorted(p for p in self.node.bundle.parties if p != self.node.party)
        return server_context(
            settings.tls_cert, settings.tls_key, self.node.bundle, settings.data_dir / "tls", partners
        )

    def _agency_ssl(self, _config: uvicorn.Config, _default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        settings = self.node.settings
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
        return context

    def _configs(self) -> tuple[uvicorn.Config, uvicorn.Config]:
        common = {
            "log_level": "warning",
            "lifespan": "off",
            "access_log": False,
            "server_header": False,
            # Keep-alive connections of partners must not hold a shutdown for long.
            "timeout_graceful_shutdown": 5,
            "log_config": None,  # our JSON logging, not uvicorn's own formatters
        }
        partner = uvicorn.Config(
            create_partner_app(self.node),
            http=PeerCertProtocol,
            ssl_context_factory=self._partner_ssl,
            timeout_keep_alive=30,
            **common,  # type: ignore[arg-type]
        )
        agency = uvicorn.Config(
            create_agency_app(self.node),
            http="httptools",
            ssl_context_factory=self._agency_ssl if self.node.settings.agency_tls else None,
            **common,  # type: ignore[arg-type]
        )
        return partner, agency

    async def serve(self) -> None:
        """Serve until ``stop()``; starts the embedded worker when enabled."""
        partner_config, agency_config = self._configs()
        self._servers = [_QuietServer(partner_config), _QuietServer(agency_config)]
        if self.run_worker:
            # Several workers keep several batches in flight per partner, so a
            # slow link's round trip is not paid once per batch in series.
            for index in range(self.node.settings.delivery_threads):
                worker = DeliveryWorker(self.node, name=f"{self.node.party}-embedded-{index}")
                thread = threading.Thread(
                    target=worker.run_forever, name=f"{self.node.party}-delivery-{index}", daemon=True
                )
                self._workers.append(worker)
                self._worker_threads.append(thread)
                thread.start()
        if self.node.settings.run_ledger_scheduler:
            self._ledger = LedgerScheduler(self.node)
            self._ledger_thread = threading.Thread(
                target=self._ledger.run_forever, name=f"{self.node.party}-ledger", daemon=True
            )
            self._ledger_thread.start()
        if self.node.settings.run_retention_scheduler:
            self._retention = RetentionScheduler(self.node)
            self._retention_thread = threading.Thread(
                target=self._retention.run_forever, name=f"{self.node.party}-retention", daemon=True
            )
            self._retention_thread.start()
        if self.node.settings.partners and self.node.settings.terms_check_seconds > 0:
            self._terms_watcher = TermsWatcher(self.node, self.node.settings.terms_check_seconds)
            threading.Thread(
                target=self._terms_watcher.run_forever, name=f"{self.node.party}-terms", daemon=True
            ).start()
        if self.node.settings.standing_check_seconds > 0:
            self._standing_watcher = StandingWatcher(self.node)
            threading.Thread(
                target=self._standing_watcher.run_forever, name=f"{self.node.party}-standing", daemon=True
            ).start()
        tasks = [
            asyncio.create_task(self._servers[0].serve(sockets=[self.partner_socket])),  # type: ignore[list-item]
            asyncio.create_task(self._servers[1].serve(sockets=[self.agency_socket])),  # type: ignore[list-item]
        ]
        while not all(s.started for s in self._servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.01)
        self._started.set()
        try:
            await asyncio.gather(*tasks)
        finally:
            self._stop_worker()

    def _stop_worker(self) -> None:
        for worker in self._workers:
            worker.stop()
        if self._ledger is not None:
            self._ledger.stop()
        if self._retention is not None:
            self._retention.stop()
        if self._terms_watcher is not None:
            self._terms_watcher.stop()
        if self._standing_watcher is not None:
            self._standing_watcher.stop()
        for thread in self._worker_threads:
            thread.join(timeout=30)
        if self._ledger_thread is not None:
            self._ledger_thread.join(timeout=30)
        if self._retention_thread is not None:
            self._retention_thread.join(timeout=30)

    def stop(self) -> None:
        """Ask both listeners and the worker to finish."""
        for server in self._servers:
            server.should_exit = True
        self._stop_worker()

    # -- foreground (gateway serve) -----------------------------------------

    def run(self) -> None:
        """Serve in the foreground until SIGINT/SIGTERM."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop)
            await self.serve()

        asyncio.run(main())

    # -- background (tests, demo) -------------------------------------------

    def start_in_thread(self, timeout: float = 20.0) -> NodeServer:
        """Serve in a background thread; returns once both listeners accept connections."""
        self._loop_thread = threading.Thread(
            target=lambda: asyncio.run(self.serve()), name=f"{self.node.party}-server", daemon=True
        )
        self._loop_thread.start()
        if not self._started.wait(timeout) or not all(s.started for s in self._servers):
            self.stop()
            raise ConfigurationError(f"node {self.node.party} did not start within {timeout:.0f}s")
        return self

    def stop_thread(self, timeout: float = 30.0) -> None:
        self.stop()
        if self._loop_thread is not None:
            self._loop_thread.join(timeout)
