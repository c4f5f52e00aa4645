"""The layers of docs/architecture.md hold: no import from a lower layer to a higher one (except
the few that PyTorch3D's public layout forces, listed below with their reason) and no private
name imported from another module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "inverse3d"

# Lowest first. A module may import from its own layer and the layers below it.
LAYERS = [
    {"_validation", "common", "__init__", "_dispatch"},
    {"structures", "transforms"},
    {"renderer"},
    {"ops", "loss", "io", "utils", "_C"},
    {"models"},
    {"engine", "distributed"},
    {"datasets", "eval", "viz", "vis"},
    {"methods"},
    {"pipeline"},
    {"cli", "__main__"},
]
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}

# (importing package, imported package): why the upward import is there.
EXCEPTIONS = {
    ("structures", "ops"): "Meshes.laplacian_packed uses ops.laplacian (as in PyTorch3D), imported "
    "lazily inside the method",
    ("renderer", "ops"): "textures and shading interpolate with ops.interpolate_face_attributes, "
    "which PyTorch3D's public path puts in ops",
}


def _package(path: Path) -> str:
    first = path.relative_to(SRC).parts[0]
    return first[:-3] if first.endswith(".py") else first


def _imports(path: Path):
    """(line, imported module, imported names) of every absolute inverse3d import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "inverse3d":
                    yield node.lineno, a.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                yield node.lineno, "." * node.level + (node.module or ""), []
            elif node.module and node.module.split(".")[0] == "inverse3d":
                yield node.lineno, node.module, [a.name for a in node.names]


FILES = sorted(SRC.rglob("*.py"))


def test_every_package_has_a_layer():
    pkgs = {_package(p) for p in FILES}
    missing = pkgs - set(RANK)
    assert not missing, f"packages without a layer in docs/architecture.md and LAYERS: {missing}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_down(path):
    pkg = _package(path)
    bad = []
    for line, module, _ in _imports(path):
        if module.startswith("."):
            bad.append(f"{line}: relative import {module}")
            continue
        parts = module.split(".")
        target = parts[1] if len(parts) > 1 else "__init__"
        if target == pkg or (pkg, target) in EXCEPTIONS:
            continue
        if RANK.get(target, -1) > RANK[pkg]:
            bad.append(f"{line}: {pkg} (layer {RANK[pkg]}) imports {module} (layer {RANK[target]})")
    assert not bad, f"{path.relative_to(SRC)}:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_private_names_across_modules(path):
    bad = [
        f"{line}: from {module} import {name}"
        for line, module, names in _imports(path)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not bad, f"{path.relative_to(SRC)}:\n" + "\n".join(bad)


def test_exceptions_are_still_needed():
    """A listed exception that no longer occurs must be removed from the list."""
    seen = set()
    for path in FILES:
        pkg = _package(path)
        for _, module, _ in _imports(path):
            parts = module.split(".")
            if len(parts) > 1:
                seen.add((pkg, parts[1]))
    stale = set(EXCEPTIONS) - seen
    assert not stale, f"exceptions no longer used: {stale}"
