"""Label maps of 64^3, 128^3 and 256^3 voxels meshed by `epsim.imaging.mesher.mesh_image`:
wall time (goal: 128^3 under 60 s on the project's 2-core machine), cells, quality, and the
tumour and vessel volumes against the analytic shapes the labels were rasterised from.

    python benchmarks/bench_image_mesh.py [--sizes 64 128 256]

The anatomy (tests/helpers/label_maps.py): a liver ellipsoid with a tumour ball and a vessel
tube, scaled with the grid so that every map covers the same 100 mm box (voxels of
100/n mm), oblique affine; two needles through the tumour; mesh size 6 mm, tumour 1 mm,
electrodes 0.4 mm. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from epsim.imaging.mesher import ImageLabel, ImageScene, mesh_image  # noqa: E402
from epsim.mesh.quality import quality_report  # noqa: E402
from epsim.mesh.scene import Box, MeshSizes, Needle  # noqa: E402
from epsim.mesh.tetmesh import signed_volumes  # noqa: E402
from tests.helpers.label_maps import LIVER, TUMOUR, VESSEL, sphere_tube_labels  # noqa: E402

EXTENT_MM = 100.0
CROP_MM = 80.0


def case(n: int):
    image, shapes = sphere_tube_labels(n=n, spacing=EXTENT_MM / n, centre=(0.0, 0.0, 0.0),
                                       tumour_radius=12.0, vessel_radius=4.0)
    crop = Box(center=(0.0, 0.0, 0.0), size=(CROP_MM * 1e-3,) * 3, material="fat")
    table = (ImageLabel(LIVER, "liver", "liver"),
             ImageLabel(TUMOUR, "tumour", "tumour", mesh_size=1e-3),
             ImageLabel(VESSEL, "vessel", "blood", keep_out=True))
    t = shapes.tumour_centre * 1e-3
    needles = [Needle(f"n{k}", tip=tuple(t + [dx, 0, -0.012]), entry=tuple(t + [dx, 0, 0.05]),
                      radius=6e-4, active_length=0.02) for k, dx in enumerate((-5e-3, 5e-3))]
    return ImageScene(image, table, crop), shapes, needles


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    args = parser.parse_args(argv)
    print("| voxels | wall s | cells | tumour vol. error | vessel vol. error | min radius ratio |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        scene, shapes, needles = case(n)
        start = time.perf_counter()
        mesh = mesh_image(scene, needles, MeshSizes(size=6e-3, electrode_size=4e-4))
        wall = time.perf_counter() - start
        volumes = signed_volumes(np.asarray(mesh.points), mesh.cells) * 1e9
        tumour = volumes[mesh.cell_region == mesh.region_id("tumour")].sum()
        vessel = volumes[mesh.cell_region == mesh.region_id("vessel")].sum()
        report = quality_report(mesh)
        print(f"| {n}^3 | {wall:.1f} | {mesh.n_cells} | "
              f"{100 * (tumour / shapes.tumour_volume - 1):+.2f} % | "
              f"{100 * (vessel / shapes.vessel_volume(CROP_MM) - 1):+.2f} % | "
              f"{report.min_ratio:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
