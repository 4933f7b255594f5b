"""Small planning scenes shared by the optimise tests (a few thousand cells)."""

import numpy as np

from epsim.mesh import Box, MeshSizes, SphereInclusion, TubeInclusion
from epsim.optimise.geometry import box_exit, signed_distance_function
from epsim.optimise.objective import Goals, Structure
from epsim.optimise.plan import initial_plan, make_needles
from epsim.optimise.scene import PlanningScene
from epsim.physics import SmoothStep

MM = 1e-3
MATERIALS = {  # sigma0, sigma1 (S/m), E_rev, E_irr (V/m)
    "liver": (0.067, 0.2, 460e2, 700e2),
    "tumour": (0.2, 0.7, 400e2, 800e2),
    "blood": (0.67, 1.5, 100e2, 450e2),
}


def materials(names):
    params = [MATERIALS[r] for r in names]
    models = tuple(SmoothStep(*p) for p in params)
    return models, np.array([p[0] for p in params]), np.array([p[3] for p in params])


def small_case(n_needles=2, *, size=5.0, electrode_size=1.0, voltage=900.0, spare=True, ring=5.0,
               **goal_options):
    """Needles around a 6 mm tumour in a 30 mm box of liver; a vessel to spare on one side.

    Returns (scene, goals, needles, plan). Needles on a ring of radius `ring` mm (two needles:
    at x = -ring and ring), tips at z = -8 mm, 12 mm active, 1 mm diameter; pairs: neighbours
    around the ring (one pair for two needles).
    """
    domain = Box(center=(0, 0, 0), size=(30 * MM, 30 * MM, 30 * MM), material="liver")
    tumour = SphereInclusion("tumour", (0, 0, 0), 6 * MM, "tumour", mesh_size=2.5 * MM)
    inclusions = [tumour]
    vessel = TubeInclusion("vessel", ((-15 * MM, 11 * MM, -5 * MM), (15 * MM, 11 * MM, 0.0)),
                           2 * MM, "blood", keep_out=True)
    if spare:
        inclusions.append(vessel)
    angles = np.arange(n_needles) * 2 * np.pi / n_needles
    tips = np.stack([ring * MM * np.cos(angles), ring * MM * np.sin(angles),
                     np.full(n_needles, -8 * MM)], 1)
    entries = tips + np.array([0, 0, 30 * MM])
    names = tuple(f"n{i}" for i in range(n_needles))
    pairs = [(0, 1)] if n_needles == 2 else [(i, (i + 1) % n_needles) for i in range(n_needles)]
    scene = PlanningScene(
        domain=domain, inclusions=tuple(inclusions),
        sizes=MeshSizes(size=size * MM, electrode_size=electrode_size * MM),
        names=names, radii=(0.5 * MM,) * n_needles, active_lengths=(12 * MM,) * n_needles,
        materials=materials, anode=tuple(a for a, _ in pairs), cathode=tuple(c for _, c in pairs),
        halo=6 * MM,
    )
    needles = make_needles(names, tips, entries, [0.5 * MM] * n_needles, [12 * MM] * n_needles)
    spares = (Structure("vessel", signed_distance_function(vessel), e_irr=450e2),) if spare else ()
    options = dict(max_voltage=3000.0, max_current=50.0, min_spacing=3 * MM, max_spacing=20 * MM,
                   keep_out=1 * MM, membership_width=1 * MM)
    options.update(goal_options)
    goals = Goals(
        threshold=400e2, targets=(Structure("tumour", signed_distance_function(tumour)),),
        spares=spares, domain_distance=signed_distance_function(domain),
        exit_point=box_exit(domain.center, domain.size), firing=tuple(pairs), **options,
    )
    return scene, goals, needles, initial_plan(needles, [voltage] * len(pairs))


def layout(needles, plan):
    from epsim.optimise.plan import axes, tips

    return np.asarray(tips(needles, plan)), np.asarray(axes(needles, plan))
