"""The package's layers (docs/architecture.md): arrows point one way, no circle anywhere.

Walks ``notification_actions/`` with ``ast`` and reads every import — at module
level, inside functions, under ``TYPE_CHECKING`` alike — so an upward import
cannot hide in a function body. Fails on

- an import from a module to a package above it in :data:`LAYERS` (or beside
  it: ``tables`` and ``registrations`` share a rank and know nothing of each other);
- any import circle between modules (a package's ``__init__`` counts as a module);
- a module over :data:`MAX_LINES` lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "notification_actions"
PACKAGE = "notification_actions"
MAX_LINES = 400

# Lowest first. A module may import its own package's modules and those of lower ranks.
LAYERS: list[set[str]] = [
    {"", "errors", "settings", "logs", "metrics"},  # the leaves ("" = the package's __init__)
    {"models"},
    {"kafka"},
    {"tables", "registrations"},
    {"streams"},
    {"ops"},
    {"api"},
    {"worker"},
    {"cli"},
    {"__main__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str) -> set[str]:
    """The package's modules that ``module`` imports, anywhere in its body."""
    path = MODULES[module]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, path, node)
            # ``from pkg import sub`` imports the submodule ``pkg.sub``
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]
        else:
            continue
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                while target not in MODULES:  # ``import a.b.c`` of a name inside a module
                    target = target.rpartition(".")[0]
                if target != module:
                    found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_layer_is_known():
    unknown = sorted({layer_of(m) for m in MODULES} - set(RANK))
    assert not unknown, f"packages missing from LAYERS (add them where they belong): {unknown}"


def test_imports_point_down_the_layers():
    wrong = []
    for module, targets in GRAPH.items():
        here = layer_of(module)
        for target in sorted(targets):
            there = layer_of(target)
            if there == here:
                continue
            if RANK[there] > RANK[here] or (RANK[there] == RANK[here] and here != ""):
                if RANK[there] == RANK[here] == 0:
                    continue  # leaves may use each other (no circles: see below)
                wrong.append(f"{module} ({here or 'leaf'}) imports {target} ({there or 'leaf'})")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def _cycles() -> list[list[str]]:
    # Tarjan's strongly connected components; any component of 2+ modules is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    cycles = _cycles()
    assert not cycles, "import circles:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_the_line_limit(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(ROOT.parent)} has {lines} lines (limit {MAX_LINES})"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The walk itself: an import inside a function counts."""
    source = "def f():\n    from notification_actions.cli import main\n"
    tree = ast.parse(source)
    names = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert names == ["notification_actions.cli"]
    assert RANK[layer_of("notification_actions.cli.root")] > RANK[layer_of("notification_actions.models.action")]
