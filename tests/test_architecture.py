"""The house's rules, read from the imports: no package cycles, a frame that knows no domain, routes imported by nothing below."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAME = "server"
ROOT_PACKAGE = "xinyi"  # the composition root: imports everything, imported by nothing
DOMAINS = {
    "residents",
    "credit",
    "merchants",
    "coupons",
    "passes",
    "redemptions",
    "notices",
    "rights",
    "commitments",
    "deposits",
    "offline",
    "signals",
    "casework",
    "stats",
}
# The one frame module allowed to import the composition root: ``python -m server`` (the contract
# names it) is an entry point that nothing imports.
ENTRY_POINTS = {"server/__main__.py"}


def packages() -> set[str]:
    return {
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").exists() and p.name not in {"tests", "bench", "migrations"}
    }


def imports() -> list[tuple[str, str, str]]:
    """(importing file, its package, imported module) for every absolute import of a project package."""
    ours = packages()
    found = []
    for package in sorted(ours):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                for name in names:
                    if name.split(".")[0] in ours:
                        found.append((rel, package, name))
    return found


def package_graph(skip: set[str] = ENTRY_POINTS) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for rel, package, name in imports():
        target = name.split(".")[0]
        if rel not in skip and target != package:
            graph[package].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle through the graph's strongly connected parts (Tarjan), as lists of packages."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_package_imports_another_that_imports_it_back():
    assert cycles(package_graph()) == []


def test_the_frame_imports_no_domain_and_not_the_composition_root():
    graph = package_graph()
    assert graph[FRAME] == set(), f"server/ imports {sorted(graph[FRAME])}"


def test_nothing_imports_the_composition_root():
    importers = {
        rel
        for rel, package, name in imports()
        if name.split(".")[0] == ROOT_PACKAGE and package != ROOT_PACKAGE
    }
    assert importers <= ENTRY_POINTS


def test_domains_import_no_route_module_and_no_audience_package():
    audiences = packages() - DOMAINS - {FRAME, ROOT_PACKAGE}
    wrong = [
        (rel, name)
        for rel, package, name in imports()
        if package in DOMAINS
        and (name.split(".")[0] in audiences or name.rsplit(".", 1)[-1].endswith("routes"))
    ]
    assert wrong == []


def test_nothing_imports_the_tests():
    assert [i for i in imports() if i[2].split(".")[0] == "tests"] == []


def test_the_check_sees_a_cycle_when_there_is_one():
    """The checker itself: a made-up back-edge is found, so a green run means something."""
    graph = package_graph()
    graph["residents"].add("redemptions")
    assert any("residents" in c and "redemptions" in c for c in cycles(graph))
