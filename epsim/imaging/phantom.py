"""An abdomen-like analytic phantom on an oblique voxel grid, as NIfTI and as DICOM CT + RTSTRUCT.

The anatomy (`PhantomShapes`, world RAS+ mm) lies the way epsim's analytic scenes do, skin on
top (+z): an axis-aligned body box (`crop_center`, `crop_size`) whose top face is the skin
surface, skin and fat layers under it, muscle below, an axis-aligned liver ellipsoid, a
spherical tumour in the liver and a straight vessel tube with flat ends through the liver beside
the tumour. Overlaps are resolved in that order, the later shape winning (as in epsim scenes), so
the tumour and the vessel keep their analytic volumes. Above the skin is air, label 0: the grid
is rotated about an oblique axis and covers the body box with a margin, so its corners reach out
of the body; a scene crops to the body box.

Every shape is a quadric (x - c)^T G (x - c) <= 1 (none for the layers) cut by half-spaces
n.x <= e, so the labels at voxel centres (`phantom_labels`) and the contours on each slice plane
(`slice_contours`, ellipses sampled finely enough that a chord strays less than `SAGITTA` voxels
from the curve, clipped by the half-planes) come from one description.

Command line: python -m epsim.imaging.phantom OUT_DIR [--voxel 1.0] [--format nifti|dicom|both]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from epsim.errors import InputError
from epsim.imaging.files import write_atomically
from epsim.imaging.labelmap import LabelImage

LABELS = {"skin": 1, "fat": 2, "muscle": 3, "liver": 4, "tumour": 5, "vessel": 6}
HOUNSFIELD = {0: -1000, 1: 30, 2: -100, 3: 50, 4: 60, 5: 40, 6: 160}  # CT numbers written
SAGITTA = 0.01  # voxels: the most a contour chord strays inside its ellipse


@dataclass(frozen=True)
class PhantomShapes:
    """The analytic anatomy, world RAS+ mm. Defaults: a 60 x 60 x 44 mm body box."""

    crop_center: tuple[float, float, float] = (12.0, -40.0, 95.0)
    crop_size: tuple[float, float, float] = (60.0, 60.0, 44.0)
    skin_thickness: float = 2.0
    fat_thickness: float = 6.0
    liver_center: tuple[float, float, float] = (12.0, -40.0, 89.0)
    liver_radii: tuple[float, float, float] = (25.0, 22.0, 12.0)
    tumour_center: tuple[float, float, float] = (17.0, -36.0, 90.0)
    tumour_radius: float = 8.0
    vessel_start: tuple[float, float, float] = (-14.0, -52.0, 85.0)
    vessel_end: tuple[float, float, float] = (38.0, -49.0, 90.0)
    vessel_radius: float = 3.0

    @property
    def skin_top(self) -> float:
        """z (mm) of the skin surface, the body box's top face."""
        return self.crop_center[2] + self.crop_size[2] / 2

    @property
    def tumour_volume(self) -> float:
        """mm^3, 4/3 pi r^3."""
        return 4.0 / 3.0 * np.pi * self.tumour_radius**3

    @property
    def vessel_volume(self) -> float:
        """mm^3, pi r^2 L (flat ends)."""
        length = np.linalg.norm(np.subtract(self.vessel_end, self.vessel_start))
        return float(np.pi * self.vessel_radius**2 * length)

    def regions(self) -> list[tuple[int, np.ndarray | None, np.ndarray | None, list]]:
        """(label, G, c, [(n, e), ...]) per shape in painting order: inside when
        (x - c)^T G (x - c) <= 1 (no quadric when G is None) and n.x <= e for every half-space."""
        up = np.array([0.0, 0.0, 1.0])
        top = self.skin_top
        skin_bottom, fat_bottom = (
            top - self.skin_thickness,
            top - self.skin_thickness - self.fat_thickness,
        )
        start, end = np.asarray(self.vessel_start, float), np.asarray(self.vessel_end, float)
        axis = (end - start) / np.linalg.norm(end - start)
        return [
            (LABELS["muscle"], None, None, [(up, fat_bottom)]),
            (LABELS["fat"], None, None, [(up, skin_bottom), (-up, -fat_bottom)]),
            (LABELS["skin"], None, None, [(up, top), (-up, -skin_bottom)]),
            (
                LABELS["liver"],
                np.diag(1.0 / np.square(self.liver_radii)),
                np.asarray(self.liver_center, float),
                [],
            ),
            (
                LABELS["tumour"],
                np.eye(3) / self.tumour_radius**2,
                np.asarray(self.tumour_center, float),
                [],
            ),
            (
                LABELS["vessel"],
                (np.eye(3) - np.outer(axis, axis)) / self.vessel_radius**2,
                start,
                [(-axis, -axis @ start), (axis, axis @ end)],
            ),
        ]


def rotation(axis, angle_deg: float) -> np.ndarray:
    """(3, 3) rotation by `angle_deg` about `axis` (Rodrigues)."""
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    a = np.deg2rad(angle_deg)
    return np.eye(3) + np.sin(a) * cross + (1 - np.cos(a)) * cross @ cross


def phantom_grid(
    shapes: PhantomShapes, voxel=1.0, *, axis=(0.3, -0.5, 0.8), angle_deg=20.0, margin_mm=2.0
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(affine (4, 4) RAS+ mm, shape) of a grid rotated by `angle_deg` about `axis`, with
    spacing `voxel` (mm, one or three numbers), covering the body box with `margin_mm` to spare."""
    spacing = np.broadcast_to(np.asarray(voxel, float), (3,))
    if not np.all(spacing > 0):
        raise InputError(f"voxel sizes must be positive (mm), got {spacing.tolist()}")
    turn = rotation(axis, angle_deg)
    corners = np.array(np.meshgrid(*[[-0.5, 0.5]] * 3, indexing="ij")).reshape(3, -1).T
    reach = np.abs(corners * shapes.crop_size @ turn).max(axis=0) + margin_mm  # half extents
    shape = tuple(int(n) for n in 2 * np.ceil(reach / spacing) + 1)
    affine = np.eye(4)
    affine[:3, :3] = turn * spacing
    affine[:3, 3] = np.asarray(shapes.crop_center) - affine[:3, :3] @ ((np.array(shape) - 1) / 2)
    return affine, shape


def phantom_labels(shapes: PhantomShapes, affine: np.ndarray, shape) -> LabelImage:
    """The phantom's labels at the voxel centres of a grid (air 0 above the skin)."""
    labels = np.zeros(shape, dtype=np.uint8)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    for label, quadric, centre, halves in shapes.regions():
        inside = np.ones(shape, dtype=bool)
        if quadric is not None:
            d = world - centre
            inside &= np.einsum("...a,ab,...b->...", d, quadric, d) <= 1.0
        for normal, offset in halves:
            inside &= world @ normal <= offset
        labels[inside] = label
    return LabelImage(labels, affine, source="phantom")


def slice_contours(shapes: PhantomShapes, affine: np.ndarray, shape, k: int) -> dict[int, list]:
    """label -> polygons (each (n, 2), voxel indices (i, j)) of the shapes on slice k, clipped
    to the slice's pixel rectangle."""
    plane, origin = affine[:3, :2], affine[:3, 2] * k + affine[:3, 3]  # world = plane u + origin
    box = np.array(
        [
            [-0.5, -0.5],
            [shape[0] - 0.5, -0.5],
            [shape[0] - 0.5, shape[1] - 0.5],
            [-0.5, shape[1] - 0.5],
        ]
    )
    out = {}
    for label, quadric, centre, halves in shapes.regions():
        polygon = box if quadric is None else ellipse(plane, origin - centre, quadric)
        for normal, offset in halves:
            polygon = clip(polygon, plane.T @ normal, offset - normal @ origin)
        for normal, offset in box_halves(shape):
            polygon = clip(polygon, normal, offset)
        if len(polygon) >= 3:
            out.setdefault(label, []).append(polygon)
    return out


def ellipse(plane: np.ndarray, offset: np.ndarray, quadric: np.ndarray) -> np.ndarray:
    """Polygon (n, 2) inscribed in {u: (plane u + offset)^T G (plane u + offset) <= 1}, or an
    empty (0, 2) array where the plane misses the quadric."""
    m, b = plane.T @ quadric @ plane, plane.T @ quadric @ offset
    if np.linalg.eigvalsh(m).min() <= 1e-12:
        raise InputError("a phantom shape's axis lies in a slice plane; choose another rotation")
    centre = -np.linalg.solve(m, b)
    height = 1.0 - (offset @ quadric @ offset - b @ np.linalg.solve(m, b))
    if height <= 0:
        return np.zeros((0, 2))
    values, vectors = np.linalg.eigh(m)
    semi = np.sqrt(height / values)
    n = max(24, int(np.ceil(np.pi * np.sqrt(semi.max() / (2 * SAGITTA)))))
    angle = 2 * np.pi * np.arange(n) / n
    return centre + (np.stack([np.cos(angle), np.sin(angle)], 1) * semi) @ vectors.T


def box_halves(shape):
    return [
        (np.array([-1.0, 0]), 0.5),
        (np.array([1.0, 0]), shape[0] - 0.5),
        (np.array([0, -1.0]), 0.5),
        (np.array([0, 1.0]), shape[1] - 0.5),
    ]


def clip(polygon: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """The part of a convex polygon (n, 2) where normal . u <= offset (Sutherland-Hodgman)."""
    if len(polygon) == 0:
        return polygon
    side = polygon @ normal - offset
    out = []
    for a, b, sa, sb in zip(polygon, np.roll(polygon, -1, 0), side, np.roll(side, -1)):
        if sa <= 0:
            out.append(a)
        if (sa <= 0) != (sb <= 0):
            out.append(a + (b - a) * sa / (sa - sb))
    return np.array(out).reshape(-1, 2)


def make_phantom(
    voxel=1.0, shapes: PhantomShapes | None = None, **grid
) -> tuple[PhantomShapes, LabelImage]:
    """The default (or given) anatomy voxelised on its oblique grid (`phantom_grid` options)."""
    shapes = shapes or PhantomShapes()
    affine, shape = phantom_grid(shapes, voxel, **grid)
    return shapes, phantom_labels(shapes, affine, shape)


def write_phantom(out_dir, voxel=1.0, fmt: str = "both", *, overwrite: bool = False) -> list[Path]:
    """Write the phantom to `out_dir`: labels.nii.gz (nifti), ct/ and rtstruct.dcm (dicom), and
    phantom.json (the analytic shapes and labels) always. Returns the paths written.

    Raises:
        InputError: a file to write exists already (and not `overwrite`), a bad format.
    """
    from epsim.imaging.dicom_write import write_ct_series, write_rtstruct
    from epsim.imaging.nifti import write_nifti

    if fmt not in ("nifti", "dicom", "both"):
        raise InputError(f"format must be nifti, dicom or both, got {fmt!r}")
    out = Path(out_dir)
    shapes, image = make_phantom(voxel)
    names = {
        "json": out / "phantom.json",
        "nifti": out / "labels.nii.gz",
        "ct": out / "ct",
        "rtstruct": out / "rtstruct.dcm",
    }
    wanted = (
        ["json"]
        + (["nifti"] if fmt != "dicom" else [])
        + (["ct", "rtstruct"] if fmt != "nifti" else [])
    )
    clash = [str(names[w]) for w in wanted if names[w].exists()]
    if clash and not overwrite:
        raise InputError(f"{clash[0]} exists; the phantom writes only new files (--overwrite)")
    out.mkdir(parents=True, exist_ok=True)
    if "ct" in wanted:  # an earlier phantom's slices would join the series
        for stale in names["ct"].glob("CT_*.dcm"):
            stale.unlink()
    written = []
    if "nifti" in wanted:
        written.append(
            write_nifti(names["nifti"], image.labels, image, description="epsim phantom")
        )
    if "ct" in wanted:
        series = write_ct_series(names["ct"], image, HOUNSFIELD)
        contours = [
            slice_contours(shapes, image.affine, image.labels.shape, k)
            for k in range(image.labels.shape[2])
        ]
        written += series.paths
        written.append(write_rtstruct(names["rtstruct"], series, image, contours, LABELS))
    description = {
        "shapes": asdict(shapes),
        "labels": LABELS,
        "affine": image.affine.tolist(),
        "shape": list(image.labels.shape),
        "units": "mm, RAS+",
        "tumour_volume_mm3": shapes.tumour_volume,
        "vessel_volume_mm3": shapes.vessel_volume,
    }
    text = json.dumps(description, indent=1) + "\n"
    write_atomically(names["json"], lambda temporary: temporary.write_text(text))
    return [names["json"]] + written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m epsim.imaging.phantom", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out_dir")
    parser.add_argument("--voxel", type=float, nargs="+", default=[1.0], help="mm, one or three")
    parser.add_argument("--format", choices=("nifti", "dicom", "both"), default="both")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier phantom")
    args = parser.parse_args(argv)
    if len(args.voxel) not in (1, 3):
        parser.error("--voxel takes one or three sizes (mm)")
    try:
        paths = write_phantom(args.out_dir, args.voxel, args.format, overwrite=args.overwrite)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {len(paths)} files to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
