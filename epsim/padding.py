"""Shape-stable solver programs: a prepared problem padded up to a capacity of size buckets.

Every array shape of a `Problem` (nodes, cells, the edge slots of the stiffness pattern, its
overflow, the electrode nodes, each AMG level's matrices with their ELL widths and overflow
tails, the transfer operators and the dense coarsest inverse) is part of a compiled program's
key, so each new mesh cost a JAX compilation (4-9 s for a Newton solve) that dwarfed the solve.
Padded to a `Capacity`, meshes of similar size share one program: in this process (jit cache)
and across processes (the persistent compilation cache; the capacities handed out are kept in a
small JSON file beside it, so a later process picks the same one).

The padding is inert and leaves the arithmetic of the real entries unchanged but for the order
of reductions (dot products, the dense coarse product), so answers equal the unpadded ones to
the solver's tolerance, 1e-15 at Newton rtol 1e-13 (tests/test_padding.py):
- padded nodes are fixed at 0 V (identity rows, zero right-hand side; `Problem.inert`);
- padded cells all sit on four padded "anchor" nodes placed at the unit right-angled
  tetrahedron (0, e_x, e_y, e_z), whose basis gradients are unit vectors: its three edges
  between the non-origin corners have exactly zero coupling, and every padded edge-slot entry
  reads one of them, so real edges add exact zeros (the potential there is 0, so the tangent
  term of those cells is zero too);
- matrices gain zero ELL slots after the real ones (y + 0 x is y), identity rows on padded
  unknowns of each AMG level, zero rows in the transfer operators, zero overflow entries at the
  last padded row, and the coarse inverse an identity block.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from epsim.fem.assembly import StiffnessPattern
from epsim.fem.sparse import HybMatrix, hyb_from_scipy, hyb_to_scipy
from epsim.simulate import Fields, Problem
from epsim.solve.amg import AmgLevel, AmgPreconditioner, JacobiPreconditioner
from epsim.solve.lumped import LumpedCoupling

RATIO = 2 ** 0.25  # bucket growth: at most ~19 % padding from rounding up
FLOOR = 16  # smallest bucket
HEADROOM = 1.05  # a new capacity leaves 5 % room, so a slightly larger mesh fits it
MAX_WASTE = 1.6  # a capacity serves meshes with at least 1 / MAX_WASTE of its nodes and cells
ANCHORS = 4  # padded nodes under the padded cells
ZERO_EDGE = 3  # local edge (1, 2) of the anchor tetrahedron: coupling exactly 0
SPARE_SLOTS = 4  # a similar mesh's busiest edge has a few more cells (measured: 2 more)
REGISTRY = "epsim-capacities.json"


def bucket(n: int) -> int:
    """Smallest size >= n on the grid FLOOR, then each previous size times RATIO rounded up to a
    multiple of 8: monotone, idempotent, at most RATIO * n + 8 for n > FLOOR."""
    size = FLOOR
    while size < n:
        size = 8 * math.ceil(size * RATIO / 8)
    return size


class Capacity(NamedTuple):
    """Array sizes of a padded problem (or, from `demand`, of an unpadded one).

    Attributes:
        nodes, cells: mesh sizes.
        slots: length of each edge slot of the stiffness pattern (slot 0: the edges).
        overflow: stiffness-pattern overflow entries.
        electrode_nodes: nodes on electrodes, all electrodes together.
        levels: per AMG level but the coarsest, (rows, then ELL width and overflow length of
            A, of the prolongation P and of the restriction P^T); () for Jacobi.
        coarse: unknowns of the coarsest level (0 for Jacobi).
    """

    nodes: int
    cells: int
    slots: tuple[int, ...]
    overflow: int
    electrode_nodes: int
    levels: tuple[tuple[int, ...], ...]
    coarse: int

    def as_list(self) -> list:
        """Plain lists and ints (JSON, checkpoints)."""
        return [self.nodes, self.cells, list(self.slots), self.overflow, self.electrode_nodes,
                [list(lv) for lv in self.levels], self.coarse]

    @classmethod
    def from_list(cls, row) -> "Capacity":
        """The inverse of `as_list`."""
        return cls(int(row[0]), int(row[1]), tuple(map(int, row[2])), int(row[3]), int(row[4]),
                   tuple(tuple(map(int, lv)) for lv in row[5]), int(row[6]))


def _row_lengths(a: HybMatrix) -> np.ndarray:
    return np.diff(hyb_to_scipy(a).indptr)


def _hyb_sizes(a: HybMatrix, width: int | None = None) -> tuple[int, int]:
    """(ELL width, overflow length) of `a`, or of `a` re-split at a narrower `width` (the rows'
    entries beyond it move to the overflow)."""
    natural, overflow = int(np.shape(a.ell_cols)[0]), int(np.shape(a.ovf_rows)[0])
    if width is None or width >= natural:
        return natural, overflow
    return width, int(np.maximum(_row_lengths(a) - width, 0).sum())


def demand(problem: Problem, widths: Capacity | None = None) -> Capacity:
    """The sizes of an unpadded problem; with `widths`, those of its AMG matrices re-split at
    that capacity's ELL widths where they are wider (same number of levels required)."""
    pattern, amg = problem.pattern, problem.precondition
    levels, coarse = (), 0
    if isinstance(amg, AmgPreconditioner):
        caps = widths.levels if widths and len(widths.levels) == len(amg.levels) else None
        for k, lv in enumerate(amg.levels):
            w = caps[k] if caps else (None,) * 7
            levels += ((lv.a.n_rows, *_hyb_sizes(lv.a, w[1]), *_hyb_sizes(lv.prolong, w[3]),
                        *_hyb_sizes(lv.restrict, w[5])),)
        coarse = int(np.shape(amg.coarse_inverse)[0])
    return Capacity(
        nodes=pattern.n_nodes, cells=int(np.shape(pattern.cells)[0]),
        slots=tuple(int(np.shape(s)[0]) for s in pattern.edge_slots),
        overflow=int(np.shape(pattern.ovf_rows)[0]),
        electrode_nodes=int(np.shape(problem.electrode_nodes)[0]), levels=levels, coarse=coarse,
    )


def fits(need: Capacity, cap: Capacity) -> bool:
    """Whether a problem of sizes `need` (`demand(problem, cap)`) pads into `cap` (same number of
    levels) without more than MAX_WASTE times its nodes and cells."""
    small = (need.nodes + ANCHORS <= cap.nodes and need.cells < cap.cells
             and cap.nodes <= MAX_WASTE * need.nodes and cap.cells <= MAX_WASTE * need.cells)
    slots = len(need.slots) <= len(cap.slots) and all(
        n <= c for n, c in zip(need.slots, cap.slots))
    rest = (need.overflow <= cap.overflow and need.electrode_nodes <= cap.electrode_nodes
            and len(need.levels) == len(cap.levels) and need.coarse <= cap.coarse)
    levels = all(n <= c for lv, lc in zip(need.levels, cap.levels) for n, c in zip(lv, lc))
    return small and slots and rest and levels


def _room(n: int, headroom: float = HEADROOM) -> int:
    return bucket(math.ceil(n * headroom))


def capacity_for(need: Capacity, headroom: float = HEADROOM) -> Capacity:
    """A new capacity for a problem of sizes `need`: counts rounded up to buckets with `headroom`,
    edge slots with room for sampling noise and SPARE_SLOTS spare ones, ELL widths of A and P as
    they are (a wider one adds zero slots to every row), those of the restriction (long rows, few
    of them) with 10 % room."""
    room = lambda n: _room(n, headroom)  # noqa: E731
    slots, previous = [], math.inf
    for n in (*need.slots, *(0,) * SPARE_SLOTS):
        # the short tail slots (edges shared by the most cells) vary from mesh to mesh by
        # about their square root: room for that too (51 edges against 48 seen)
        previous = min(previous, room(n + math.ceil(4 * math.sqrt(n))))
        slots.append(previous)
    levels = tuple((room(lv[0]), lv[1], room(lv[2]), lv[3], room(lv[4]),
                    math.ceil(1.1 * lv[5]), room(lv[6])) for lv in need.levels)
    return Capacity(
        nodes=room(need.nodes + ANCHORS), cells=room(need.cells + 1), slots=tuple(slots),
        overflow=room(need.overflow), electrode_nodes=room(need.electrode_nodes),
        levels=levels, coarse=room(need.coarse) if need.coarse else 0,
    )


# ------------------------------------------------------------------ capacities handed out

_KNOWN: list[Capacity] = []


def registry_path() -> Path | None:
    """The capacities file beside JAX's persistent compilation cache (None without one)."""
    directory = jax.config.jax_compilation_cache_dir
    return Path(directory) / REGISTRY if directory else None


def _read(path: Path | None) -> list[Capacity]:
    try:
        rows = json.loads(path.read_text()) if path else []
        return [Capacity.from_list(r) for r in rows]
    except (OSError, ValueError, TypeError, IndexError):
        return []  # no file yet, or an unreadable one: start a new list


def _write(path: Path, known: list[Capacity]) -> None:
    """Replace the file atomically (another process may read it at the same time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".capacities-")
        with os.fdopen(fd, "w") as out:
            json.dump([c.as_list() for c in known], out)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache: this process still reuses its own capacities


def pick_capacity(problem: Problem, known: list[Capacity],
                  headroom: float = HEADROOM) -> Capacity:
    """The smallest of `known` that `problem` fits, else a new capacity for it with `headroom`
    (not added to `known`): a pure function of the problem and the list."""
    nodes = problem.pattern.n_nodes
    near = [c for c in known if nodes + ANCHORS <= c.nodes <= MAX_WASTE * nodes]  # cheap first
    fitting = [c for c in sorted(near, key=lambda c: (c.nodes, c.cells))
               if fits(demand(problem, c), c)]
    return fitting[0] if fitting else capacity_for(demand(problem), headroom)


def choose_capacity(problem: Problem, path: Path | None = None) -> Capacity:
    """The smallest known capacity that `problem` fits (this process's, then the file's), else
    a new one, remembered in both."""
    path = registry_path() if path is None else path
    on_file = _read(path)
    known = _KNOWN + [c for c in on_file if c not in _KNOWN]
    chosen = pick_capacity(problem, known)
    if chosen not in known and path is not None:
        _write(path, [*on_file, chosen])
    if chosen not in _KNOWN:
        _KNOWN.append(chosen)
    return chosen


# ------------------------------------------------------------------ padding


def pad_axis(x, size: int, value, axis: int = -1) -> np.ndarray:
    """`x` (host) with entries equal to `value` appended along `axis` up to `size`."""
    x = np.asarray(x)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, size - x.shape[axis])
    return np.pad(x, widths, constant_values=value)


def _pad_slots(x, width: int, value) -> np.ndarray:
    """(w, n) slot-major block with zero slots appended up to `width`."""
    return pad_axis(x, width, value, axis=0)


def pad_hyb(a: HybMatrix, rows: int, cols: int, width: int, overflow: int,
            identity: bool) -> HybMatrix:
    """`a` as a (rows, cols) matrix: new rows with a unit diagonal (`identity`) or empty, zero
    ELL slots up to `width`, zero overflow entries at the last row up to `overflow`. Rows wider
    than `width` move their excess into the overflow: the same matrix, its products summed in
    another order (answers then agree with the unpadded ones to the solver's tolerance, not to
    rounding)."""
    if width < np.shape(a.ell_cols)[0]:  # re-split: the same entries, the excess in the overflow
        a = hyb_from_scipy(hyb_to_scipy(a), width=width, dtype=np.asarray(a.ell_vals).dtype)
    n = a.n_rows
    ell_cols = _pad_slots(pad_axis(a.ell_cols, rows, 0), width, 0)
    ell_vals = _pad_slots(pad_axis(a.ell_vals, rows, 0), width, 0)
    if identity:
        ell_cols[0, n:] = np.arange(n, rows)
        ell_vals[0, n:] = 1
    return HybMatrix(
        ell_cols=ell_cols, ell_vals=ell_vals,
        ovf_rows=pad_axis(a.ovf_rows, overflow, rows - 1), ovf_cols=pad_axis(a.ovf_cols, overflow, 0),
        ovf_vals=pad_axis(a.ovf_vals, overflow, 0), n_cols=cols,
    )


def _pad_amg(amg: AmgPreconditioner, cap: Capacity) -> AmgPreconditioner:
    rows = [cap.nodes, *(lv[0] for lv in cap.levels[1:]), cap.coarse]
    levels = []
    for k, (lv, size) in enumerate(zip(amg.levels, cap.levels)):
        n, m = rows[k], rows[k + 1]
        levels.append(AmgLevel(
            a=pad_hyb(lv.a, n, n, size[1], size[2], identity=True),
            prolong=pad_hyb(lv.prolong, n, m, size[3], size[4], identity=False),
            restrict=pad_hyb(lv.restrict, m, n, size[5], size[6], identity=False),
            inv_diag=pad_axis(lv.inv_diag, n, 1), lmax=lv.lmax,
        ))
    inverse = np.asarray(amg.coarse_inverse)
    coarse = np.eye(cap.coarse, dtype=inverse.dtype)
    coarse[: len(inverse), : len(inverse)] = inverse
    return AmgPreconditioner(levels=tuple(levels), coarse_inverse=coarse, degree=amg.degree)


def _pad_pattern(p: StiffnessPattern, cap: Capacity) -> StiffnessPattern:
    n_cells = int(np.shape(p.cells)[0])
    edges, n_edges = cap.slots[0], p.n_edges
    anchors = np.arange(p.n_nodes, p.n_nodes + ANCHORS)
    cells = np.concatenate([np.asarray(p.cells),
                            np.tile(anchors, (cap.cells - n_cells, 1))]).astype(np.int32)
    zero = ZERO_EDGE * cap.cells + n_cells  # flat index of an exactly zero edge value
    slots = []
    for k, size in enumerate(cap.slots):
        flat = np.asarray(p.edge_slots[k]) if k < len(p.edge_slots) else np.zeros(0, np.int64)
        local, cell = np.divmod(flat.astype(np.int64), n_cells)  # edge-major on cap.cells
        slots.append(pad_axis(local * cap.cells + cell, size, zero).astype(np.int32))
    ell_edge = np.asarray(p.ell_edge)
    ell_edge = np.where(ell_edge == n_edges, edges, ell_edge)  # the zero after the edge sums
    ell_cols = pad_axis(p.ell_cols, cap.nodes, 0)
    ell_cols[:, p.n_nodes:] = np.arange(p.n_nodes, cap.nodes)
    last = cap.nodes - 1
    return StiffnessPattern(
        cells=cells, corners=np.ascontiguousarray(cells.T), edge_slots=tuple(slots),
        ell_cols=ell_cols, ell_edge=pad_axis(ell_edge, cap.nodes, edges).astype(np.int32),
        ovf_rows=pad_axis(p.ovf_rows, cap.overflow, last),
        ovf_cols=pad_axis(p.ovf_cols, cap.overflow, last),
        ovf_edge=pad_axis(np.where(np.asarray(p.ovf_edge) == n_edges, edges, p.ovf_edge),
                      cap.overflow, edges).astype(np.int32),
    )


def _pad_lumped(c: LumpedCoupling | None, nodes: int) -> LumpedCoupling | None:
    if c is None:
        return None
    return LumpedCoupling(tissue=pad_axis(c.tissue, nodes, False), rep=c.rep,
                          response=pad_axis(c.response, nodes, 0), schur_inverse=c.schur_inverse)


def pad_problem(problem: Problem, cap: Capacity) -> Problem:
    """`problem` padded to `cap` (host side; `fits(demand(problem, cap), cap)` must hold)."""
    pre = problem.precondition
    if isinstance(pre, AmgPreconditioner):
        pre = _pad_amg(pre, cap)
    elif isinstance(pre, JacobiPreconditioner):
        pre = JacobiPreconditioner(pad_axis(pre.inv_diag, cap.nodes, 1))
    n = problem.pattern.n_nodes
    extra = cap.electrode_nodes - int(np.shape(problem.electrode_nodes)[0])
    rep0 = int(np.asarray(problem.electrode_rep)[0])
    # padded electrode entries repeat electrode 0's representative: as its own representative
    # it is never a slave, so it adds nothing anywhere (simulate.floating_conductors)
    return Problem(
        pattern=_pad_pattern(problem.pattern, cap),
        electrode_masks=pad_axis(problem.electrode_masks, cap.nodes, False),
        electrode_nodes=pad_axis(problem.electrode_nodes, cap.electrode_nodes, rep0),
        electrode_of_node=np.concatenate([problem.electrode_of_node, np.zeros(extra, np.int64)]),
        electrode_rep=problem.electrode_rep, precondition=pre,
        electrode_names=problem.electrode_names, floating_idle=problem.floating_idle,
        lumped=_pad_lumped(problem.lumped, cap.nodes), inert=np.arange(cap.nodes) >= n,
    )


def _xp(x):
    """numpy on the host (no program compiled per shape), jax.numpy under a trace."""
    return jnp if isinstance(x, jax.core.Tracer) else np


def pad_points(points, nodes: int):
    """(n, 3) m -> (nodes, 3): the anchors at the unit right-angled tetrahedron, then zeros
    (unchanged when nodes is n: an `unpadded` problem)."""
    xp = _xp(points)
    points = xp.asarray(points)
    if nodes == points.shape[0]:
        return points
    anchor = xp.concatenate([xp.zeros((1, 3)), xp.eye(3)]).astype(points.dtype)
    rest = xp.zeros((nodes - points.shape[0] - ANCHORS, 3), points.dtype)
    return xp.concatenate([points, anchor, rest])


def pad_cells(model, n_cells: int, cells: int):
    """A conductivity model (or any pytree) with per-cell leaves (leading axis n_cells) padded
    to `cells` by repeating the last cell's value (finite and valid; its field is zero)."""
    if cells == n_cells:  # an `unpadded` problem
        return model

    def pad(x):
        xp = _xp(x)
        x = xp.asarray(x)
        if x.ndim == 0 or x.shape[0] != n_cells:
            return x
        return xp.concatenate([x, xp.repeat(x[-1:], cells - n_cells, axis=0)])
    return jax.tree.map(pad, model)


def unpad_fields(fields: Fields, n_nodes: int, n_cells: int) -> Fields:
    """Per-pair fields of the real nodes and cells (slice host arrays: `jax.device_get` first)."""
    return Fields(
        potential=fields.potential[..., :n_nodes], e_mag=fields.e_mag[..., :n_cells],
        sigma=fields.sigma[..., :n_cells], current=fields.current,
        cathode_current=fields.cathode_current, e_max=fields.e_max[..., :n_cells],
        converged=fields.converged, iterations=fields.iterations,
        linear_iterations=fields.linear_iterations, residual=fields.residual,
    )


class Padded(NamedTuple):
    """A problem padded to its capacity, with the real sizes to pad inputs and cut outputs."""

    problem: Problem
    capacity: Capacity
    n_nodes: int
    n_cells: int

    def points(self, points):
        return pad_points(points, self.capacity.nodes)

    def model(self, model):
        return pad_cells(model, self.n_cells, self.capacity.cells)

    def cell_values(self, values, fill) -> np.ndarray:
        """Per-cell host values (volumes, region ids) padded with `fill` (0: a padded cell has no
        volume and lies in region 0, so it counts in no metric)."""
        values = np.asarray(values)
        extra = np.full(self.capacity.cells - len(values), fill, values.dtype)
        return np.concatenate([values, extra])

    def fields(self, fields: Fields) -> Fields:
        return unpad_fields(fields, self.n_nodes, self.n_cells)


def padded(problem: Problem, path: Path | None = None, capacity: Capacity | None = None) -> Padded:
    """`problem` padded to `capacity` (it must fit there), default to the capacity
    `choose_capacity` picks for it."""
    if capacity is None:
        cap = choose_capacity(problem, path)
    elif fits(demand(problem, capacity), capacity):
        cap = capacity
    else:
        raise ValueError(f"a problem of sizes {demand(problem)} does not fit {capacity}")
    return Padded(pad_problem(problem, cap), cap, problem.pattern.n_nodes,
                  int(np.shape(problem.pattern.cells)[0]))


def unpadded(problem: Problem) -> Padded:
    """`problem` as it is, in the shape of a `Padded` (its capacity its own sizes: inputs and
    outputs pass through unchanged), for callers that pad only when meshes change."""
    own = demand(problem)
    return Padded(problem, own, own.nodes, own.cells)


class Compilations:
    """Counts, while active, the programs JAX traced (jit cache misses) and compiled (backend
    compilations not served by the persistent cache), from `jax.monitoring` events:

        with Compilations() as seen:
            ...
        seen.traced, seen.compiled
    """

    _active: list = []
    _installed = False

    def __init__(self):
        self.traced = self.compiled = self.cache_hits = 0
        self.seconds: dict[str, float] = {}  # backend compile (or cache read) time per program

    @classmethod
    def _listen(cls, event: str, *args, **kwargs) -> None:
        for c in cls._active:
            if event == "/jax/core/compile/jaxpr_trace_duration":
                c.traced += 1
            elif event == "/jax/core/compile/backend_compile_duration":
                c.compiled += 1
                name = kwargs.get("fun_name", "?")
                c.seconds[name] = c.seconds.get(name, 0.0) + (args[0] if args else 0.0)
            elif event == "/jax/compilation_cache/cache_hits":
                c.cache_hits += 1
                c.compiled -= 1  # its backend-compile event follows and counts the read

    def __enter__(self) -> "Compilations":
        if not Compilations._installed:
            jax.monitoring.register_event_duration_secs_listener(Compilations._listen)
            jax.monitoring.register_event_listener(Compilations._listen)
            Compilations._installed = True
        Compilations._active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        Compilations._active.remove(self)


__all__ = ["Capacity", "Compilations", "Padded", "bucket", "capacity_for", "choose_capacity",
           "demand", "fits", "pad_axis", "pad_cells", "pad_hyb", "pad_points", "pad_problem",
           "padded", "pick_capacity", "registry_path", "unpad_fields"]
