"""The package's layers import one way, with no cycle (DESIGN.md, "The flow of data").

Every ``import`` in ``src/chipplan`` is read with ``ast``, module level and inside functions alike (a lazy
import is still a dependency). A module's layer comes from the first part of its name below ``chipplan``
(``LAYERS``); a module may import from its own layer and the layers before it, and the import graph between
modules has no cycle. A new top-level module or package must be placed in ``LAYERS`` before it can land.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "chipplan"

#: Lowest first; each layer may import from itself and from the layers before it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vocabulary", ("errors", "units", "safeio")),
    ("specs", ("specs",)),
    ("catalog", ("catalog",)),
    ("perf", ("perf",)),
    ("cost", ("cost",)),
    ("codesign", ("codesign",)),
    ("strategy", ("strategy",)),
    ("surfaces", ("api", "io", "commands", "report", "store", "web", "cli", "scenario", "__main__")),
)
RANK = {part: i for i, (_, parts) in enumerate(LAYERS) for part in parts}
LAYER_NAME = {i: name for i, (name, _) in enumerate(LAYERS)}
ROOT = "chipplan"  # the package itself: module-level imports from the vocabulary only (lazy exports allowed)


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(PKG).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([ROOT, *parts])] = f
    return out


MODULES = _modules()


def _is_package(mod: str) -> bool:
    return MODULES[mod].name == "__init__.py"


def _imports(mod: str) -> list[tuple[str, int, bool]]:
    """(imported chipplan module, line, at module level) for every import in ``mod``."""
    tree = ast.parse(MODULES[mod].read_text())
    top_level = {id(n) for n in tree.body}
    for n in tree.body:  # imports under a module-level ``if``/``try`` still run at import time
        if isinstance(n, ast.If | ast.Try):
            top_level |= {id(c) for c in ast.walk(n)}
    package = mod if _is_package(mod) else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            for a in node.names:
                sub = f"{src}.{a.name}"
                targets.append(sub if sub in MODULES else src)
        for t in targets:
            if t == ROOT or t.startswith(ROOT + "."):
                # the deepest module that exists (``import chipplan.perf.training as t`` → chipplan.perf.training)
                while t not in MODULES and "." in t:
                    t = t.rsplit(".", 1)[0]
                out.append((t, node.lineno, id(node) in top_level))
    return out


def _rank(mod: str) -> int | None:
    if mod == ROOT:
        return None
    return RANK.get(mod.split(".")[1])


def test_every_module_has_a_layer():
    unplaced = sorted({m.split(".")[1] for m in MODULES if m != ROOT and _rank(m) is None})
    assert unplaced == [], f"place these in tests/test_layers.py LAYERS: {unplaced}"


def test_imports_go_only_downward():
    broken = []
    for mod in MODULES:
        own = _rank(mod)
        for target, line, top in _imports(mod):
            other = _rank(target)
            if mod == ROOT:
                if top and other is not None and other > 0:
                    broken.append(f"{mod}:{line} imports {target} at module level (the package root may only "
                                  "import the vocabulary eagerly)")
                continue
            if own is None or other is None:
                continue
            if other > own:
                broken.append(f"{MODULES[mod].relative_to(PKG)}:{line}: {mod} ({LAYER_NAME[own]}) imports {target} "
                              f"({LAYER_NAME[other]})")
    assert broken == []


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (module → imported modules): Tarjan's strongly connected components of
    more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in graph:
        if m not in index:
            visit(m)
    return cycles


def test_no_import_cycle():
    assert _cycles({m: sorted({t for t, _, _ in _imports(m) if t != m}) for m in MODULES}) == []


def test_the_walker_sees_lazy_and_relative_imports():
    """The checks above are only as good as the import reader: it must see imports inside functions."""
    lazy = [(t, top) for t, _, top in _imports("chipplan.cli")]
    assert ("chipplan.commands._common", True) in lazy
    assert all(m in MODULES for m, _ in lazy)
    assert any(not top for mod in MODULES for _, _, top in _imports(mod))
    # and a cycle through a lazy import is found
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
