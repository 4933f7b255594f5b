"""Imports point down the layers (docs/design.md, section 1, rule 1): parse every module and
check each arrow."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "epsim"

# Lowest first. A module may import its own package and anything of a strictly lower rank.
RANK = {
    "errors": 0,
    "mesh": 1,
    "fem": 2,
    "physics": 2,
    "solve": 3,
    "metrics": 3,
    "electrodes": 3,
    "simulate": 4,
    "heating": 5,
    "config": 6,
    "io": 6,
    "meshcache": 6,
    "viz": 7,
    "translate": 7,
    "outcomes": 8,
    "runner": 9,
    "optimise": 10,
    "sweep": 10,
    "cli": 11,
}


def top_package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "epsim":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        own = rel.parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        yield pytest.param(path, own, id=str(rel))


@pytest.mark.parametrize("path, own", list(modules()))
def test_imports_point_down(path, own):
    assert own in RANK, f"{own} has no layer: add it to RANK"
    for name in imports_of(path):
        target = top_package(name)
        if target is None or target == own or target == "__init__":
            continue
        assert target in RANK, f"{path.name} imports {name}: unknown layer"
        assert RANK[target] < RANK[own], f"{path.name} ({own}) imports {name} ({target}): upward"


def test_library_never_changes_jax_config():
    """Only the CLI switches on float64 (docs/design.md, section 1, rule 3)."""
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert ast.unparse(node.func) != "jax.config.update", f"{path}: jax.config.update"
