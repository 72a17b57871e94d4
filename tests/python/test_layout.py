"""The package's layout by job: each subpackage says what it owns, and imports run one way."""

from __future__ import annotations

import ast
from pathlib import Path

import mimic_segments

PACKAGE_DIR = Path(mimic_segments.__file__).parent

# Lowest first: a subpackage may import the package root and the subpackages above it in this
# list, never one below it (reporting reads everything; nothing reads reporting).
LAYERS = ("sources", "synthetic", "catalogue", "segmentation", "publishing", "reporting")


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
    assert not [p.name for p in PACKAGE_DIR.glob("*.py") if p.name != "__init__.py"], (
        "modules belong in a subpackage by job"
    )
    for name in LAYERS:
        docstring = ast.get_docstring(ast.parse((PACKAGE_DIR / name / "__init__.py").read_text()))
        assert docstring and "\n" not in docstring.strip(), f"{name}: needs a one-line docstring"


def test_imports_run_one_way() -> None:
    backwards = []
    for layer_index, layer in enumerate(LAYERS):
        allowed = set(LAYERS[: layer_index + 1])
        for module in sorted((PACKAGE_DIR / layer).glob("*.py")):
            for imported in project_imports(module) - allowed:
                backwards.append(f"{layer}/{module.name} imports mimic_segments.{imported}")
    assert not backwards, backwards


def test_the_rule_catches_a_backward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from mimic_segments.reporting import report\nimport mimic_segments.catalogue\n")
    assert project_imports(module) == {"reporting", "catalogue"}
