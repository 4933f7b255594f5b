"""Load a config file, resolve it, and write it back.

    cfg = load_config("plan.yaml")            # -> ResolvedConfig, SI throughout
    text = resolved_to_yaml(cfg)               # a valid config, loads to cfg (12 digits)
    print(dump_resolved(cfg))                  # what `epsim check` prints

Loading: YAML (safe loader only, duplicate keys rejected, bounded in size, depth, aliases and
numbers: `epsim.config.yamlio`) -> `Config` (units converted to SI
with the file's `units:` block) -> `resolve`: paths made absolute relative to the config file's
directory, every used material in full, needles expanded and checked, every pair spelled out with
its voltage and checked against the device, the scene checked by the mesh layer's `check_scene`
(`epsim.config.checks`). Every problem raises `epsim.errors.ConfigError` naming the file, the
line, the key path and the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from epsim.config.excerpt import excerpt
from epsim.config.image import image_parts, resolve_image
from epsim.config.display import DisplayUnits, report_units

from epsim.config.issues import ConfigIssue, issue_from_validation, located
from epsim.config.materials import resolve_materials
from epsim.config.checks import check_geometry, check_needles
from epsim.config.needles import needle_axes, pair_voltages, spacing
from epsim.config.accuracy import accurate_mesh
from epsim.config.schema import Config, ResolvedConfig, StlStructure
from epsim.config.units import SI_UNITS, UnitError, check_units_block
from epsim.config.yamlio import parse_yaml, read_config_text


def load_config(path: str | Path) -> ResolvedConfig:
    """Read, validate and resolve a config file.

    Paths inside the config (output.file, scene.mesh.file, STL files) are taken relative to the
    config file's directory.

    Raises:
        ConfigError: the file cannot be read or does not validate.
    """
    path = Path(path)
    text = read_config_text(path)
    return load_config_text(text, source=str(path), base_dir=path.resolve().parent,
                            confine_outputs=True)


def load_config_text(
    text: str, *, source: str = "<string>", base_dir: str | Path | None = None,
    confine_outputs: bool = False,
) -> ResolvedConfig:
    """Validate and resolve a config given as YAML text.

    Args:
        text: the YAML document.
        source: the name used in error messages.
        base_dir: directory that relative paths refer to (default: the working directory).
        confine_outputs: refuse an output.file outside base_dir (`confined_output`).
    """
    data = parse_yaml(text, source)
    return load_config_data(data, source=source, base_dir=base_dir, text=text,
                            confine_outputs=confine_outputs)


def load_config_data(
    data: Any,
    *,
    source: str = "<data>",
    base_dir: str | Path | None = None,
    text: str | None = None,
    confine_outputs: bool = False,
) -> ResolvedConfig:
    """Validate and resolve a config given as plain data (what yaml.safe_load returns).

    Args:
        data: a dict.
        source: the name used in error messages.
        base_dir: directory that relative paths refer to (default: the working directory).
        text: the YAML text the data came from, to give line numbers in error messages.
        confine_outputs: refuse an output.file outside base_dir (`confined_output`).
    """
    try:
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise ConfigIssue((), f"expected a mapping of config sections, got {kind}")
        try:
            units = check_units_block(data.get("units"))
        except UnitError as exc:
            raise ConfigIssue(("units",) + ((exc.key,) if exc.key else ()), str(exc)) from None
        try:
            config = Config.model_validate(data, context={"units": units})
        except ValidationError as exc:
            raise issue_from_validation(exc, data) from None
        return resolve(config, base_dir=base_dir, confine_outputs=confine_outputs)
    except ConfigIssue as issue:
        raise located(issue, source, text) from None


def _absolute(path: Path | None, base_dir: Path) -> Path | None:
    return None if path is None else (base_dir / path.expanduser()).resolve()


def confined_output(path: Path, base_dir: Path) -> Path:
    """The absolute path of a config's output.file, which must lie in the config's folder or
    below it: absolute paths, `~` and `..` that leave the folder (symbolic links followed) are
    refused, so that a config from elsewhere cannot make epsim write over a user's files; such
    outputs come from the command line (-o).

    Raises:
        ConfigIssue: at output.file.
    """
    text = str(path)
    refuse = "a config may only name outputs in its own folder or below it; give this one " \
             "on the command line with -o"
    if path.is_absolute() or text.startswith("~"):
        raise ConfigIssue(("output", "file"), f"{excerpt(text)} is not inside the config's "
                          f"folder: {refuse}")
    base = base_dir.resolve()
    target = (base / path).resolve()
    if target == base:
        raise ConfigIssue(("output", "file"), f"{excerpt(text)} names the config's folder, "
                          "not a file")
    if base not in target.parents:
        raise ConfigIssue(("output", "file"), f"{excerpt(text)} leaves the config's folder: "
                          f"{refuse}")
    return target


def resolve(config: Config, *, base_dir: str | Path | None = None,
            confine_outputs: bool = False) -> ResolvedConfig:
    """Resolve a validated config: absolute paths, full materials, explicit pairs, checks
    (electrode names and lengths, pair voltages, and the scene geometry by the mesh layer's
    `check_scene`, as `epsim run` meshes it). `confine_outputs`: output.file must lie in
    base_dir or below (`confined_output`; what `load_config` does for a config file).

    Raises:
        ConfigIssue: a problem at a key path (a ConfigError).
    """
    base_dir = Path.cwd() if base_dir is None else Path(base_dir)
    config = resolve_image(config, base_dir)  # the label map read, its crop box filled in
    materials = resolve_materials(config)
    needles = needle_axes(config)
    check_needles(config, needles)
    pairs = pair_voltages(config, needles)

    data = config.model_dump()
    data["units"] = dict(SI_UNITS)
    data["output"]["units"] = dict(config.output.units or config.units)  # reports' units
    data["materials"] = {name: material.model_dump() for name, material in materials.items()}
    data["protocol"]["pairs"] = [pair.model_dump() for pair in pairs]
    data["scene"]["mesh"] = accurate_mesh(config, needles, pairs)  # sizes left out: the rule
    if confine_outputs and config.output.file is not None:
        data["output"]["file"] = confined_output(config.output.file, base_dir)
    else:
        data["output"]["file"] = _absolute(config.output.file, base_dir)
    inputs = [(("scene", "mesh", "file"), data["scene"]["mesh"])]
    inputs += [
        (("scene", "structures", i, "file"), data["scene"]["structures"][i])
        for i, structure in enumerate(config.scene.structures)
        if isinstance(structure, StlStructure)
    ]
    for loc, section in inputs:
        section["file"] = _absolute(section["file"], base_dir)
        if section["file"] is not None and not section["file"].is_file():
            raise ConfigIssue(loc, f"file not found: {section['file']}")
    try:
        resolved = ResolvedConfig.model_validate(data)
    except ValidationError as exc:  # a bug in resolution rather than in the file
        raise issue_from_validation(exc, data) from None
    check_geometry(resolved, needles)  # with absolute STL paths
    return resolved


class _Dumper(yaml.SafeDumper):
    """Block mappings; lists of plain values on one line ([x, y, z])."""

    def represent_list(self, data):
        flow = all(not isinstance(item, (dict, list)) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _Dumper.represent_list)


YAML_DIGITS = 12  # significant digits of numbers in resolved YAML


def rounded(value, digits: int = YAML_DIGITS):
    """`value` (plain data) with every float rounded to `digits` significant digits: unit
    conversions leave 364.99999999999994 where the file said 365."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def resolved_to_yaml(cfg: ResolvedConfig) -> str:
    """The resolved config as YAML: SI values, rounded to 12 significant digits (`rounded`),
    under a `units:` block of SI units, every material in full, every pair explicit.
    `load_config_text` of it gives a ResolvedConfig equal to `cfg` to 12 digits, whose YAML is
    this text again."""
    data = rounded(cfg.model_dump(mode="json", exclude_none=True))
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


def _point(point, units: DisplayUnits) -> str:
    values = ", ".join(f"{round(units.value(x, 'length'), 9) + 0.0:.6g}" for x in point)
    return f"({values}) {units.unit('length')}"


def _structure_lines(cfg: ResolvedConfig, units: DisplayUnits) -> list[str]:
    """One comment line per structure and vessel: material, role; spared ones with the E_irr
    a run checks them against."""
    lines = []
    parts = [(s.name, s.material, s.role) for s in (*cfg.scene.structures, *cfg.scene.vessels)]
    parts += list(image_parts(cfg)[1:]) if cfg.scene.image is not None else []
    for name, material, role in parts:
        text = f"#   {name}: {material}, {role}"
        if role == "spare":
            e_irr = units.text(cfg.materials[material].e_irr, "field")
            text += f" (needles keep out; each run reports its largest field against E_irr {e_irr})"
        lines.append(text)
    return ["# structures:"] + lines if lines else []


def dump_resolved(cfg: ResolvedConfig) -> str:
    """What `epsim check` prints: a readable summary of needles, pairs and structures (as YAML
    comments, in the config's units: `output.units`), then the resolved YAML."""
    needles = needle_axes(cfg)
    by_name = {needle.name: needle for needle in needles}
    units = report_units(cfg)
    lines = [f"# {cfg.name}: resolved config, SI units (see `units:`)"]
    if needles:
        lines.append("# needles:")
        for n in needles:
            lines.append(
                f"#   {n.name}: tip {_point(n.tip, units)}, entry {_point(n.entry, units)}, "
                f"diameter {units.text(2 * n.radius, 'length', 6)}, "
                f"active {units.text(n.active_length, 'length', 6)}"
            )
    lines.append("# pairs:")
    for i, pair in enumerate(cfg.protocol.pairs, start=1):
        text = f"#   {i}. {pair.anode} -> {pair.cathode}: {units.text(pair.voltage, 'voltage', 6)}"
        distance = spacing(cfg, by_name, pair.anode, pair.cathode)
        if distance:
            ratio = units.text(pair.voltage / distance, "field", 6)
            text += f" (spacing {units.text(distance, 'length', 6)}, {ratio})"
        lines.append(text)
    lines += _structure_lines(cfg, units)
    used = ", ".join(cfg.materials)
    lines.append(f"# materials: {used}")
    return "\n".join(lines) + "\n" + resolved_to_yaml(cfg)
