"""Run the registered cases: importing the case modules is what registers them."""

from __future__ import annotations

from collections.abc import Callable

from gateway.conformance import cases_control, cases_exchange, cases_ledger, cases_records, cases_transport
from gateway.conformance.registry import CASES, Case, Result, run_case
from gateway.conformance.target import Target

CASE_MODULES = (cases_transport, cases_records, cases_exchange, cases_ledger, cases_control)


def run_all(target: Target, only: Callable[[Case], bool] | None = None) -> list[Result]:
    """Run every registered case (or those ``only`` selects) against ``target``, in order."""
    return [run_case(target, item) for item in CASES if only is None or only(item)]
