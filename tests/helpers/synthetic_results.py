"""A small synthetic `Results` with consistent fields (no solver): a 20 mm box of 'liver' with
a central cubic 'tumour', plate electrodes on the x faces, and a smooth non-uniform potential."""

import numpy as np

from epsim.io.results import RegionMetrics, Results
from epsim.mesh.structured import structured_box_mesh

SIZE = 0.02  # m
E_THRESHOLDS = {"tumour": (40e3, 80e3), "liver": (46e3, 70e3)}  # V/m (E_rev, E_irr)
SIGMA0 = {"tumour": 0.3, "liver": 0.07}  # S/m


def _potential(points, voltage, reverse):
    s = points[:, 0] / SIZE + 0.5  # 0 on xmin, 1 on xmax
    if reverse:
        s = 1.0 - s
    bump = np.sin(np.pi * s) * np.cos(np.pi * points[:, 1] / SIZE) * np.cos(
        np.pi * points[:, 2] / SIZE
    )
    return voltage * (s + 0.35 * bump)


def _gradients(points, cells, phi):
    """(n_cells, 3) P1 gradient of a nodal field."""
    x = points[cells]
    jac = x[:, 1:] - x[:, :1]  # (n, 3, 3), rows are edge vectors
    dphi = phi[cells][:, 1:] - phi[cells][:, :1]
    return np.linalg.solve(jac, dphi[..., None])[..., 0]


def make_results(name="synthetic run", n=6):
    mesh = structured_box_mesh((SIZE, SIZE, SIZE), n)
    points = np.asarray(mesh.points, dtype=np.float64)
    cells = np.asarray(mesh.cells)
    centroid = points[cells].mean(axis=1)
    cell_region = (np.max(np.abs(centroid), axis=1) < 0.17 * SIZE).astype(np.int32)
    region_names = ("liver", "tumour")

    pairs = [("xmax", "xmin", 750.0, False), ("xmin", "xmax", 600.0, True)]
    potential = np.stack([_potential(points, v, rev) for _, _, v, rev in pairs])
    e_mag = np.stack([np.linalg.norm(_gradients(points, cells, phi), axis=1) for phi in potential])
    sigma0 = np.array([SIGMA0[r] for r in region_names])[cell_region]
    sigma = sigma0 * (1.0 + 2.0 / (1.0 + np.exp(-(e_mag - 50e3) / 8e3)))
    e_max = e_mag.max(axis=0)

    x = points[cells]
    volumes = np.abs(np.linalg.det(x[:, 1:] - x[:, :1])) / 6.0
    metrics = []
    for k, region in enumerate(region_names):
        mask = cell_region == k
        w, e = volumes[mask], e_max[mask]
        e_rev, e_irr = E_THRESHOLDS[region]
        metrics.append(RegionMetrics(
            name=region, material=region, role="target" if region == "tumour" else "tissue",
            volume=float(w.sum()), e_rev=e_rev, e_irr=e_irr,
            fraction_rev=float(w[e >= e_rev].sum() / w.sum()),
            fraction_irr=float(w[e >= e_irr].sum() / w.sum()),
            e_max_mean=float((w * e).sum() / w.sum()), e_max_max=float(e.max()),
        ))
    perm = 1.0 / (1.0 + np.exp(-(e_max - 45e3) / 5e3))
    return Results(
        points=points,
        cells=cells,
        cell_region=cell_region,
        region_names=region_names,
        region_materials=region_names,
        potential=potential,
        e_mag=e_mag,
        sigma=sigma,
        e_max=e_max,
        anode=tuple(p[0] for p in pairs),
        cathode=tuple(p[1] for p in pairs),
        voltage=np.array([p[2] for p in pairs]),
        current=np.array([2.5, 1.9]),
        converged=np.array([True, True]),
        iterations=np.array([5, 6]),
        linear_iterations=np.array([41, 44]),
        metrics=tuple(metrics),
        electrode_facets={"xmin": np.asarray(mesh.facets["xmin"]),
                          "xmax": np.asarray(mesh.facets["xmax"])},
        config_yaml="name: synthetic run\nnote: pulses of 100 µs\nvoltage: 1000 V\n",
        name=name,
        extra_fields={"permeabilisation": perm, "survival": 1.0 - 0.9 * perm},
    )
