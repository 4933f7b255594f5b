"""From a resolved config to the numerical layers' types: scene, mesh, materials, solver, heating.

    layout = electrode_layout(cfg)               # the needles, expanded once
    parts = scene_mesh(cfg, layout)              # one region per named part (cached)
    mesh = material_mesh(cfg, parts)             # the same cells, one region per material
    model = conductivity(cfg, mesh)              # sigma(|E|) per cell
    solver, preconditioner = solver_settings(cfg)

Regions: a scene is meshed with one region per named part (the domain, each layer, structure
and vessel, `scene_regions`), so that results report two vessels of one material apart; the
physics reads materials, so `material_mesh` merges the parts of one material (same cells and
nodes). `mesh_of` gives that material mesh directly.

This is an edge module: the only place where the config's pydantic models become mesh specs,
conductivity models, solver settings, thermal tissue and pulse trains. The runner, sweeps and the
planner all translate through it, so one config means the same problem everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from epsim import mesh as meshlib
from epsim.config import electrode_holes, mesh_domain, mesh_inclusions, needle_axes
from epsim.config.accuracy import gradings, refinement, scene_materials
from epsim.config.image import image_parts, image_scene
from epsim.mesh.scene import region_materials, region_names
from epsim.config.schema import ResolvedConfig
from epsim.errors import MaterialError
from epsim.heating import PulseTrain
from epsim.meshcache import Progress, SceneSpec, build_mesh
from epsim.mesh.tetmesh import TetMesh
from epsim.physics import Constant, Logistic, Ramp, RegionConductivity, SmoothStep
from epsim.physics.cell_death import EquivalentPulses, IndependentPairs, PelegFermi
from epsim.physics.thermal import ThermalTissue
from epsim.solve import Amg, Jacobi, Newton, Picard

# Permeabilisation probability: a symmetric sigmoid (Dermol & Miklavcic 2014) with P = 0.5 at the
# material's E_rev and a width of 10 % of E_rev: an engineering assumption of epsim, not a fit.
PERMEABILISATION_WIDTH_FRACTION = 0.1

# Logistic sigma(E) from thresholds: centred between them, a quarter of the gap wide per e-fold
# (10 % to 90 % of the rise between E_rev and E_irr); an engineering choice of epsim.
LOGISTIC_WIDTH_FRACTION = 0.25 / np.log(9.0)


# ---------------------------------------------------------------- electrodes and scene

@dataclass(frozen=True)
class ElectrodeLayout:
    """The config's electrodes as the mesh sees them.

    Attributes:
        needles: every individual needle (rows and arrays expanded), from `needle_axes`.
        holes: needles and plates as holes in the tissue (epsim.mesh shapes).
        names: the conducting surfaces (facet tags), in the order of `holes`.
    """

    needles: tuple
    holes: tuple
    names: tuple[str, ...]


def electrode_layout(cfg: ResolvedConfig) -> ElectrodeLayout:
    """Expand the config's needles and plates once; everything else reads the layout."""
    needles = tuple(needle_axes(cfg))
    holes = electrode_holes(cfg, needles)
    return ElectrodeLayout(needles, holes, tuple(h.name for h in holes))


def electrode_names(cfg: ResolvedConfig) -> tuple[str, ...]:
    """Names of the conducting surfaces of the config's electrodes."""
    return electrode_layout(cfg).names


def scene_spec(cfg: ResolvedConfig, layout: ElectrodeLayout | None = None,
               seed: int = 0) -> SceneSpec:
    """The config's scene and electrodes as mesh specs (SI), in the shapes the config layer
    validated them as (`epsim.config.mesh_domain`, `mesh_inclusions`, `electrode_holes`).
    `layout`: the config's electrode layout when the caller has it already; `seed`: gmsh's
    (`SceneSpec.seed`)."""
    layout = electrode_layout(cfg) if layout is None else layout
    domain = mesh_domain(cfg)
    inclusions = mesh_inclusions(cfg, domain)
    image = image_scene(cfg) if cfg.scene.image is not None else None
    m = cfg.scene.mesh
    regions = refinement(cfg, layout.holes, scene_materials(domain, inclusions, image))
    sizes = meshlib.MeshSizes(size=m.size, electrode_size=m.electrode_size, refine=regions,
                              **gradings(cfg))
    return SceneSpec(domain, inclusions, layout.holes, sizes, layout.names, image, seed)


# ---------------------------------------------------------------- the mesh

def read_mesh_file(cfg: ResolvedConfig) -> TetMesh:
    """`scene.mesh.file` with the file's own regions (names, or ids as text), renumbered for
    memory locality like a generated mesh (results files hold this numbering)."""
    m = cfg.scene.mesh
    return meshlib.renumbered(meshlib.read_mesh(m.file, length_unit=m.length_unit))


def scene_mesh(
    cfg: ResolvedConfig, layout: ElectrodeLayout | None = None, *, use_cache: bool = True,
    progress: Progress | None = None, seed: int = 0,
) -> TetMesh:
    """The config's mesh with one region per named part (`scene_regions`): its scene meshed by
    gmsh (cached; `seed`: gmsh's), or its `scene.mesh.file` with the file's regions (the seed
    plays no part)."""
    if cfg.scene.mesh.file is not None:
        return read_mesh_file(cfg)
    return build_mesh(scene_spec(cfg, layout, seed), use_cache=use_cache, progress=progress)


def material_mesh(cfg: ResolvedConfig, mesh: TetMesh) -> TetMesh:
    """The same cells and nodes with one region per material, in order of first appearance
    (what the physics reads: conductivity, cell death, heating)."""
    materials = [r.material for r in scene_regions(cfg, mesh.region_names)]
    names = tuple(dict.fromkeys(materials))
    if names == tuple(mesh.region_names):
        return mesh
    index = np.array([names.index(m) for m in materials], dtype=np.int32)
    return TetMesh(mesh.points, mesh.cells, index[np.asarray(mesh.cell_region)], mesh.facets, names)


def import_mesh(cfg: ResolvedConfig) -> TetMesh:
    """Read `scene.mesh.file` and name its regions by material (`scene.mesh.regions`)."""
    return material_mesh(cfg, read_mesh_file(cfg))


def mesh_of(
    cfg: ResolvedConfig, layout: ElectrodeLayout | None = None, *, use_cache: bool = True,
    progress: Progress | None = None,
) -> TetMesh:
    """The config's mesh with one region per material: its `scene.mesh.file`, or its scene
    meshed by gmsh (cached)."""
    return material_mesh(cfg, scene_mesh(cfg, layout, use_cache=use_cache, progress=progress))


def check_materials(cfg: ResolvedConfig, mesh: TetMesh) -> None:
    """Raise MaterialError for mesh regions the config gives no material."""
    missing = [r for r in mesh.region_names if r not in cfg.materials]
    if missing:
        raise MaterialError(
            f"mesh region(s) {missing} have no material: map them under scene.mesh.regions "
            "or define them under materials"
        )


# ---------------------------------------------------------------- materials and solver

def material_model(cfg: ResolvedConfig, name: str):
    """sigma(|E|) of one material as configured (physics.conductivity and physics.model)."""
    m = cfg.materials[name]
    if cfg.physics.conductivity == "linear":
        return Constant(m.sigma0)
    if cfg.physics.model == "ramp":
        return Ramp(m.sigma0, m.sigma1, m.e_rev, m.e_irr)
    if cfg.physics.model == "logistic":
        width = LOGISTIC_WIDTH_FRACTION * (m.e_irr - m.e_rev)
        return Logistic(m.sigma0, m.sigma1, 0.5 * (m.e_rev + m.e_irr), width)
    return SmoothStep(m.sigma0, m.sigma1, m.e_rev, m.e_irr)


def conductivity(cfg: ResolvedConfig, mesh: TetMesh) -> RegionConductivity:
    """sigma(|E|) of every cell: each region's material model."""
    return RegionConductivity(
        tuple(material_model(cfg, r) for r in mesh.region_names), jnp.asarray(mesh.cell_region)
    )


def region_roles(cfg: ResolvedConfig, region_names) -> tuple[str, ...]:
    """Role of each region (material): target if a target structure is made of it, then spare."""
    rank = {"tissue": 0, "spare": 1, "target": 2}
    roles = {}
    for _, material, role in scene_parts(cfg):
        roles[material] = max(roles.get(material, "tissue"), role, key=rank.__getitem__)
    return tuple(roles.get(name, "tissue") for name in region_names)


@dataclass(frozen=True)
class SceneRegion:
    """A region as results report it: a named part of the scene (the domain, a layer, a
    structure or a vessel), its material and its role (target, spare or tissue)."""

    name: str
    material: str
    role: str


def scene_parts(cfg: ResolvedConfig) -> tuple[tuple[str, str, str], ...]:
    """(name, material, role) of the structures and vessels, or of an image scene's background
    and labels."""
    if cfg.scene.image is not None:
        return image_parts(cfg)
    return tuple((s.name, s.material, s.role) for s in (*cfg.scene.structures, *cfg.scene.vessels))


def part_materials(cfg: ResolvedConfig) -> dict[str, str]:
    """Region name -> material of every part of a generated scene (`region_names` by name, an
    image scene's background and labels); empty for an imported mesh."""
    if cfg.scene.mesh.file is not None:
        return {}
    if cfg.scene.image is not None:
        return {name: material for name, material, _ in image_parts(cfg)}
    domain = mesh_domain(cfg)
    inclusions = mesh_inclusions(cfg, domain)
    return dict(zip(region_names(domain, inclusions, "name"),
                    region_materials(domain, inclusions, "name")))


def scene_regions(cfg: ResolvedConfig, names) -> tuple[SceneRegion, ...]:
    """Name, material and role of each mesh region in `names`.

    A part of the generated scene takes its structure's or vessel's role (the domain and layers
    are tissue); any other name (an imported mesh's region, mapped through `scene.mesh.regions`,
    or a region of a material mesh) is a material with the role of `region_roles`.
    """
    parts = part_materials(cfg)
    roles = {name: role for name, _, role in scene_parts(cfg)}
    regions = []
    for name in names:
        if name in parts:
            material, role = parts[name], roles.get(name, "tissue")
        else:
            material = cfg.scene.mesh.regions.get(name, name)
            role = region_roles(cfg, [material])[0]
        regions.append(SceneRegion(name, material, role))
    return tuple(regions)


def solver_settings(cfg: ResolvedConfig) -> tuple[Newton | Picard, Amg | Jacobi]:
    """The nonlinear solver and the preconditioner the config asks for."""
    s = cfg.solver
    preconditioner = Jacobi() if s.preconditioner == "jacobi" else Amg()
    if s.kind == "picard":
        return Picard(rtol=s.rtol, max_iterations=s.max_iterations, damping=s.damping), preconditioner
    return Newton(rtol=s.rtol, max_iterations=s.max_iterations), preconditioner


def per_cell(cfg: ResolvedConfig, mesh: TetMesh, key: str) -> jax.Array:
    """A material parameter spread over the cells, (n_cells,)."""
    values = jnp.asarray([getattr(cfg.materials[r], key) for r in mesh.region_names])
    return values[jnp.asarray(mesh.cell_region)]


# ---------------------------------------------------------------- outcomes and heating

@dataclass(frozen=True)
class CellDeath:
    """What per-cell outcomes need: permeabilisation threshold and width, the Peleg-Fermi
    parameters of every cell, the survival rule across pairs and the pulses per pair."""

    e_rev: jax.Array
    width: jax.Array
    params: PelegFermi
    rule: EquivalentPulses | IndependentPairs
    count: int


def cell_death(cfg: ResolvedConfig, mesh: TetMesh) -> CellDeath:
    """The config's permeabilisation and survival models on the cells of `mesh`."""
    e_rev = per_cell(cfg, mesh, "e_rev")
    params = PelegFermi(*(per_cell(cfg, mesh, k) for k in ("ec0", "a0", "k1", "k2")))
    rule = EquivalentPulses() if cfg.physics.survival_rule == "equivalent_pulses" else IndependentPairs()
    return CellDeath(e_rev, PERMEABILISATION_WIDTH_FRACTION * e_rev, params, rule,
                     cfg.protocol.pulses.count)


def thermal_tissue(cfg: ResolvedConfig, mesh: TetMesh) -> ThermalTissue:
    """Per-cell Pennes parameters from the materials (blood and body temperature: defaults)."""
    keys = ("k", "rho", "c", "alpha", "w_b", "q_m")
    return ThermalTissue(**{k: per_cell(cfg, mesh, k) for k in keys})


def pulse_train(cfg: ResolvedConfig) -> PulseTrain:
    """The protocol's pulses with the heating section's time steps (cfg.heating must be set)."""
    p, h = cfg.protocol.pulses, cfg.heating
    return PulseTrain(p.count, p.width, p.rate, substeps=h.substeps, pause_steps=h.pause_steps)


__all__ = [
    "CellDeath", "ElectrodeLayout", "LOGISTIC_WIDTH_FRACTION", "PERMEABILISATION_WIDTH_FRACTION",
    "SceneRegion", "cell_death", "check_materials", "conductivity", "electrode_layout",
    "electrode_names", "import_mesh", "material_mesh", "material_model", "mesh_of",
    "part_materials", "per_cell", "pulse_train", "read_mesh_file", "region_roles", "scene_mesh",
    "scene_parts", "scene_regions", "scene_spec", "solver_settings", "thermal_tissue",
]
