"""STL structures: closed triangulated surfaces read from files, and the inclusion they bound.

`read_stl` reads ASCII or binary STL (cached per file, modification time and scale) and checks
that the surface is closed and consistently oriented; `StlInclusion` is the inside of such a
surface, with a signed distance from the winding number and the nearest triangle (pure numpy).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from epsim.errors import MeshError
from epsim.mesh.scene.geometry import positive_length, set_fields
from epsim.mesh.scene.shapes import InclusionOptions


@dataclass(frozen=True)
class StlInclusion(InclusionOptions):
    """The inside of a closed, consistently oriented triangulated surface read from an STL file
    (ASCII or binary); coordinates in the file times `scale` are metres.

    Each triangle becomes a face of the model, so the mesh is never coarser than the file's
    triangles there; keep the file to a few thousand triangles.
    """

    name: str
    file: Path
    material: str
    scale: float = 1.0

    def __post_init__(self):
        scale = positive_length(self.scale, f"inclusion {self.name!r} scale")
        set_fields(self, file=Path(self.file), scale=scale)
        self.check_options()

    def surface(self) -> tuple[np.ndarray, np.ndarray]:
        """Vertices (n, 3) in metres and triangles (m, 3) (vertex indices), read-only.

        Raises:
            MeshError: the file is missing or unreadable, or the surface is not closed.
        """
        return read_stl(self.file, self.scale)

    def signed_distance(self, point) -> float:
        """Signed distance (m) from `point` (3,), negative inside (inside: by the winding
        number)."""
        vertices, triangles = self.surface()
        tri = vertices[triangles] - np.asarray(point)
        return _triangles_distance(tri) * (-1.0 if _winding_number(tri) > 0.5 else 1.0)


def read_stl(file, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Read a closed triangulated surface from an ASCII or binary STL file.

    Args:
        file: path of the STL file.
        scale: metres per file unit.
    Returns:
        vertices (n, 3) float64 in metres (duplicates merged) and triangles (m, 3) int64, both
        read-only (cached per file, modification time and scale).
    Raises:
        MeshError: a missing or unreadable file, or a surface that is not closed and consistently
            oriented (every edge shared by exactly two triangles, traversed once each way).
    """
    path = Path(file)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise MeshError(f"cannot read the STL file {str(path)!r}: {exc}") from exc
    return _read_stl_cached(str(path.resolve()), stamp, float(scale))


@functools.lru_cache(maxsize=16)
def _read_stl_cached(path: str, stamp: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    data = Path(path).read_bytes()
    count = int.from_bytes(data[80:84], "little") if len(data) >= 84 else -1
    if len(data) == 84 + 50 * count:  # binary: header, count, 50-byte records
        record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
        corners = np.frombuffer(data, record, count, offset=84)["corners"].astype(np.float64)
    else:
        text = data.decode("ascii", errors="replace")
        found = re.findall(r"vertex\s+(\S+)\s+(\S+)\s+(\S+)", text)
        try:
            corners = np.asarray(found, dtype=np.float64).reshape(-1, 3, 3)
        except ValueError as exc:
            raise MeshError(f"{path!r} is not a readable STL file: {exc}") from exc
    if len(corners) == 0 or not np.all(np.isfinite(corners)):
        raise MeshError(f"{path!r} holds no triangles (or non-finite coordinates)")
    vertices, triangles = np.unique(corners.reshape(-1, 3), axis=0, return_inverse=True)
    triangles = triangles.reshape(-1, 3).astype(np.int64)
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    key, back = edges @ [len(vertices), 1], edges @ [1, len(vertices)]
    degenerate = np.any(triangles == np.roll(triangles, 1, axis=1))
    if degenerate or len(np.unique(key)) != len(key) or np.any(np.sort(key) != np.sort(back)):
        raise MeshError(
            f"{path!r}: the surface is not closed and consistently oriented (every edge must be "
            "shared by exactly two triangles, traversed once each way)"
        )
    vertices = vertices * scale
    vertices.flags.writeable = triangles.flags.writeable = False
    return vertices, triangles


def _triangles_distance(tri: np.ndarray) -> float:
    """Distance from the origin to the nearest of the triangles `tri` (m, 3, 3)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    n = np.cross(b - a, c - a)
    n = n / np.linalg.norm(n, axis=1, keepdims=True)
    height = np.einsum("ij,ij->i", a, n)
    foot = height[:, None] * n  # projection of the origin onto each plane
    inside = np.ones(len(tri), dtype=bool)
    for p, q in ((a, b), (b, c), (c, a)):
        inside &= np.einsum("ij,ij->i", np.cross(q - p, foot - p), n) >= 0.0
    best = np.where(inside, np.abs(height), np.inf)
    for p, q in ((a, b), (b, c), (c, a)):
        d = q - p
        t = np.clip(-np.einsum("ij,ij->i", p, d) / np.einsum("ij,ij->i", d, d), 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(p + t[:, None] * d, axis=1))
    return float(best.min())


def _winding_number(tri: np.ndarray) -> float:
    """|Winding number| of the closed triangle surface `tri` (m, 3, 3) around the origin
    (1 inside, 0 outside), from the solid angles (Van Oosterom and Strackee 1983)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
    dot = lambda x, y: np.einsum("ij,ij->i", x, y)  # noqa: E731
    numerator = dot(a, np.cross(b, c))
    denominator = la * lb * lc + dot(a, b) * lc + dot(a, c) * lb + dot(b, c) * la
    return abs(float(np.sum(2.0 * np.arctan2(numerator, denominator)))) / (4.0 * math.pi)
