"""From a config and its `optimise:` block to a planning problem, and from a plan back to a config.

    cfg, block = read_request("plan.yaml")
    setup = planning_setup(cfg, block)        # scene, goals, needles, starting plan, settings
    text = plan_yaml(raw, cfg, setup, plan)   # the plan as a config `epsim run` accepts

This is an edge module: it reads the config's pydantic models (SI) and the runner's scene and
material translation, and gives the numerical planner its types.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import yaml

from epsim.budget import mesh_size
from epsim.config import load_config, needle_axes
from epsim.config.accuracy import refinement, scene_materials
from epsim.config.needles import electrode_models
from epsim.config.schema import Config, OptimiseBlock, ResolvedConfig
from epsim.config.units import check_units_block
from epsim.errors import ConfigError, InputError
from epsim.mesh.scene import (
    Box,
    BoxInclusion,
    CylinderInclusion,
    EllipsoidInclusion,
    SphereInclusion,
)
from epsim.optimise.adam import Rates
from epsim.optimise.driver import Settings
from epsim.optimise.feasibility import Request
from epsim.optimise.geometry import box_exit, length_exit, signed_distance_function
from epsim.optimise.image_scene import (
    image_inputs,
    image_planning_scene,
    image_structures,
    label_distances,
)
from epsim.optimise.objective import Goals, Structure, Weights
from epsim.optimise.pairs import fired, sequence_lines
from epsim.optimise.plan import Needles, Plan, axes, initial_plan, make_needles, tips
from epsim.optimise.scene import PlanningScene
from epsim.solve import Amg, Jacobi
from epsim.translate import material_model, scene_spec


@dataclass(frozen=True)
class Setup:
    """A planning problem built from a config.

    Attributes:
        scene, goals, needles, start (the config's layout and voltages), settings.
        pair_labels: "anode -> cathode" per pair; spare_materials, target_materials: region
        names of the spared and target structures; threshold: V/m; block: the optimise block.
    """

    scene: PlanningScene
    goals: Goals
    needles: Needles
    start: Plan
    settings: Settings
    pair_labels: tuple[str, ...]
    target_materials: tuple[str, ...]
    spare_materials: tuple[str, ...]
    threshold: float
    block: OptimiseBlock
    request: Request
    pulses: int = 1  # pulses per pair (protocol.pulses.count)


def read_request(path) -> tuple[ResolvedConfig, OptimiseBlock, dict]:
    """Load a config (every check of `load_config`) and its `optimise:` block (defaults when
    there is none). Returns the resolved config, the block and the raw YAML data."""
    cfg = load_config(path)
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    units = check_units_block(data.get("units"))
    block = Config.model_validate(data, context={"units": units}).optimise
    return cfg, block or OptimiseBlock(), data


def _materials(cfg: ResolvedConfig):
    def materials(names):
        models = tuple(material_model(cfg, r) for r in names)
        sigma0 = np.array([float(m(jnp.zeros(()))) for m in models])
        e_irr = np.array([cfg.materials[r].e_irr for r in names])
        return models, sigma0, e_irr

    return materials


def _layout_refinement(cfg: ResolvedConfig, spec):
    """holes -> the config's refinement regions at their layout (`refinement`: the rule's
    zones, rims and interface cylinders follow the needles the planner moves)."""
    materials_at = scene_materials(spec.domain, spec.inclusions, spec.image)
    return lambda holes: refinement(cfg, holes, materials_at)


def _volume(shape) -> float | None:
    if isinstance(shape, float):  # an image label's volume
        return shape
    if isinstance(shape, SphereInclusion):
        return 4.0 / 3.0 * math.pi * shape.radius**3
    if isinstance(shape, EllipsoidInclusion):
        return 4.0 / 3.0 * math.pi * float(np.prod(shape.radii))
    if isinstance(shape, BoxInclusion):
        return float(np.prod(shape.size))
    if isinstance(shape, CylinderInclusion):
        return math.pi * shape.radius**2 * shape.height
    return None


def planning_setup(cfg: ResolvedConfig, block: OptimiseBlock) -> Setup:
    """The planning problem of a config: its needles are the starting layout.

    Raises:
        InputError: plates (only needles can be planned), no target structure.
    """
    if any(e.type == "plates" for e in cfg.electrodes):
        raise InputError("optimise moves needles: plate electrodes cannot be planned")
    spec = scene_spec(cfg)
    found = needle_axes(cfg)
    names = tuple(n.name for n in found)
    index = {n: i for i, n in enumerate(names)}
    pairs = cfg.protocol.pairs
    by_name = {i.name: i for i in spec.inclusions}
    structures = [*cfg.scene.structures, *cfg.scene.vessels]
    fixed_shapes, targets, spares = [], [], []
    for s in structures:
        if s.role not in ("target", "spare"):
            continue
        shape = by_name[s.name]
        sd = signed_distance_function(shape)
        row = -1
        if sd is None:
            row = len(fixed_shapes)
            fixed_shapes.append(shape)
        item = Structure(s.name, sd, row, cfg.materials[s.material].e_irr)
        (targets if s.role == "target" else spares).append((item, s.material, shape))
    distances = label_distances(cfg) if cfg.scene.image is not None else None
    if distances is not None:  # structures from the label map
        targets, spares = image_structures(cfg, distances)
    if not targets:
        raise InputError("optimise needs a structure with role: target")
    target_materials = tuple(dict.fromkeys(m for _, m, _ in targets))
    spare_materials = tuple(dict.fromkeys(m for _, m, _ in spares))
    key = "e_irr" if block.therapy == "ire" else "e_rev"
    threshold = max(getattr(cfg.materials[m], key) for m in target_materials)
    max_voltage = block.max_voltage or cfg.device.max_voltage or 3000.0
    if cfg.device.max_voltage is not None:
        max_voltage = min(max_voltage, cfg.device.max_voltage)
    needles = make_needles(names, [n.tip for n in found], [n.entry for n in found],
                           [n.radius for n in found], [n.active_length for n in found])
    exit_point = (box_exit(spec.domain.center, spec.domain.size) if isinstance(spec.domain, Box)
                  else length_exit(needles.length))
    entry = block.entry_region
    goals = Goals(
        threshold=threshold,
        targets=tuple(t for t, _, _ in targets), spares=tuple(s for s, _, _ in spares),
        domain_distance=signed_distance_function(spec.domain), exit_point=exit_point,
        min_voltage=block.min_voltage, max_voltage=max_voltage,
        max_current=cfg.device.max_current, min_spacing=block.min_spacing,
        max_spacing=block.max_spacing, keep_out=block.keep_out,
        entry_centre=tuple(entry.center) if entry else None,
        entry_radius=entry.radius if entry else 0.0,
        firing=tuple((index[p.anode], index[p.cathode]) for p in pairs),
        target_margin=block.target_margin,
        membership_width=0.5 * (cfg.scene.mesh.target_size or cfg.scene.mesh.size or 1e-3),
        coverage_goal=block.coverage_goal, weights=Weights(sparsity=block.pair_sparsity),
    )
    scene = PlanningScene(
        domain=spec.domain, inclusions=spec.inclusions, sizes=spec.sizes, names=names,
        radii=tuple(n.radius for n in found), active_lengths=tuple(n.active_length for n in found),
        materials=_materials(cfg), anode=tuple(index[p.anode] for p in pairs),
        cathode=tuple(index[p.cathode] for p in pairs),
        floating_idle=cfg.physics.idle_electrodes == "floating",
        fixed_shapes=tuple(fixed_shapes), halo=block.halo,
        refine_at=_layout_refinement(cfg, spec), preconditioner=planning_preconditioner(cfg),
    )
    if distances is not None:
        scene = image_planning_scene(cfg, scene, distances)
    settings = Settings(
        linear_steps=block.linear_steps, nonlinear_steps=block.nonlinear_steps,
        coarse_factor=block.coarse_factor,
        rates=Rates(block.step_position, block.step_tilt, block.step_voltage),
        starts=block.starts, jitter=block.jitter, depth=block.depth, tilt=block.tilt,
        lateral=block.lateral,
        baseline=block.baseline, seed=block.seed, coverage_goal=block.coverage_goal,
    )
    volumes = [_volume(shape) for _, _, shape in targets]
    request = Request(
        n_needles=len(names), active_lengths=tuple(n.active_length for n in found),
        threshold=threshold, max_voltage=max_voltage, min_voltage=block.min_voltage,
        min_spacing=block.min_spacing, max_spacing=block.max_spacing,
        entry_radius=entry.radius if entry else None, parallel=block.parallel or not block.tilt,
        target_volume=max((v for v in volumes if v), default=None),
        coverage_goal=block.coverage_goal,
    )
    start = initial_plan(needles, [p.voltage for p in pairs], parallel=block.parallel)
    start = Plan(start.shift, start.tilt,
                 jnp.clip(start.voltage, block.min_voltage, max_voltage))
    return Setup(scene, goals, needles, start, settings,
                 tuple(f"{p.anode} -> {p.cathode}" for p in pairs), target_materials,
                 spare_materials, threshold, block, request, cfg.protocol.pulses.count)


# Jacobi needs no set-up and its programs compile fast, which pays on small meshes; its PCG
# iterations grow with the mesh (like N^(1/3)) and with the tissues' contrasts, AMG's stay flat.
# Measured cold (benchmarks/RESULTS.md, "AMG with a seeded hierarchy"): the pelvic plan
# 103-109 -> 92-101 s, the phantom image plan 320 -> 243 s.
AMG_MIN_CELLS = 50_000  # estimated cells of the config's own mesh (`epsim.budget.mesh_size`)


def planning_preconditioner(cfg: ResolvedConfig) -> Amg | Jacobi:
    """The planner's preconditioner: AMG for a config whose mesh is estimated at AMG_MIN_CELLS
    or more, Jacobi below. Chosen once per config, so that a resumed run makes the same
    choice."""
    cells, _, _ = mesh_size(cfg)
    return Amg() if cells >= AMG_MIN_CELLS else Jacobi()


def _mm(value: float) -> str:
    return f"{value * 1e3:.4f} mm"


def absolute_inputs(scene: dict, cfg: ResolvedConfig) -> dict:
    """A copy of the raw `scene:` data with its input files (mesh, STL structures, image) made
    absolute, as `cfg` resolved them: for a config written into another folder."""
    scene = dict(scene)
    mesh = dict(scene["mesh"])
    if cfg.scene.mesh.file is not None:
        mesh["file"] = str(cfg.scene.mesh.file)
    scene["mesh"] = mesh
    if cfg.scene.image is not None:
        scene["image"] = image_inputs(scene["image"], cfg)
    if "structures" in scene:
        scene["structures"] = [
            {**s, "file": str(r.file)} if getattr(r, "file", None) else s
            for s, r in zip(scene["structures"], cfg.scene.structures)
        ]
    return scene


def plan_data(raw: dict, cfg: ResolvedConfig, setup: Setup, plan: Plan, output: str,
              size_scale: float = 1.0) -> dict:
    """The plan as config data: the raw config with its electrodes replaced by the planned
    needles and every pair given its planned voltage (values with explicit units), input paths
    made absolute, no `optimise:` block, results written to `output`; mesh sizes times
    `size_scale` when it is not 1 (a verification mesh that gmsh could only make so)."""
    data = dict(raw)
    data.pop("optimise", None)
    needles = setup.needles
    tip, axis = np.asarray(tips(needles, plan)), np.asarray(axes(needles, plan))
    entry = tip + np.asarray(needles.length)[:, None] * axis
    models = electrode_models(cfg)  # kept: the plan names the catalogue model it uses
    data["electrodes"] = [
        {"name": name, **({"model": models[name]} if name in models else {}), "type": "needle",
         "tip": [_mm(x) for x in t], "entry": [_mm(x) for x in e],
         "diameter": _mm(2 * float(r)), "active_length": _mm(float(la))}
        for name, t, e, r, la in zip(needles.names, tip, entry, np.asarray(needles.radius),
                                     np.asarray(needles.active_length))
    ]
    protocol = dict(data["protocol"])
    protocol.pop("voltage_to_distance", None)
    keep = fired(plan.voltage, setup.block.drop_voltage)  # pairs switched off are not written
    if not keep.any():
        raise InputError("the plan switches every pair off (optimise.pair_sparsity too large?)")
    protocol["pairs"] = [
        {"anode": p.anode, "cathode": p.cathode, "voltage": f"{float(v):.2f} V"}
        for p, v, on in zip(cfg.protocol.pairs, np.asarray(plan.voltage), keep) if on
    ]
    data["protocol"] = protocol
    data["scene"] = absolute_inputs(data["scene"], cfg)
    if size_scale != 1.0:
        mesh = data["scene"]["mesh"]
        for key in ("size", "target_size", "electrode_size"):
            value = getattr(cfg.scene.mesh, key)
            if value is not None:
                mesh[key] = _mm(value * size_scale)
    data["output"] = {**dict(data.get("output") or {}), "file": output}
    return data


def plan_yaml(raw: dict, cfg: ResolvedConfig, setup: Setup, plan: Plan, output: str,
              base_dir, *, size_scale: float = 1.0,
              header: str = "treatment plan from epsim optimise") -> tuple[str, ResolvedConfig]:
    """YAML text of the plan and its resolved config (loaded back, as `epsim run` will)."""
    sequence = sequence_lines(setup.pair_labels, np.asarray(plan.voltage),
                              setup.block.drop_voltage, setup.pulses)
    text = f"# {header}: {cfg.name}\n# firing sequence:\n" + "".join(
        f"#   {line}\n" for line in sequence) + yaml.safe_dump(
        plan_data(raw, cfg, setup, plan, output, size_scale), sort_keys=False,
        default_flow_style=None, width=110,
    )
    from epsim.config import load_config_text

    try:
        return text, load_config_text(text, source="plan.yaml", base_dir=base_dir)
    except ConfigError as exc:  # the plan geometry itself is invalid (overlapping needles, ...)
        raise InputError(f"the planned layout is not a valid config: {exc}") from None
