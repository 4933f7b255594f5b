"""Writing a benchmark's generated report into a results file that also holds notes added by
hand (imported by the bench_*.py scripts, which run with this folder on sys.path)."""

from pathlib import Path

HAND_NOTES = "\n## Notes (added by hand"


def write_keeping_notes(path: Path, text: str) -> None:
    """Replace the generated part of `path` (everything before its first section headed
    HAND_NOTES) with `text`, keeping the hand-written sections."""
    old = path.read_text() if path.exists() else ""
    kept = old[old.index(HAND_NOTES):] if HAND_NOTES in old else ""
    path.write_text(text.rstrip("\n") + "\n" + kept)
