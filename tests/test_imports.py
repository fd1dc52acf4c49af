"""The layers of the package, read from the source (``ast``; nothing is imported or run).

docs/design.md, "Data flow": layers only call downwards, and ``neuromod_data`` never imports torch.
Three rules follow, each checked on every module of ``neuromod_data`` and ``neuromod_models``:

* no import cycle among the package's modules, counting every import statement wherever it stands
  (module level, inside a function, under ``if TYPE_CHECKING``): a cycle hidden in a function or a
  type-checking block is still two modules that each need the other (the controls and the
  structure were one);
* nothing in ``neuromod_data`` outside ``neuromod_data/cli/`` imports ``neuromod_data.cli``: the
  commands sit on top and library code never reaches up into them (the reproduction grid read the
  training defaults from ``neuromod train``);
* ``neuromod_data`` never imports ``neuromod_models`` or torch at module level (the statements that
  run on import: not those inside a function or under ``if TYPE_CHECKING``), so it works without
  torch.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("neuromod_data", "neuromod_models")


@dataclass(frozen=True)
class Import:
    target: str  # the imported module's dotted name (a package module where one matches)
    line: int
    runs_on_import: bool  # executed when the importing module is imported


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, is a package ``__init__``)."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, mods: dict[str, tuple[Path, bool]]) -> list[Import]:
    """Every import statement of module ``name``, relative ones resolved, with whether it runs when
    the module is imported (module body, class bodies, if/try/with blocks; not function bodies,
    not ``if TYPE_CHECKING:``)."""
    path, is_pkg = mods[name]
    here = name if is_pkg else name.rpartition(".")[0]
    found: list[Import] = []

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            pkg = here
            for _ in range(node.level - 1):
                pkg = pkg.rpartition(".")[0]
            base = f"{pkg}.{base}" if base else pkg
        # ``from pkg import sub``: the submodule where ``sub`` is one, else the package itself
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]

    def visit(node: ast.AST, runs: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for t in targets(node):
                found.append(Import(t, node.lineno, runs))
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            runs = False
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, runs)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, runs)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), True)
    return found


def graph(mods: dict[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    """Module → the package modules it imports (``a.b.c`` where ``c`` is a name in module
    ``a.b`` counts as ``a.b``)."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m in mods:
        for imp in imports_of(m, mods):
            t = imp.target
            while t not in mods and "." in t:
                t = t.rpartition(".")[0]
            if t in mods and t != m:
                edges[m].add(t)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


@pytest.fixture(scope="module")
def mods() -> dict[str, tuple[Path, bool]]:
    return modules(ROOT)


def test_the_walker_sees_the_package(mods):
    # a walker that found nothing would pass every rule below: check it on known imports
    assert {"neuromod_data.structure", "neuromod_models.training", "neuromod_data.cli"} <= set(mods)
    edges = graph(mods)
    assert "neuromod_data.controls" in edges["neuromod_data.structure"]
    assert "neuromod_data.training_defaults" in edges["neuromod_data.cli.train"]
    assert "neuromod_models.checkpoint" in edges["neuromod_models.training"]  # a relative import
    lazy = [i for i in imports_of("neuromod_data.cli.train", mods) if i.target == "torch"]
    assert lazy and not any(i.runs_on_import for i in lazy)  # torch only when the command runs


def test_cycle_finder_on_a_package_written_here(tmp_path):
    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from p.b import x\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p import c\n"
    )
    (pkg / "c.py").write_text("def f():\n    from . import a\n")  # lazy and relative
    (pkg / "d.py").write_text("import p.a\n")  # into the cycle, not part of it
    mods = modules(tmp_path, ("p",))
    assert cycles(graph(mods)) == [["p.a", "p.b", "p.c"]]
    (pkg / "c.py").write_text("")
    assert cycles(graph(modules(tmp_path, ("p",)))) == []


def test_no_import_cycle_among_package_modules(mods):
    assert cycles(graph(mods)) == []


def test_library_code_never_imports_the_commands(mods):
    up = [
        f"{m}:{i.line} imports {i.target}"
        for m in mods
        if m.startswith("neuromod_data.") and not m.startswith("neuromod_data.cli")
        for i in imports_of(m, mods)
        if i.target == "neuromod_data.cli" or i.target.startswith("neuromod_data.cli.")
    ]
    assert up == []


def test_neuromod_data_never_imports_torch_or_the_models_on_import(mods):
    heavy = [
        f"{m}:{i.line} imports {i.target}"
        for m in mods
        if m == "neuromod_data" or m.startswith("neuromod_data.")
        for i in imports_of(m, mods)
        if i.runs_on_import and i.target.split(".")[0] in ("torch", "neuromod_models")
    ]
    assert heavy == []
