"""Conformance results as a terminal table and as a JUnit XML report (for CI systems)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from gateway.conformance.registry import Result, Status


def results_table(results: list[Result]) -> Table:
    table = Table(title="Partner protocol conformance", show_lines=False)
    table.add_column("id", no_wrap=True)
    table.add_column("case")
    table.add_column("result", no_wrap=True)
    table.add_column("reason")
    colour = {Status.PASS: "green", Status.FAIL: "red", Status.SKIP: "yellow"}
    for result in results:
        # Titles and reasons quote JSON and problem texts: no rich markup in them.
        table.add_row(
            result.requirement,
            escape(result.title),
            f"[{colour[result.status]}]{result.status.value}[/]",
            escape(result.reason),
        )
    return table


def summary(results: list[Result]) -> str:
    counts = {status: sum(1 for r in results if r.status is status) for status in Status}
    return f"{counts[Status.PASS]} passed, {counts[Status.FAIL]} failed, {counts[Status.SKIP]} skipped"


def write_junit(results: list[Result], path: Path, target: str) -> None:
    """Write ``results`` as one JUnit testsuite (one testcase per requirement case)."""
    suite = ET.Element(
        "testsuite",
        name="partner-protocol-conformance",
        tests=str(len(results)),
        failures=str(sum(1 for r in results if r.status is Status.FAIL)),
        skipped=str(sum(1 for r in results if r.status is Status.SKIP)),
        errors="0",
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="target", value=target)
    for result in results:
        testcase = ET.SubElement(
            suite, "testcase", classname=result.requirement, name=result.title, time=f"{result.seconds:.3f}"
        )
        if result.status is Status.FAIL:
            ET.SubElement(testcase, "failure", message=result.reason).text = result.reason
        elif result.status is Status.SKIP:
            ET.SubElement(testcase, "skipped", message=result.reason)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
