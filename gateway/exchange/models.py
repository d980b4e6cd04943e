"""ORM classes of the exchange domain: the outbox of deliveries.

The ``Delivery`` row is mapped in ``gateway.records.models`` next to the
record's row, which the record read model joins; exchange owns its lifecycle.
"""

from __future__ import annotations

from gateway.records.models import Delivery

__all__ = ["Delivery"]
