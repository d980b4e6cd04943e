"""Freshness of the trust bundle's CRLs, for ``/readyz`` and the console.

Policy (deploy/README.md, "Trust updates"): a CRL past its nextUpdate does
not make the node unready — its agencies and its other partners are not
affected — but it is reported until a fresh CRL is adopted. OpenSSL refuses
TLS with the stale CRL's party meanwhile, so deliveries to it wait and retry.
"""

from __future__ import annotations

from typing import Any

from gateway.node import Node
from gateway.trust.crls import CRLFreshness, crl_freshness


def stale_crls(node: Node) -> list[CRLFreshness]:
    """Return the bundle's CRLs (newest per party and issuer) that are past their nextUpdate now."""
    return [crl for crl in crl_freshness(node.bundle, node.now()) if crl.stale]


def crl_checks(node: Node) -> dict[str, Any]:
    """Return the readiness entries about CRLs.

    ``crl_freshness`` is ``ok``, ``stale`` (at least one CRL past its
    nextUpdate) or ``no CRLs``; ``crl_warnings`` names each stale CRL and what
    to do (empty when none). Detail only: readiness does not depend on them.
    """
    every = crl_freshness(node.bundle, node.now())
    stale = [crl for crl in every if crl.stale]
    return {
        "crl_freshness": "stale" if stale else ("ok" if every else "no CRLs"),
        "crl_warnings": [
            f"{crl.describe()}; TLS with {crl.party} fails until a fresh CRL is adopted "
            f"(`gateway pki adopt` of {crl.party}'s newest update)"
            for crl in stale
        ],
    }
