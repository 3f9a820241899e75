"""The house points one way: read from the code's own imports (module-level and inside functions).

- no import circles among gitorch's modules;
- adapters (agents, edits, git, github, store, routing, dashboard) never import the run or the commands;
- the run knows the outside world only through ``gitorch.ports``: only ``run/assemble.py`` picks adapters;
- product code never imports a stand-in: ``gitorch.simulate`` is for the demo, which only the CLI starts;
- ``model`` imports nothing of gitorch's, and ``ports`` only ``model``.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gitorch"
ADAPTERS = ("agents", "edits", "git", "github", "store", "routing", "dashboard")
# What the run may use besides itself: plain data, its ports, and small rules with no outside world.
RUN_MAY_USE = {"gitorch", "gitorch.model", "gitorch.ports", "gitorch.errors", "gitorch.cost", "gitorch.redact",
               "gitorch.retry", "gitorch.ladder", "gitorch.edits.protocol"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def imports() -> dict[str, set[str]]:
    """Each gitorch module and the gitorch modules it imports anywhere in its code."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    found: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                prefix = ".".join(base + ([node.module] if node.module else []))
                # `from package import submodule` depends on the submodule, not on the package's __init__
                candidates = [f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in modules else prefix
                              for alias in node.names]
            else:
                continue
            for candidate in candidates:
                while candidate and candidate not in modules:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name:
                    targets.add(candidate)
        found[name] = targets
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module."""
    order: list[str] = []
    seen: set[str] = set()
    for start in graph:  # first pass: finishing order
        if start in seen:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        seen.add(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                order.append(node)
            elif child not in seen:
                seen.add(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    reverse: dict[str, set[str]] = {m: set() for m in graph}
    for module, targets in graph.items():
        for target in targets:
            reverse.setdefault(target, set()).add(module)
    groups, assigned = [], set()
    for start in reversed(order):  # second pass, on the reversed graph
        if start in assigned:
            continue
        group, todo = [], [start]
        assigned.add(start)
        while todo:
            node = todo.pop()
            group.append(node)
            for other in reverse.get(node, ()):
                if other not in assigned:
                    assigned.add(other)
                    todo.append(other)
        if len(group) > 1:
            groups.append(sorted(group))
    return groups


def test_no_module_imports_one_that_imports_it_back():
    assert circles(imports()) == []


def test_adapters_never_import_the_run_or_the_commands():
    wrong = [f"{m} -> {t}" for m, targets in imports().items() if layer(m) in ADAPTERS
             for t in targets if layer(t) in ("run", "commands", "cli")]
    assert wrong == []


def test_the_run_sees_the_outside_world_only_through_its_ports():
    wrong = [f"{m} -> {t}" for m, targets in imports().items()
             if layer(m) == "run" and m != "gitorch.run.assemble"
             for t in targets if layer(t) != "run" and t not in RUN_MAY_USE]
    assert wrong == []


def test_product_code_never_imports_a_stand_in():
    wrong = [f"{m} -> {t}" for m, targets in imports().items() if layer(m) not in ("simulate", "cli")
             for t in targets if layer(t) == "simulate"]
    assert wrong == []
    starts_the_demo = [m for m, targets in imports().items() if layer(m) == "cli"
                       for t in targets if layer(t) == "simulate"]
    assert starts_the_demo == ["gitorch.cli"]  # `gitorch demo`, and nothing else


def test_the_shared_data_and_the_ports_stand_on_their_own():
    graph = imports()
    assert graph["gitorch.model"] == set()
    assert graph["gitorch.ports"] == {"gitorch.model"}


def test_the_circle_finder_finds_a_circle():
    """The rules above hold only if the finder can see a circle when there is one."""
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
