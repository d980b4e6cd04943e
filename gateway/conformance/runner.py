"""Run the registered cases: importing the case modules is what registers them."""

from __future__ import annotations

from collections.abc import Callable

from gateway.conformance import (
    cases_control,
    cases_exchange,
    cases_issued,
    cases_ledger,
    cases_records,
    cases_transport,
)
from gateway.conformance.registry import CASES, Case, Result, run_case
from gateway.conformance.target import Target

CASE_MODULES = (cases_transport, cases_records, cases_issued, cases_exchange, cases_ledger, cases_control)


def run_all(target: Target, only: Callable[[Case], bool] | None = None) -> list[Result]:
    """Run every registered case (or those ``only`` selects) against ``target``.

    Module by module in CASE_MODULES order (transport first; later modules use
    what the record cases sent), and in each module in the order written.
    """
    order = {module.__name__: position for position, module in enumerate(CASE_MODULES)}
    ordered = sorted(CASES, key=lambda item: order.get(item.run.__module__, len(order)))
    return [run_case(target, item) for item in ordered if only is None or only(item)]
