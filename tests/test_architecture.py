"""How the hub's apps may depend on each other, read from their imports (function-level ones too):
no import cycle between files, no domain app that imports a platform's module (they ask the
registry, channels_app.clients), and no app that imports another app's admin."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "channels_app", "orders", "inventory", "messaging", "catalog_sync")
DOMAIN_APPS = ("orders", "inventory", "messaging", "catalog_sync")


def modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports() -> dict[str, set[str]]:
    """Each project module's imports of other project modules, wherever in the file they are."""
    known = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in known and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph.get(module, ()):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in list(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_between_files():
    assert cycles(imports()) == []


def test_the_cycle_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_domain_app_imports_a_platform_module():
    graph = imports()
    found = [
        (module, imported)
        for module, imported_ones in graph.items()
        if module.split(".")[0] in DOMAIN_APPS
        for imported in imported_ones
        if imported.startswith("channels_app.platforms")
    ]
    assert found == []


def test_no_app_imports_another_apps_admin():
    graph = imports()
    found = [
        (module, imported)
        for module, imported_ones in graph.items()
        for imported in imported_ones
        if imported.split(".")[0] != module.split(".")[0] and "admin" in imported.split(".")[1:]
    ]
    assert found == []
