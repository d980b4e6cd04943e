"""The domains follow the record's journey: no import cycle between gateway/ folders, no router imports another.

Imports are read with ``ast``, not by importing the code, and every import
counts: module level, inside functions (a lazy import is still a dependency)
and under ``if TYPE_CHECKING:`` (a type a module names is part of what it
depends on; an upward type reference is how layers start to leak).

A domain is a folder directly under ``gateway/``. The modules directly in
``gateway/`` (``node.py``, ``app.py``, ``edge.py``, ``db.py``, ``errors.py``,
``problems.py``, ``settings.py`` …) are the shared kernel and the composition
root that puts the layers together (``node.receive_rules`` composes the
lifecycle into exchange); they are not domains, so an import of or by them is
no edge between domains.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"

# Lowest first. A domain may import only domains of a lower rank. Supporting
# domains sit where what they import and what imports them allows; entry
# points (the command line, the demo, the conformance kit) sit on top.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"trust"}),  # library: no database, no HTTP
    # mutual TLS and partner HTTP clients; sealing at rest (its KEK may live in trust's PKCS#11 tokens)
    frozenset({"transport", "vault"}),
    frozenset({"records"}),  # the record and its row
    frozenset({"terms"}),
    frozenset({"ledger"}),
    frozenset({"clients", "evidence"}),  # agency API clients (changes are ledger events); evidence bundles
    frozenset({"exchange"}),  # outgoing, outbox, incoming
    frozenset({"lifecycle"}),
    frozenset({"oversight", "retention"}),
    frozenset({"console"}),  # officers' screens over every domain below, retention included
    frozenset({"observability"}),  # reads every domain's state; written to through node.telemetry
    frozenset({"demo", "conformance"}),
    frozenset({"commands"}),  # the command line runs all of them
)


@dataclass(frozen=True)
class Import:
    source: Path  # the importing file
    target: tuple[str, ...]  # the imported module, as parts after the package name
    line: int


def _module_parts(path: Path, root: Path) -> list[str]:
    return list(path.relative_to(root).with_suffix("").parts)


def imports_of(path: Path, root: Path, package: str = "gateway") -> Iterator[Import]:
    """Every import of ``package.*`` in ``path`` (``root`` is the package folder), wherever it is written."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module_parts(path, root)
    package_parts = here[:-1]  # the package a relative import starts from (the same for __init__.py)
    for node in ast.walk(tree):  # walks into functions and ``if TYPE_CHECKING:`` blocks alike
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package:
                    yield Import(path, tuple(parts[1:]), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                module = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == package:
                module = node.module.split(".")[1:]
            else:
                continue
            yield Import(path, tuple(module), node.lineno)
            for alias in node.names:  # ``from gateway.records import api`` imports the module gateway.records.api
                yield Import(path, (*module, alias.name), node.lineno)


def domain_of(parts: tuple[str, ...] | list[str], root: Path) -> str | None:
    """The domain folder a module belongs to; None for the kernel modules directly in the package."""
    return parts[0] if len(parts) > 1 and (root / parts[0]).is_dir() else None


def is_router(parts: tuple[str, ...] | list[str]) -> bool:
    """A router module: ``api.py`` or ``<something>_api.py``."""
    return bool(parts) and (parts[-1] == "api" or parts[-1].endswith("_api"))


def all_imports(root: Path, package: str = "gateway") -> list[Import]:
    return [imp for path in sorted(root.rglob("*.py")) for imp in imports_of(path, root, package)]


def domain_edges(root: Path, package: str = "gateway") -> dict[tuple[str, str], list[Import]]:
    """(importing domain, imported domain) → the imports that make the edge."""
    edges: dict[tuple[str, str], list[Import]] = {}
    for imp in all_imports(root, package):
        source = domain_of(_module_parts(imp.source, root), root)
        target = domain_of(imp.target, root)
        if source and target and source != target:
            edges.setdefault((source, target), []).append(imp)
    return edges


def cycles(edges: dict[tuple[str, str], list[Import]]) -> list[list[str]]:
    """The strongly connected groups of more than one domain (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def router_imports(root: Path, package: str = "gateway") -> list[str]:
    """Routers that import another domain's router, as ``file:line -> module``."""
    found: set[str] = set()
    for imp in all_imports(root, package):
        source_parts = _module_parts(imp.source, root)
        source, target = domain_of(source_parts, root), domain_of(imp.target, root)
        if is_router(source_parts) and is_router(imp.target) and target is not None and target != source:
            where = imp.source.relative_to(root.parent)
            found.add(f"{where}:{imp.line} -> {package}.{'.'.join(imp.target)}")
    return sorted(found)


def _explain(edges: dict[tuple[str, str], list[Import]], group: list[str], root: Path) -> str:
    lines = []
    for (a, b), imps in sorted(edges.items()):
        if a in group and b in group:
            first = imps[0]
            lines.append(
                f"  {a} -> {b}: {first.source.relative_to(root.parent)}:{first.line} imports {'.'.join(first.target)}"
            )
    return "\n".join(lines)


# -- the gateway -------------------------------------------------------------


def test_no_import_cycle_between_domains() -> None:
    edges = domain_edges(GATEWAY)
    found = cycles(edges)
    assert not found, "import cycles between domains:\n" + "\n".join(_explain(edges, g, GATEWAY) for g in found)


def test_no_router_imports_another_domains_router() -> None:
    assert router_imports(GATEWAY) == []


def test_domains_import_only_lower_layers() -> None:
    rank = {domain: n for n, layer in enumerate(LAYERS) for domain in layer}
    folders = sorted(p.name for p in GATEWAY.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert [f for f in folders if f not in rank] == [], "place every new domain folder in LAYERS"
    upward = [
        f"{a} -> {b}: {imps[0].source.relative_to(GATEWAY.parent)}:{imps[0].line} imports {'.'.join(imps[0].target)}"
        for (a, b), imps in sorted(domain_edges(GATEWAY).items())
        if rank[b] >= rank[a]
    ]
    assert upward == []


# -- negative controls: the checker sees what it must refuse -----------------


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    """A package ``gateway`` with domains a, b, c, d and kernel module node.py."""
    root = tmp_path / "gateway"
    for name in ("__init__.py", "a/__init__.py", "b/__init__.py", "c/__init__.py", "d/__init__.py"):
        _write(root, name, "")
    _write(root, "node.py", "from gateway.a import service\n")  # kernel: no domain edge
    _write(root, "a/service.py", "from gateway.b.models import Row\n")
    _write(root, "b/models.py", "def f() -> None:\n    from gateway.a import service  # lazy, still an edge\n")
    _write(root, "c/api.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..d.repository import X\n")
    _write(root, "d/repository.py", "import gateway.c.service\n")
    _write(root, "d/api.py", "from gateway.a import api\nfrom gateway.d.service_api import router\n")
    return root


def test_checker_finds_a_cycle_through_a_lazy_import(synthetic: Path) -> None:
    assert cycles(domain_edges(synthetic)) == [["a", "b"], ["c", "d"]]


def test_checker_counts_type_checking_and_relative_imports(synthetic: Path) -> None:
    edges = domain_edges(synthetic)
    assert ("c", "d") in edges
    assert edges[("c", "d")][0].target == ("d", "repository")


def test_checker_ignores_kernel_modules(synthetic: Path) -> None:
    assert all(a in "abcd" and b in "abcd" for a, b in domain_edges(synthetic))


def test_checker_finds_a_router_importing_another_domains_router(synthetic: Path) -> None:
    # ``from gateway.a import api`` names the router module; d's own service_api is its own domain.
    assert router_imports(synthetic) == ["gateway/d/api.py:1 -> gateway.a.api"]


def test_checker_passes_an_acyclic_package(synthetic: Path) -> None:
    (synthetic / "b/models.py").write_text("X = 1\n", encoding="utf-8")
    (synthetic / "d/repository.py").write_text("X = 1\n", encoding="utf-8")
    assert cycles(domain_edges(synthetic)) == []
