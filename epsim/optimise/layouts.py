"""Starting layouts for a given number of needles, from the target's shape.

    frame = target_frame(distance, lo, hi, direction)     # centre, principal axes, semi-axes
    offsets = ring_offsets(n, frame.semi, spread)         # (n, 2) in the frame's plane
    lines = needle_lines(frame, offsets, distance, exit_point, active_lengths)

The target (its signed distance, a JAX function) is sampled on a grid over the domain's box;
its centroid and the principal axes of its cross-section perpendicular to the insertion
direction give an ellipse with semi-axes a_k = sqrt(5 lambda_k) (lambda_k the variances of the
sampled points along the axes: a uniform solid ellipsoid's variance along a semi-axis a is
a^2 / 5, and projecting onto a plane keeps it). Needles are parallel to the insertion direction:

- ring: n needles evenly spaced in angle on the ellipse scaled by `spread` (clinical layouts put
  the needles inside the tumour near its rim); from 7 needles on, n - 1 on the ring and one at
  the centre, so that the centre is not left to needles 2 x spread x a apart;
- grid: a rows x columns grid over the same scaled ellipse's bounding rectangle, the columns
  along the longer axis, the n points nearest the centre;
- a guide template snaps the offsets to a square grid of its pitch (aligned with the frame).

Each needle's conducting part is centred on the target's chord along its line, with the
shortest listed active length that spans the longest chord (else the longest listed); the tip
is half that length below the chord's middle and the entry is where the line leaves the domain.
Host numpy over jitted JAX distances (`host_function`); metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import numpy as np

GRID_POINTS = 48
"""Samples per side of the grid over the domain that locates the target."""


def host_function(f, rows: int = 16384):
    """`f` (JAX, of arrays (m, 3) row by row) as a numpy function of arrays (..., 3): evaluated
    through one jit in chunks of `rows` rows, padded, so that every call shape shares one
    compilation (eager JAX compiles every operation for every new shape)."""
    jitted = jax.jit(f)

    def call(*arrays):
        lead = np.shape(arrays[0])[:-1]
        flat = [np.asarray(a, dtype=float).reshape(-1, 3) for a in arrays]
        out = []
        for k in range(0, len(flat[0]), rows):
            part = [a[k:k + rows] for a in flat]
            padded = [np.pad(a, ((0, rows - len(a)), (0, 0)), mode="edge") for a in part]
            out.append(np.asarray(jitted(*padded))[:len(part[0])])
        result = np.concatenate(out)
        return result.reshape(lead + result.shape[1:])

    return call


@dataclass(frozen=True)
class TargetFrame:
    """The target seen along the insertion direction.

    Attributes:
        centre (3,) m: the target's centroid; direction (3,): unit, towards the entry side;
        u, v (3,): unit principal axes of the cross-section (u the longer); semi (2,) m: its
        semi-axes along u and v.
    """

    centre: np.ndarray
    direction: np.ndarray
    u: np.ndarray
    v: np.ndarray
    semi: np.ndarray


def target_samples(distance, lo, hi, n: int = GRID_POINTS) -> np.ndarray:
    """(m, 3) grid points (n per side over the box lo-hi) inside the target (distance <= 0)."""
    axes = [np.linspace(a, b, n) for a, b in zip(lo, hi)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid[np.asarray(distance(grid)) <= 0.0]


def insertion_direction(centre, lo, hi, entry_centre=None) -> np.ndarray:
    """Unit vector from the target towards the entry region's centre, or else towards the
    nearest face of the domain box lo-hi (the shortest way in; of equally near faces the last
    positive one)."""
    centre = np.asarray(centre, dtype=float)
    if entry_centre is not None:
        d = np.asarray(entry_centre, dtype=float) - centre
        return d / np.linalg.norm(d)
    gaps = np.concatenate([centre - np.asarray(lo), np.asarray(hi) - centre])
    k = 5 - int(np.argmin(gaps[::-1]))  # ties: the positive face (+z: from above)
    d = np.zeros(3)
    d[k % 3] = -1.0 if k < 3 else 1.0
    return d


def target_frame(points: np.ndarray, direction) -> TargetFrame:
    """The frame of the target sampled at `points` (m, 3) seen along `direction`."""
    d = np.asarray(direction, dtype=float)
    d = d / np.linalg.norm(d)
    centre = points.mean(axis=0)
    reference = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = reference - reference @ d * d
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(d, e1)
    plane = np.stack([(points - centre) @ e1, (points - centre) @ e2], axis=1)
    variance, vectors = np.linalg.eigh(np.cov(plane.T))
    order = np.argsort(variance)[::-1]
    variance, vectors = variance[order], vectors[:, order]
    u = vectors[0, 0] * e1 + vectors[1, 0] * e2
    v = np.cross(d, u)
    return TargetFrame(centre, d, u, v, np.sqrt(5.0 * np.maximum(variance, 0.0)))


def ring_offsets(n: int, semi, spread: float) -> np.ndarray:
    """(n, 2) offsets along (u, v): n on the scaled ellipse, or n - 1 and the centre (n >= 7)."""
    a, b = spread * np.asarray(semi, dtype=float)
    ring = n - 1 if n >= 7 else n
    angle = 2.0 * np.pi * np.arange(ring) / ring
    out = np.stack([a * np.cos(angle), b * np.sin(angle)], axis=1)
    return np.vstack([out, np.zeros((1, 2))]) if ring < n else out


def grid_offsets(n: int, semi, spread: float) -> np.ndarray:
    """(n, 2) offsets: the n points nearest the centre of a grid over the scaled ellipse's
    bounding rectangle (columns along u, rows along v, spacing as even as the shape allows)."""
    a, b = spread * np.asarray(semi, dtype=float)
    cols = max(1, min(n, round(math.sqrt(n * a / max(b, 1e-12)))))
    rows = math.ceil(n / cols)
    xs = np.linspace(-a, a, cols) if cols > 1 else np.zeros(1)
    ys = np.linspace(-b, b, rows) if rows > 1 else np.zeros(1)
    grid = np.array([(x, y) for y in ys for x in xs])
    order = np.argsort(np.hypot(grid[:, 0], grid[:, 1]), kind="stable")
    return grid[np.sort(order[:n])]


def snap(offsets: np.ndarray, pitch: float) -> np.ndarray:
    """Offsets moved to the nearest holes of a square guide grid of `pitch` (one hole on the
    target's axis); two needles that land in one hole move to the nearest free one."""
    taken, out = set(), []
    for p in np.asarray(offsets, dtype=float):
        hole = tuple(np.round(p / pitch).astype(int))
        ring = [(hole[0] + i, hole[1] + j) for i in range(-3, 4) for j in range(-3, 4)]
        ring.sort(key=lambda h: (np.hypot(h[0] * pitch - p[0], h[1] * pitch - p[1]), h))
        hole = next(h for h in ring if h not in taken)
        taken.add(hole)
        out.append(np.array(hole, dtype=float) * pitch)
    return np.array(out)


def fit_offsets(offsets: np.ndarray, frame: TargetFrame, exit_point, entry_centre, radius: float,
                fraction: float = 0.9) -> np.ndarray:
    """Offsets shrunk (never grown) until every needle's entry lies within `fraction` of the
    entry region's radius from its centre."""
    out = np.asarray(offsets, dtype=float)
    for _ in range(4):
        lines = frame.centre + out[:, :1] * frame.u + out[:, 1:] * frame.v
        exits = np.asarray(exit_point(lines, np.broadcast_to(frame.direction, lines.shape)))
        miss = np.linalg.norm(exits - np.asarray(entry_centre), axis=1).max()
        if miss <= fraction * radius:
            break
        out = out * (fraction * radius / miss) * 0.999
    return out


def chords(distance, frame: TargetFrame, offsets: np.ndarray, reach: float,
           samples: int = 801) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) (n,) m along the direction from the frame's plane: where each needle line
    is inside the target (start = end = 0 where it misses the target)."""
    t = np.linspace(-reach, reach, samples)
    lines = frame.centre + offsets[:, :1] * frame.u + offsets[:, 1:] * frame.v
    points = lines[:, None, :] + t[None, :, None] * frame.direction
    inside = np.asarray(distance(points)) <= 0.0
    start = np.where(inside.any(axis=1), np.where(inside, t, np.inf).min(axis=1), 0.0)
    end = np.where(inside.any(axis=1), np.where(inside, t, -np.inf).max(axis=1), 0.0)
    return start, end


def needle_lines(frame: TargetFrame, offsets: np.ndarray, distance, exit_point,
                 active_lengths, reach: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Tips (n, 3), entries (n, 3) and the active length of needles at `offsets` (module doc).
    `reach`: m, how far along the direction the target can extend from its centre."""
    start, end = chords(distance, frame, offsets, reach)
    longest = float(np.max(end - start))
    choices = sorted(float(x) for x in active_lengths)
    length = next((x for x in choices if x >= longest), choices[-1])
    lines = frame.centre + offsets[:, :1] * frame.u + offsets[:, 1:] * frame.v
    middle = 0.5 * (start + end)
    tips = lines + (middle - 0.5 * length)[:, None] * frame.direction
    entries = np.asarray(exit_point(tips, np.broadcast_to(frame.direction, tips.shape)))
    return tips, entries, length


__all__ = [
    "TargetFrame", "chords", "fit_offsets", "grid_offsets", "host_function", "insertion_direction",
    "needle_lines", "ring_offsets", "snap", "target_frame", "target_samples",
]
