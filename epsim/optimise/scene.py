"""Meshes at planned layouts: the scene with its needles moved, meshed by gmsh, prepared.

`PlanningScene` is the host-side description the planner remeshes from: the domain, the
inclusions (target, spared structures, other tissue), mesh sizes, the needles' radii and active
lengths, and a function that gives each mesh region its conductivity. `mesh_data` builds the
`MeshData` pytree of a mesh: the solver problem (Jacobi-preconditioned by default: at planning
sizes it solves about as fast as AMG and compiles ten times faster), the node motion and the
structures' distances. The session pads it (`epsim.optimise.padded`) so that remeshes of similar
size reuse the compiled programs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Sequence

import jax.numpy as jnp
import numpy as np

from epsim.mesh import Needle as NeedleHole
from epsim.mesh import build_mesh
from epsim.mesh.scene import MeshSizes
from epsim.mesh.tetmesh import TetMesh, signed_volumes
from epsim.optimise.geometry import host_signed_distance, signed_distance_function
from epsim.optimise.materials import material_field
from epsim.optimise.model import MeshData
from epsim.optimise.motion import LIMIT_FRACTION, build_motion
from epsim.physics.conductivity import Conductivity
from epsim.simulate import prepare
from epsim.solve import Jacobi

Materials = Callable[[Sequence[str]], tuple[tuple[Conductivity, ...], np.ndarray, np.ndarray]]
"""region (material) names -> (sigma(|E|) of each, sigma0 S/m and E_irr V/m of each)."""


@dataclass(frozen=True)
class PlanningScene:
    """The scene the planner meshes, SI units.

    Attributes:
        domain, inclusions: mesh specs (`epsim.mesh`).
        sizes: mesh sizes at full resolution.
        names, radii, active_lengths: the needles (their facet tags are the electrode names).
        materials: conductivity models, sigma0 and E_irr of the mesh's regions (materials).
        anode, cathode: (n_pairs,) needle indices of the firing pairs.
        floating_idle: idle needles float (True) or are left out.
        fixed_shapes: structures whose signed distance is only available on the host (STL),
            evaluated at the reference centroids of each mesh (rows of `fixed_distance`).
        halo: largest halo radius (m) of the node motion; rigid: rigid layer (m) around needles.
        preconditioner: Jacobi() (default) or Amg().
        refine_at: holes -> the refinement regions at that layout (the config's `refine` and
            the accurate-default rule's zones, rims and interface cylinders, which follow the
            needles); None: `sizes.refine` wherever the needles are.
    """

    domain: object
    inclusions: tuple
    sizes: MeshSizes
    names: tuple[str, ...]
    radii: tuple[float, ...]
    active_lengths: tuple[float, ...]
    materials: Materials
    anode: tuple[int, ...]
    cathode: tuple[int, ...]
    floating_idle: bool = True
    fixed_shapes: tuple = ()
    halo: float = 10e-3
    rigid: float | None = None
    limit_fraction: float = LIMIT_FRACTION
    preconditioner: object = Jacobi()
    refine_at: Callable | None = None

    def holes(self, tips, axes, lengths) -> tuple[NeedleHole, ...]:
        """Needle holes at a layout: tips (n, 3) m, unit axes (n, 3), tip-entry lengths (n,)."""
        return tuple(
            NeedleHole(n, t, t + length * a, r, la)
            for n, t, a, length, r, la in zip(
                self.names, np.asarray(tips), np.asarray(axes), np.asarray(lengths),
                self.radii, self.active_lengths,
            )
        )

    def scaled_sizes(self, factor: float) -> tuple[MeshSizes, tuple]:
        """Mesh sizes (and inclusion sizes) times `factor` (a coarser mesh for factor > 1)."""
        if factor == 1.0:
            return self.sizes, self.inclusions
        scale = lambda v: None if v is None else v * factor  # noqa: E731
        sizes = dataclasses.replace(
            self.sizes, size=scale(self.sizes.size),
            inclusion_size=scale(self.sizes.inclusion_size),
            electrode_size=scale(self.sizes.electrode_size),
            grading_distance=scale(self.sizes.grading_distance),
        )
        inclusions = tuple(
            dataclasses.replace(i, mesh_size=scale(i.mesh_size)) if getattr(i, "mesh_size", None)
            else i
            for i in self.inclusions
        )
        return sizes, inclusions

    def layout_sizes(self, holes, factor: float = 1.0) -> MeshSizes:
        """`scaled_sizes` with the refinement regions of the layout of `holes` (`refine_at`),
        their cell sizes times `factor` too."""
        sizes, _ = self.scaled_sizes(factor)
        regions = sizes.refine if self.refine_at is None else self.refine_at(holes)
        if factor != 1.0:
            regions = tuple(dataclasses.replace(r, cell_size=r.cell_size * factor)
                            for r in regions)
        return dataclasses.replace(sizes, refine=tuple(regions))

    def mesh(self, tips, axes, lengths, factor: float = 1.0) -> TetMesh:
        """A fresh conforming mesh (gmsh) with the needles at the given layout.

        Raises:
            ElectrodeError: needles overlap, leave the tissue or pierce a keep-out structure.
        """
        _, inclusions = self.scaled_sizes(factor)
        holes = self.holes(tips, axes, lengths)
        return build_mesh(self.domain, inclusions, holes, self.layout_sizes(holes, factor))

    def material_shapes(self, region_names) -> list:
        """(signed distance, region index) per inclusion in mesh order, for the materials of
        moved cells; empty (keep the labels) when one has no analytic distance."""
        shapes = [(signed_distance_function(i), list(region_names).index(i.material))
                  for i in self.inclusions]
        return [] if any(d is None for d, _ in shapes) else shapes

    def mesh_data(self, mesh: TetMesh, tips, axes, factor: float = 1.0) -> MeshData:
        """Solver problem, node motion, materials and structure distances of a mesh made at
        tips/axes."""
        models, sigma0, e_irr = self.materials(mesh.region_names)
        problem = prepare(
            mesh, self.names, np.asarray(sigma0)[mesh.cell_region],
            preconditioner=self.preconditioner, floating_idle=self.floating_idle,
        )
        sizes, _ = self.scaled_sizes(factor)
        rigid = self.rigid * factor if self.rigid is not None else (
            sizes.electrode_size or min(self.radii))
        motion = build_motion(
            mesh, self.domain, self.names, tips, axes, self.radii, self.active_lengths,
            rigid=rigid, halo=self.halo, limit_fraction=self.limit_fraction,
        )
        points, cells = np.asarray(mesh.points), np.asarray(mesh.cells)
        centroids = points[cells].mean(axis=1)
        fixed = [host_signed_distance(s, centroids) for s in self.fixed_shapes]
        fixed = np.stack(fixed) if fixed else np.zeros((0, len(cells)))
        shapes = self.material_shapes(mesh.region_names)
        materials = material_field(models, sigma0, e_irr, mesh.cell_region, shapes,
                                   0.25 * rigid, points, cells)
        return MeshData(
            problem=problem, motion=motion, materials=materials,
            ref_volumes=jnp.asarray(signed_volumes(points, cells)),
            fixed_distance=jnp.asarray(fixed), anode=jnp.asarray(self.anode),
            cathode=jnp.asarray(self.cathode),
        )


__all__: Sequence[str] = ("Materials", "PlanningScene")
