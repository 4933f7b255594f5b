"""The README's tour, run as written (issue 16): the commands of its marked block run in an empty
folder, on a copy of the shipped config with a coarser mesh; every `results/demo...` file the tour
names must appear, the summary's column headers must be those the tour shows, and `make demo`
must be the tour's run. Every YAML example of the README must parse, and its complete configs
must load."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
import yaml

from epsim.cli import main
from epsim.config import load_config_data

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONFIG = "configs/two_needles_liver.yaml"
COARSE = {"size": 8, "target_size": 2, "electrode_size": 0.8}


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def tour() -> str:
    return section("A tour of one run")


def tour_commands() -> list[str]:
    """The `epsim ...` lines of the first sh block after the tour's marker comment."""
    text = tour()
    marked = text[text.index("<!-- tour:"):]
    block = re.search(r"```sh\n(.*?)```", marked, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip().startswith("epsim ")]


def tour_files() -> set[str]:
    return set(re.findall(r"`(results/demo[\w.]*)`", tour()))


def shown_headers() -> list[str]:
    """The header lines (region table, pair table) of the summary the tour shows."""
    block = re.search(r"```text\n(.*?)```", tour(), re.S).group(1)
    return [line for line in block.splitlines() if line.startswith(("region", "pair"))]


@pytest.fixture(scope="module")
def toured(tmp_path_factory):
    """Run the tour's commands in an empty folder; returns (folder, stdout of each command)."""
    folder = tmp_path_factory.mktemp("tour")
    cache = tmp_path_factory.mktemp("tour_cache")
    data = yaml.safe_load((ROOT / CONFIG).read_text(encoding="utf-8"))
    data["scene"]["mesh"] = COARSE
    (folder / "configs").mkdir()
    (folder / CONFIG).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    outputs = []
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("EPSIM_CACHE", str(cache))
        for command in tour_commands():
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = main(shlex.split(command)[1:])
            outputs.append((command, code, out.getvalue()))
    return folder, outputs


def test_the_tour_is_make_demo():
    commands = tour_commands()
    assert [c.split()[1] for c in commands] == ["check", "run"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"$(BIN)/{commands[1]}\n" in makefile


def test_tour_commands_succeed(toured):
    _, outputs = toured
    for command, code, _ in outputs:
        assert code == 0, command


def test_every_file_the_tour_names_appears(toured):
    folder, _ = toured
    names = tour_files()
    assert {"results/demo.h5", "results/demo.vtu", "results/demo.png"} <= names
    missing = sorted(n for n in names if not (folder / n).is_file())
    assert not missing, f"the README's tour names files the run did not write: {missing}"
    written = {f"results/{p.name}" for p in (folder / "results").iterdir()
               if not p.name.startswith(".")}
    assert written == names, f"files the tour does not mention: {sorted(written - names)}"


def test_summary_columns_as_the_tour_shows_them(toured):
    _, outputs = toured
    printed = outputs[-1][2].splitlines()
    for header in shown_headers():
        assert header in printed, f"the README shows {header!r}; the run printed {printed[:8]}"
    glossary = section("Glossary")
    for column in re.findall(r"\s{2,}(\S+(?: \S+)*)", "  " + shown_headers()[0]):
        assert f"`{column}`" in glossary, f"summary column {column!r} missing from the glossary"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_yaml_examples_parse_and_complete_configs_load(tmp_path):
    blocks = yaml_blocks()
    assert len(blocks) >= 10
    complete = 0
    for text in blocks:
        data = yaml.safe_load(text)
        if isinstance(data, dict) and {"name", "scene", "electrodes", "protocol"} <= set(data):
            data.pop("sweep", None), data.pop("optimise", None)
            load_config_data(data, source="README.md", base_dir=tmp_path)
            complete += 1
    assert complete >= 1
