"""How the hub's apps may depend on each other, read from their imports (function-level ones too):
no import cycle between files, no domain app that imports a platform's module (they ask the
registry, channels_app.clients), and no app that imports another app's admin or private helpers."""

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


def private(name: str) -> bool:
    """Whether a name is private by Python's convention; dunders such as `__version__` are not."""
    return name.startswith("_") and not name.startswith("__")


def private_imports(sources: dict[str, str]) -> list[tuple[str, str]]:
    """Each (module, dotted name) where a module takes another app's private helper: a module whose
    own name starts with `_`, a name starting with `_` imported from a module of that app, or one read
    as an attribute of such a module once imported (`services._total()`). Function-level imports
    count as much as the ones at the top."""
    found: set[tuple[str, str]] = set()
    for name, source in sources.items():
        app = name.split(".")[0]
        tree = ast.parse(source)
        # The local names bound to other apps' modules, so that an attribute read on one is seen.
        bound: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported = [
                    (f"{node.module}.{alias.name}", alias.asname or alias.name) for alias in node.names
                ]
            elif isinstance(node, ast.Import):
                imported = [(alias.name, alias.asname or "") for alias in node.names]
            else:
                continue
            for dotted, local in imported:
                owner = dotted.split(".")[0]
                if owner not in APPS or owner == app:
                    continue
                if any(private(part) for part in dotted.split(".")):
                    found.add((name, dotted))
                elif local:
                    bound[local] = dotted
                else:
                    # `import orders.services` binds `orders`; the attribute read names the rest.
                    bound[owner] = owner
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not private(node.attr):
                continue
            head, _, rest = ast.unparse(node.value).partition(".")
            if head in bound:
                module = ".".join(filter(None, (bound[head], rest)))
                if module in sources:
                    found.add((name, f"{module}.{node.attr}"))
    return sorted(found)


def test_no_app_imports_another_apps_private_helpers():
    sources = {name: path.read_text() for name, path in modules().items()}
    assert private_imports(sources) == []


def test_the_private_helper_check_sees_one():
    sources = {
        "orders.services": "def _total(): ...\n",
        "orders._money": "",
        "orders.fulfillments": "from orders.services import _total\n",
        "messaging.rules": "def decide():\n    from orders.services import _total\n",
        "messaging.queueing": "from orders import services\n\nservices._total()\n",
        "inventory.inbound": "import orders._money\n",
        "catalog_sync.push": "import orders.services\n\norders.services._total()\n",
    }
    assert private_imports(sources) == [
        ("catalog_sync.push", "orders.services._total"),
        ("inventory.inbound", "orders._money"),
        ("messaging.queueing", "orders.services._total"),
        ("messaging.rules", "orders.services._total"),
    ]


def test_no_test_module_imports_another():
    """Helpers two test modules share live in a conftest.py, a factories.py or tests/platforms.py."""
    found = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found += [
                (str(path.relative_to(ROOT)), name)
                for name in names
                if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")
            ]
    assert found == []
