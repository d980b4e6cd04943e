"""Every lifecycle operation that signs a record, in one table.

Each entry is declared next to its rules (``acknowledgements``,
``corrections``, ``discrepancies``, ``onward``) and run by
``issuing.issue``. The agency API (``lifecycle.api``) and the console
(``console.lifecycle_api``) serve them from here, one route each.
"""

from __future__ import annotations

from typing import Any, Final

from gateway.lifecycle.acknowledgements import ACKNOWLEDGEMENT
from gateway.lifecycle.corrections import CORRECTION, RETRACTION
from gateway.lifecycle.discrepancies import DISCREPANCY_REPORT, DISCREPANCY_RESPONSE
from gateway.lifecycle.issuing import Operation
from gateway.lifecycle.onward import ONWARD_CONSENT, ONWARD_REQUEST

OPERATIONS: Final[tuple[Operation[Any], ...]] = (
    ACKNOWLEDGEMENT,
    CORRECTION,
    RETRACTION,
    DISCREPANCY_REPORT,
    DISCREPANCY_RESPONSE,
    ONWARD_REQUEST,
    ONWARD_CONSENT,
)

__all__ = [
    "ACKNOWLEDGEMENT",
    "CORRECTION",
    "DISCREPANCY_REPORT",
    "DISCREPANCY_RESPONSE",
    "ONWARD_CONSENT",
    "ONWARD_REQUEST",
    "OPERATIONS",
    "RETRACTION",
]
