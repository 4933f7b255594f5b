"""The repository carries its own documentation: no reference to files outside it.

Design and physics live in docs/design.md and docs/physics.md; code, tests, configs and the
README cite those, never background notes kept elsewhere.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("epsim", "tests", "configs", "benchmarks", "scripts", "docs")
FILES = ("README.md", "Makefile")
SKIPPED_DIRS = {"__pycache__", ".cache"}

# Built from pieces so that this file does not match itself. The last one catches the folder
# beside the repository when a path to it is assembled from parts.
MD = "." + "md"
FORBIDDEN = ("DESIGN" + MD, "PHYSICS" + MD, "STYLE" + MD, ".." + "/shared", '"' + 'shared"')


def text_files():
    for name in FILES:
        if (ROOT / name).is_file():
            yield ROOT / name
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and not SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
                yield path


def hits(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # pictures, HDF5 and other binary files
        return []
    rel = path.relative_to(ROOT)
    return [
        f"{rel}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if any(name in line for name in FORBIDDEN)
    ]


def test_no_reference_to_files_outside_the_repository():
    found = [hit for path in text_files() for hit in hits(path)]
    assert not found, "references to files outside the repository:\n" + "\n".join(found)


def test_the_docs_exist():
    for name in ("design.md", "physics.md"):
        assert (ROOT / "docs" / name).is_file()
