"""Imports point down the layers (docs/design.md, section 1, rule 1): parse every module and
check each arrow."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "epsim"

# Lowest first. A module may import its own package and anything of a strictly lower rank.
RANK = {
    "errors": 0,
    "interrupts": 0,
    "memory_maps": 0,
    "mesh": 1,
    "imaging": 2,
    "fem": 2,
    "physics": 2,
    "solve": 3,
    "metrics": 3,
    "electrodes": 3,
    "simulate": 4,
    "heating": 5,
    "padding": 5,
    "config": 6,
    "io": 6,
    "meshcache": 6,
    "jax_setup": 7,
    "viz": 7,
    "translate": 7,
    "outcomes": 8,
    "budget": 8,
    "accuracy": 8,
    "runner": 9,
    "report": 9,
    "optimise": 10,
    "calibrate": 10,
    "sweep": 10,
    "converge": 10,
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


SETS_UP_JAX = {"cli.py", "jax_setup.py"}  # the command and the set-up it calls


def test_library_never_changes_jax_config():
    """Only the CLI switches on float64 (docs/design.md, section 1, rule 3): through
    `epsim.jax_setup`, which nothing else in the package imports."""
    for path in PACKAGE.rglob("*.py"):
        if path.name in SETS_UP_JAX:
            continue
        assert "epsim.jax_setup" not in set(imports_of(path)), f"{path}: imports jax_setup"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert ast.unparse(node.func) != "jax.config.update", f"{path}: jax.config.update"


# ---------------------------------------------------------------- private names stay private

def module_name(path: Path) -> str:
    """Dotted name of a module file of the package (a package's __init__ is the package)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p) for p in PACKAGE.rglob("*.py")}


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def absolute(node: ast.ImportFrom, here: str, is_package: bool) -> str:
    """The module an import-from names, relative imports resolved against module `here`."""
    if node.level == 0:
        return node.module or ""
    base = here.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` of a chain of attribute accesses on a name, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def private_uses(source: str, here: str, is_package: bool = False):
    """(line, what) for every underscore name of another epsim module that the module `here`
    (its text `source`) imports or reaches by attribute access (`from epsim.x import _f`,
    `import epsim.x as m; m._f`)."""
    tree = ast.parse(source)
    bound = {}  # local name -> the epsim module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            origin = absolute(node, here, is_package)
            if origin.split(".")[0] != "epsim" or origin == here:
                continue
            for alias in node.names:
                if private(alias.name):
                    yield node.lineno, f"from {origin} import {alias.name}"
                if f"{origin}.{alias.name}" in MODULES:
                    bound[alias.asname or alias.name] = f"{origin}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "epsim":
                    local = alias.asname or alias.name.split(".")[0]
                    bound[local] = alias.name if alias.asname else "epsim"
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and private(node.attr)):
            continue
        chain = dotted(node.value)
        if chain is None or chain.split(".")[0] not in bound:
            continue
        head, _, rest = chain.partition(".")
        target = bound[head] + (f".{rest}" if rest else "")
        if target in MODULES and target != here:
            yield node.lineno, f"{chain}.{node.attr} ({target})"


@pytest.mark.parametrize("path", [pytest.param(p, id=str(p.relative_to(PACKAGE)))
                                  for p in sorted(PACKAGE.rglob("*.py"))])
def test_no_private_name_of_another_module(path):
    """Underscore names stay inside their module: what another module needs gets a public name
    (docs/design.md, section 1)."""
    uses = private_uses(path.read_text(), module_name(path), path.name == "__init__.py")
    found = [f"{path.relative_to(PACKAGE.parent)}:{line}: {what}" for line, what in uses]
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_the_private_name_check_catches_both_forms():
    """The check itself: an imported underscore name and an attribute access both count, in
    absolute and relative form; dunders and a module's own private names do not."""
    source = (
        "import epsim.solve.nonlinear as nl\n"
        "import epsim.solve.pcg\n"
        "from epsim.simulate import _hidden, public\n"
        "from epsim import __version__\n"
        "from epsim.solve import amg\n"
        "from .lumped import _apply\n"
        "x = nl._private(amg._build, epsim.solve.pcg._loop, amg.build_amg)\n"
        "def _own():\n    return _own\n"
    )
    found = sorted(what for _, what in private_uses(source, "epsim.solve.probe"))
    assert found == [
        "amg._build (epsim.solve.amg)",
        "epsim.solve.pcg._loop (epsim.solve.pcg)",
        "from epsim.simulate import _hidden",
        "from epsim.solve.lumped import _apply",
        "nl._private (epsim.solve.nonlinear)",
    ], found
