"""The package's layout by job: each subpackage says what it owns, imports run one way, no
module imports itself back through another (no import cycle, lazy imports included), and no
module reaches for another's private (``_name``) names."""

from __future__ import annotations

import ast
from pathlib import Path

import mimic_segments

PACKAGE_DIR = Path(mimic_segments.__file__).parent

# Lowest first: a subpackage may import the package root and the subpackages above it in this
# list, never one below it (reporting reads everything; nothing reads reporting).
LAYERS = ("sources", "synthetic", "catalogue", "segmentation", "publishing", "reporting")
# The package root's modules: every subpackage may import them; they import no subpackage.
ROOT_MODULES = ("__init__", "provenance")


def project_imports(path: Path) -> set[str]:
    """The mimic_segments subpackages a module imports (absolute imports only: the package uses
    no relative ones, and this test would miss them, so it also forbids them)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import; use mimic_segments.<subpackage>"
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "mimic_segments" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_subpackage_is_a_layer_with_a_docstring() -> None:
    subpackages = {p.parent.name for p in PACKAGE_DIR.glob("*/__init__.py")}
    assert subpackages == set(LAYERS)
    assert sorted(p.stem for p in PACKAGE_DIR.glob("*.py")) == sorted(ROOT_MODULES), (
        "modules belong in a subpackage by job"
    )
    for name in LAYERS:
        docstring = ast.get_docstring(ast.parse((PACKAGE_DIR / name / "__init__.py").read_text()))
        assert docstring and "\n" not in docstring.strip(), f"{name}: needs a one-line docstring"


def test_imports_run_one_way() -> None:
    backwards = []
    for name in ROOT_MODULES:
        for imported in project_imports(PACKAGE_DIR / f"{name}.py"):
            backwards.append(f"{name}.py imports mimic_segments.{imported}")
    for layer_index, layer in enumerate(LAYERS):
        allowed = set(LAYERS[: layer_index + 1]) | set(ROOT_MODULES)
        for module in sorted((PACKAGE_DIR / layer).glob("*.py")):
            for imported in project_imports(module) - allowed:
                backwards.append(f"{layer}/{module.name} imports mimic_segments.{imported}")
    assert not backwards, backwards


def test_the_rule_catches_a_backward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from mimic_segments.reporting import report\nimport mimic_segments.catalogue\n")
    assert project_imports(module) == {"reporting", "catalogue"}


def module_names(package_dir: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, not ``__init__``)."""
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def import_graph(package_dir: Path) -> tuple[dict[str, set[str]], list[str]]:
    """Which project modules each module imports (anywhere in it: lazy imports inside functions
    count), and every use of another module's private name: ``from m import _x``, or ``m._x``
    on a module imported by name."""
    modules = module_names(package_dir)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    private: list[str] = []
    for name, path in modules.items():
        bound: dict[str, str] = {}  # local name -> project module, for ``module._x``
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "") in modules:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    if submodule in modules:
                        graph[name].add(submodule)
                        bound[alias.asname or alias.name] = submodule
                    else:
                        graph[name].add(node.module or "")
                        if _private(alias.name):
                            private.append(f"{name} imports {alias.name} from {node.module}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        graph[name].add(alias.name)
                        if alias.asname:
                            bound[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and _private(node.attr)
            ):
                private.append(f"{name} uses {bound[node.value.id]}.{node.attr}")
        graph[name].discard(name)
    return graph, private


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle once, as the modules along it (starting from its smallest name)."""
    cycles: set[tuple[str, ...]] = set()

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(graph.get(module, ())):
            if imported in path:
                cycle = path[path.index(imported) :]
                start = cycle.index(min(cycle))
                cycles.add(tuple(cycle[start:] + cycle[:start]))
            elif imported > path[0]:  # each cycle is found from its smallest module
                visit(imported, [*path, imported])

    for module in sorted(graph):
        visit(module, [module])
    return [list(cycle) for cycle in sorted(cycles)]


def test_no_import_cycle_and_no_private_name_imported_across_modules() -> None:
    graph, private = import_graph(PACKAGE_DIR)
    assert "mimic_segments.publishing.schema_swap" in graph  # the walk reached the subpackages
    assert import_cycles(graph) == []
    assert private == []


def test_the_import_rules_catch_a_lazy_cycle_and_a_private_import(tmp_path: Path) -> None:
    package = tmp_path / "mimic_segments"
    (package / "pub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "pub" / "__init__.py").write_text("")
    (package / "pub" / "cli.py").write_text(
        "from mimic_segments.pub.swap import Swap\n\ndef _helper():\n    return 1\n"
    )
    (package / "pub" / "swap.py").write_text(
        "from mimic_segments.pub import cli\n\n"
        "class Swap:\n    def run(self):\n        from mimic_segments.pub.cli import _helper\n"
        "        return _helper() + cli._helper()\n"
    )
    graph, private = import_graph(package)
    assert import_cycles(graph) == [["mimic_segments.pub.cli", "mimic_segments.pub.swap"]]
    assert private == [
        "mimic_segments.pub.swap imports _helper from mimic_segments.pub.cli",
        "mimic_segments.pub.swap uses mimic_segments.pub.cli._helper",
    ]
