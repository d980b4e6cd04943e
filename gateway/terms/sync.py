"""Comparing our terms with each partner's, loudly.

Each node publishes its signed terms on the partner listener; a watcher
fetches the partners' and reports a mismatch (log at ERROR, ``/readyz``
detail, console) when a partner does not hold the version we send under.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from gateway.errors import GatewayError
from gateway.node import Node
from gateway.transport.client import PartnerClients

log = logging.getLogger("gateway.terms")


@dataclass(frozen=True)
class PartnerTermsStatus:
    party: str
    checked_at: datetime
    ok: bool
    detail: str


def compare(node: Node, party: str, published: list[dict[str, object]]) -> PartnerTermsStatus:
    """Compare a partner's published terms with the version we use now."""
    now = node.now()
    current = node.terms.current(now) if node.terms is not None else None
    if current is None:
        return PartnerTermsStatus(party, now, False, "this node holds no terms in force")
    ours = current.ref
    match = next(
        (t for t in published if t.get("id") == ours["id"] and t.get("version") == ours["version"]),
        None,
    )
    if match is None:
        held = ", ".join(f"{t.get('id')} v{t.get('version')}" for t in published) or "none"
        return PartnerTermsStatus(
            party, now, False, f"{party} does not hold {ours['id']} v{ours['version']} (holds: {held})"
        )
    if match.get("sha256") != ours["sha256"]:
        return PartnerTermsStatus(
            party,
            now,
            False,
            f"{party} holds other content under {ours['id']} v{ours['version']}: "
            f"{str(match.get('sha256'))[:12]}… vs ours {ours['sha256'][:12]}…",
        )
    return PartnerTermsStatus(party, now, True, f"same terms {ours['id']} v{ours['version']}")


@dataclass
class TermsWatcher:
    """Periodically fetches partners' terms into ``node.partner_terms`` (/readyz, console)."""

    node: Node
    interval_seconds: float = 60.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def check_all(self) -> dict[str, PartnerTermsStatus]:
        clients = PartnerClients(self.node, timeout=10.0)
        try:
            for party in sorted(self.node.settings.partners):
                try:
                    response = clients.get(party, "/v1/exchange/terms")
                    response.raise_for_status()
                    result = compare(self.node, party, list(response.json().get("terms", [])))
                except (httpx.HTTPError, ValueError, GatewayError) as exc:
                    result = PartnerTermsStatus(party, self.node.now(), False, f"unreachable: {type(exc).__name__}")
                    log.warning("terms of %s could not be fetched: %s", party, exc)
                else:
                    if not result.ok:
                        log.error("TERMS MISMATCH with %s: %s", party, result.detail)
                self.node.partner_terms[party] = result
        finally:
            clients.close()
        return dict(self.node.partner_terms)

    def run_forever(self) -> None:
        # Give partners started alongside (demo, a restarted party) a moment first.
        self._stop.wait(min(5.0, self.interval_seconds))
        self.node.jobs.job("terms sync").repeat(self._stop, self.interval_seconds, self.check_all)

    def stop(self) -> None:
        self._stop.set()
