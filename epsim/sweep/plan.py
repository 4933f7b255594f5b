"""A sweep plan: the base config, its axes, and every point validated before any work starts.

    plan = load_plan("case.yaml", axes=["protocol.pairs[0].voltage=[800, 1000]"])
    plan.points[3].config          # a ResolvedConfig, validated like any config file
    chunks = make_chunks(plan.points, plan.chunk_size)

Each point is the base config with its overrides put in as written, then validated and resolved
by `epsim.config` (`load_config_data`), so a bad value or a field that does not exist gives the
normal ConfigError, naming the point. Points that share a mesh and the structure of their
parameters (same scene, physics, solver and pair count) share a batch key: they are evaluated
together in vmap-batched chunks.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml
from pydantic import ValidationError

from epsim import __version__
from epsim.config import load_config, load_config_data
from epsim.config.yamlio import parse_yaml
from epsim.config.issues import ConfigIssue, format_path, issue_from_validation, located
from epsim.config.schema import MATERIAL_PARAMETERS, LatinAxis, ResolvedConfig, SweepBlock
from epsim.config.units import SI_UNITS, to_si
from epsim.errors import ConfigError
from epsim.meshcache import scene_hash
from epsim.sweep.axes import (
    RANDOM_KINDS,
    describe,
    expand,
    get_path,
    parse_axis_option,
    parse_path,
    set_path,
)
from epsim.translate import scene_spec

# Bump when the meaning of a stored point result changes (invalidates finished chunks).
RESULT_FORMAT = "epsim-sweep-1"


@dataclass(frozen=True)
class Point:
    """One sweep point.

    Attributes:
        index: position in the plan.
        overrides: key path -> value as written (file units).
        config: the validated, resolved config of this point.
        key: hash of everything that determines the point's result.
        mesh_key: hash of the mesh the point needs.
        batch_key: points with equal batch keys can share one vmap-batched evaluation.
    """

    index: int
    overrides: dict[str, Any]
    config: ResolvedConfig
    key: str
    mesh_key: str
    batch_key: str


@dataclass(frozen=True)
class Chunk:
    """Points evaluated together.

    Attributes:
        points: the chunk's points (one batch key).
        reference: the first point of the plan with this batch key; the chunk's preconditioner
            is built for its sigma0, so a point's result does not depend on how the plan was cut
            into chunks or which chunks a rerun still has to do.
        key: hash of the points' keys and the reference's (the chunk file's name).
    """

    points: tuple[Point, ...]
    reference: Point
    key: str

    @property
    def mesh_key(self) -> str:
        return self.points[0].mesh_key


@dataclass(frozen=True)
class Plan:
    """A validated sweep.

    Attributes:
        source: the config file.
        base: the resolved base config (no overrides).
        block: the sweep block after command-line axes were merged in.
        paths: the swept key paths, in order.
        points: every point, validated.
        chunk_size: points per vmap-batched chunk (the block's, or `default_chunk_size()`).
        units: the file's `units:` block as written (kind -> unit), for reports in its units.
    """

    source: str
    base: ResolvedConfig
    block: SweepBlock
    paths: tuple[str, ...]
    points: tuple[Point, ...]
    chunk_size: int
    units: dict[str, str] = field(default_factory=dict)

    def roles(self) -> dict[str, str]:
        """Key path -> "design" (grid axes and explicit points: what the user chooses) or
        "uncertainty" (random and Latin axes: what is known only roughly)."""
        return {path: axis_role(self.block, path) for path in self.paths}

    def config_units(self) -> dict[str, str]:
        """Key path -> the unit the config writes that field in ('' if dimensionless)."""
        return {path: config_unit(path, self.units) for path in self.paths}

    def axes_yaml(self) -> str:
        """The sweep block (after merging) as YAML, for the results table."""
        data = self.block.model_dump(mode="json")
        return yaml.safe_dump(data, sort_keys=False)


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def point_key(cfg: ResolvedConfig) -> str:
    """Hash of what determines a point's result (not its name or output file)."""
    data = cfg.model_dump(mode="json", exclude={"name", "output"})
    return _digest(RESULT_FORMAT, __version__, json.dumps(data, sort_keys=True))


def mesh_key(cfg: ResolvedConfig) -> str:
    """The mesh cache's scene hash, or for an imported mesh its file, stamp and region map."""
    m = cfg.scene.mesh
    if m.file is None:
        return "scene-" + scene_hash(scene_spec(cfg))
    try:
        stat = os.stat(m.file)
        stamp = f"{stat.st_size}-{stat.st_mtime_ns}"
    except OSError:
        stamp = "missing"
    return "file-" + _digest(str(m.file), stamp, str(m.length_unit), json.dumps(m.regions, sort_keys=True))


def batch_key(cfg: ResolvedConfig, mesh: str) -> str:
    """Equal for points whose parameters stack into one batch on one prepared mesh."""
    data = {
        "physics": cfg.physics.model_dump(mode="json"),
        "solver": cfg.solver.model_dump(mode="json"),
        "pairs": len(cfg.protocol.pairs),
    }
    return _digest(mesh, json.dumps(data, sort_keys=True))


def chunk_key(points: Sequence[Point], reference: Point) -> str:
    return _digest(RESULT_FORMAT, reference.key, *(p.key for p in points))


def references(points: Sequence[Point]) -> dict[str, Point]:
    """batch key -> the first point with that key."""
    first: dict[str, Point] = {}
    for p in points:
        first.setdefault(p.batch_key, p)
    return first


def make_chunks(
    points: Sequence[Point], chunk_size: int, reference: dict[str, Point] | None = None
) -> list[Chunk]:
    """Points grouped by batch key (in order of first appearance), cut into chunks of at most
    `chunk_size` consecutive points.

    Args:
        points: the points to evaluate (all of a plan, or those a rerun still has to do).
        chunk_size: points per chunk.
        reference: batch key -> reference point (default: `references(points)`); pass
            `references(plan.points)` when `points` is part of a plan.
    """
    reference = reference or references(points)
    groups: dict[str, list[Point]] = {}
    for p in points:
        groups.setdefault(p.batch_key, []).append(p)
    chunks = []
    for batch, group in groups.items():
        ref = reference[batch]
        for start in range(0, len(group), chunk_size):
            part = tuple(group[start : start + chunk_size])
            chunks.append(Chunk(part, ref, chunk_key(part, ref)))
    return chunks


def _load_yaml(text: str) -> Any:
    """A command-line axis value, read with the config's bounded loader (no alias bombs)."""
    return parse_yaml(text, "--axis")


def _sweep_block(data: dict, axes: Sequence[str], samples, seed, chunk_size, source, text):
    """The file's sweep block with the command line's axes and settings merged in."""
    raw = data.get("sweep") or {}
    if not isinstance(raw, dict):
        raise located(ConfigIssue(("sweep",), f"expected a mapping, got {raw!r}"), source, text)
    raw = dict(raw)
    raw["axes"] = dict(raw.get("axes") or {})
    given = {}  # key path in the sweep block -> the command-line option that set it
    for option in axes:
        try:
            path, spec = parse_axis_option(option, _load_yaml)
        except (ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"{source}: {exc}") from None
        raw["axes"][path] = spec
        given[("axes", path)] = f"--axis {option!r}"
    for key, value in (("samples", samples), ("seed", seed), ("chunk_size", chunk_size)):
        if value is not None:
            raw[key] = value
            given[(key,)] = f"--{key.replace('_', '-')} {value}"
    try:
        block = SweepBlock.model_validate(raw)
    except ValidationError as exc:
        issue = issue_from_validation(exc, raw, prefix=("sweep",))
        raise _command_line_issue(issue, given, source) or located(issue, source, text) from None
    if not block.axes and not block.points:
        raise ConfigError(
            f"{source}: nothing to sweep: add a `sweep:` block with axes, or --axis PATH=SPEC"
        )
    return block


def _command_line_issue(issue: ConfigIssue, given: dict, source: str) -> ConfigError | None:
    """The error of a sweep setting given on the command line, naming the option rather than a
    line of the file (which may hold another value for the same key, or none)."""
    for key, option in given.items():
        if issue.loc[1 : 1 + len(key)] == key:
            return ConfigError(f"{source}: {option}: {format_path(issue.loc)}: {issue.problem}")
    return None


def make_plan(
    data: dict,
    *,
    source: str = "<data>",
    base_dir: str | Path | None = None,
    text: str | None = None,
    axes: Sequence[str] = (),
    samples: int | None = None,
    seed: int | None = None,
    chunk_size: int | None = None,
) -> Plan:
    """Validate a sweep given as config data (what yaml.safe_load returns) plus command-line
    axes (`PATH=SPEC` strings, see `parse_axis_option`).

    Every point is validated before this returns.

    Raises:
        ConfigError: the base config, the sweep block or any point does not validate; the
            message names the file, the point, the key path and the problem.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of config sections")
    block = _sweep_block(data, axes, samples, seed, chunk_size, source, text)
    base_data = {k: v for k, v in data.items() if k != "sweep"}
    base = load_config_data(base_data, source=source, base_dir=base_dir, text=text)
    try:
        paths, overrides = expand(block)
    except ConfigIssue as issue:
        raise located(issue, source, text) from None

    points, failures = [], []
    for index, values in enumerate(overrides):
        where = f"{source} (sweep point {index}: {describe(values, limit=2)})"  # one short line
        point_data = copy.deepcopy(base_data)
        try:
            for path_text, value in values.items():
                set_path(point_data, parse_path(path_text), value)
            cfg = load_config_data(point_data, source=where, base_dir=base_dir)
        except ConfigIssue as issue:
            failures.append(str(located(issue, where, None)))
            continue
        except ConfigError as exc:
            failures.append(str(exc))
            continue
        mesh = mesh_key(cfg)
        points.append(Point(index, values, cfg, point_key(cfg), mesh, batch_key(cfg, mesh)))
    if failures:
        more = f" ({len(failures)} of {len(overrides)} points fail)" if len(failures) > 1 else ""
        raise ConfigError(failures[0] + more)
    units = data.get("units") if isinstance(data.get("units"), dict) else {}
    chunk = block.chunk_size or default_chunk_size()
    return Plan(source, base, block, paths, tuple(points), chunk, dict(units))


def load_plan(
    path: str | Path,
    *,
    axes: Sequence[str] = (),
    samples: int | None = None,
    seed: int | None = None,
    chunk_size: int | None = None,
) -> Plan:
    """Read a config file with a `sweep:` block (and/or command-line axes) and validate every
    point. Paths inside the config are relative to its directory, as for `epsim run`."""
    path = Path(path)
    load_config(path)  # the base file as `epsim run` reads it: line numbers, duplicate keys
    text = path.read_text(encoding="utf-8")
    return make_plan(
        yaml.safe_load(text), source=str(path), base_dir=path.resolve().parent, text=text,
        axes=axes, samples=samples, seed=seed, chunk_size=chunk_size,
    )


_FIELD_KINDS = {
    "voltage": "voltage", "max_voltage": "voltage", "voltage_to_distance": "field",
    "max_current": "current", "width": "time", "rate": "frequency", "rotation": "angle",
    **{name: "length" for name in (
        "tip", "entry", "center", "center_tip", "radius", "radii", "diameter", "active_length",
        "length", "spacing", "gap", "size", "thickness", "height", "target_size",
        "electrode_size", "points",
    )},
}


def default_chunk_size() -> int:
    """Points per chunk when the sweep block gives none: 1 on a CPU, where vmap batching does
    not pay (benchmarks/SWEEP_RESULTS.md) and one point per chunk lets the progress bar move
    per point; 8 on an accelerator, where batches amortise the shared preconditioner."""
    import jax

    return 1 if jax.default_backend() == "cpu" else 8


def axis_role(block: SweepBlock, path_text: str) -> str:
    """"uncertainty" for a random or Latin axis, "design" for a grid axis or explicit point."""
    spec = block.axes.get(path_text)
    return "uncertainty" if isinstance(spec, RANDOM_KINDS + (LatinAxis,)) else "design"


def quantity_kind(path_text: str) -> str | None:
    """The kind of quantity of a swept field, judged by its key (None if dimensionless or not
    known): materials.tumour.sigma0 -> 'conductivity', electrodes[1].tip -> 'length'."""
    names = [p for p in parse_path(path_text) if isinstance(p, str)]
    last = names[-1]
    if names[0] == "materials" and last in MATERIAL_PARAMETERS:
        return MATERIAL_PARAMETERS[last][0]
    return _FIELD_KINDS.get(last)


def si_unit(path_text: str) -> str:
    """The SI unit of a swept field's resolved value ('' if dimensionless or not known):
    materials.tumour.sigma0 -> 'S/m', electrodes[1].tip -> 'm'."""
    kind = quantity_kind(path_text)
    return SI_UNITS[kind] if kind else ""


# Units clinicians read, for kinds the file's units block does not declare.
_READABLE = {"length": "mm", "field": "V/cm", "time": "us"}


def config_unit(path_text: str, units: dict[str, str]) -> str:
    """The unit a report shows a swept field in: the file's `units:` entry for its kind, else
    mm, V/cm or us, else SI ('' if dimensionless)."""
    kind = quantity_kind(path_text)
    if kind is None:
        return ""
    if kind == "temperature":  # offset units do not scale; stay in K
        return SI_UNITS[kind]
    return units.get(kind) or _READABLE.get(kind) or SI_UNITS[kind]


def si_per_unit(path_text: str, unit: str) -> float:
    """SI value of one `unit` of the field's kind (1e2 for V/cm): divide SI values by it."""
    kind = quantity_kind(path_text)
    return 1.0 if kind is None or not unit else to_si(f"1 {unit}", kind, None)


def parameter_value(point: Point, path_text: str) -> Any:
    """The swept field's value in the point's resolved config (SI), or as written when the
    resolved config has no such field (for example a pair generator name)."""
    try:
        value = get_path(point.config, parse_path(path_text))
    except KeyError:
        value = point.overrides.get(path_text)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value):
        return tuple(float(v) for v in value)
    return str(point.overrides.get(path_text, value))


__all__ = [
    "Chunk",
    "Plan",
    "Point",
    "axis_role",
    "config_unit",
    "default_chunk_size",
    "load_plan",
    "make_chunks",
    "make_plan",
    "parameter_value",
    "quantity_kind",
    "references",
    "si_per_unit",
    "si_unit",
]
