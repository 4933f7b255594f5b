"""Refinement regions and the accurate-default rule (epsim.mesh.sizing): cell sizes measured in
gmsh meshes inside, near and far from the regions; distances; the rule's monotonicity and units."""

from __future__ import annotations

import numpy as np
import pytest

from epsim.errors import MeshError
from epsim.mesh import Box, MeshSizes, Needle, build_mesh
from epsim.mesh.scene import plate_pair
from epsim.mesh.estimate import estimate_cells
from epsim.mesh.sizing import (
    EDGE_REFINEMENT,
    GRADATION,
    PLATE_EDGE_RADII,
    PLATE_EDGE_REFINEMENT,
    RefineBox,
    RefineCylinder,
    EDGE_RADII,
    RefineSphere,
    accuracy_scale,
    distance,
    graded_size,
    interface_crossings,
    needle_cell_size,
    needle_edges,
    pair_refinement,
    pair_spacing,
    pair_zone,
    fringe_reach,
    plate_cell_size,
    plate_edges,
    plate_refinement,
    threshold_reach,
    zone_cell_size,
)

BACKGROUND = 6e-3
DOMAIN = Box(center=(0, 0, 0), size=(0.06, 0.06, 0.05))


def mean_edges(mesh) -> tuple[np.ndarray, np.ndarray]:
    """Cell centroids (m) and the mean length of each cell's six edges (m)."""
    corners = np.asarray(mesh.points)[mesh.cells]
    i, j = np.triu_indices(4, 1)
    return corners.mean(axis=1), np.linalg.norm(corners[:, i] - corners[:, j], axis=2).mean(1)


def needles(spacing=0.012):
    half = spacing / 2
    return (Needle("a", (-half, 0.0, -0.005), (-half, 0.0, 0.03), 5e-4, 0.01),
            Needle("b", (half, 0.0, -0.005), (half, 0.0, 0.03), 5e-4, 0.01))


@pytest.fixture(scope="module")
def refined():
    """One mesh: a sphere and a tilted cylinder at 1 mm in a 6 mm background."""
    regions = (RefineSphere((-0.012, -0.012, 0.0), 4e-3, 1e-3),
               RefineCylinder((0.012, 0.012, 0.0), (1, 1, 0), 2.5e-3, 8e-3, 1e-3))
    mesh = build_mesh(DOMAIN, sizes=MeshSizes(size=BACKGROUND, refine=regions), isolate=False)
    return regions, mesh


@pytest.mark.parametrize("which", [0, 1])
def test_cells_inside_a_region_have_its_size_and_grow_at_the_gradation(refined, which):
    regions, mesh = refined
    region = regions[which]
    centroids, edges = mean_edges(mesh)
    d = distance(region, centroids)
    inside = edges[d == 0]
    assert len(inside) > 200
    # gmsh's sizes are target edge lengths; in a small ball its cells came out ~35 % longer.
    assert 0.8 * region.cell_size < inside.mean() < 1.5 * region.cell_size
    ring = (d > 4e-3) & (d < 6e-3)  # sizes 2.2-2.8 mm asked for here
    assert ring.sum() > 20
    assert edges[ring].mean() < 1.5 * graded_size(region.cell_size, 6e-3, BACKGROUND)
    assert edges[ring].mean() > 1.5 * inside.mean()
    far = np.min([distance(r, centroids) for r in regions], axis=0) > (BACKGROUND - 1e-3) / 0.3
    assert edges[far].mean() > 0.7 * BACKGROUND


@pytest.fixture(scope="module")
def pair_meshes():
    """Two needles 12 mm apart, meshed plain and with their pair zone at 1.2 mm."""
    a, b = needles()
    zone = pair_zone(a, b, 1.2e-3, 2e-3)
    sizes = dict(size=BACKGROUND, electrode_size=1e-3)
    domain = Box(center=(0, 0, 0), size=(0.04, 0.04, 0.036))
    plain = build_mesh(domain, holes=(a, b), sizes=MeshSizes(**sizes), isolate=False)
    graded = build_mesh(domain, holes=(a, b), sizes=MeshSizes(**sizes, refine=(zone,)),
                        isolate=False)
    return zone, plain, graded


def test_the_volume_between_firing_needles_is_refined(pair_meshes):
    zone, plain, graded = pair_meshes
    # around the midpoint, 4-6 mm from each needle (where their own grading asks for 2-3 mm)
    c, e = mean_edges(graded)
    cp, ep = mean_edges(plain)
    middle = lambda c: (np.abs(c[:, 0]) < 2e-3) & (np.abs(c[:, 1]) < 1.5e-3) & (np.abs(c[:, 2]) < 3e-3)
    assert e[middle(c)].mean() < 1.5 * zone.cell_size
    assert ep[middle(cp)].mean() > 1.6 * e[middle(c)].mean()
    assert graded.n_cells > plain.n_cells
    # as far from the needles on the other side (x > 6 mm + 3 mm), beyond the zone's reach
    outside = lambda c: (np.abs(c[:, 1]) > 0.012) & (np.abs(c[:, 2]) < 3e-3)
    assert e[outside(c)].mean() > 2.0 * zone.cell_size


def test_a_needle_grading_follows_its_slope():
    """Away from a needle the cells grow at (size - electrode_size) / grading_distance per unit
    distance: at the rule's slope the shell 2-4 mm out is finer than at the meshes' default 1/3."""
    a, _ = needles()
    domain = Box(center=(0, 0, 0), size=(0.04, 0.04, 0.036))
    e = 3e-4
    default = build_mesh(domain, holes=(a,), sizes=MeshSizes(size=BACKGROUND, electrode_size=e),
                         isolate=False)
    slow = build_mesh(domain, holes=(a,), sizes=MeshSizes(
        size=BACKGROUND, electrode_size=e, grading_distance=(BACKGROUND - e) / 0.15),
        isolate=False)
    shell = lambda c: (np.abs(np.hypot(c[:, 0] + 0.006, c[:, 1]) - 3e-3) < 1e-3) \
        & (np.abs(c[:, 2] - 0.0) < 4e-3)
    sizes = []
    for mesh, slope in ((default, 1 / 3), (slow, 0.15)):
        c, edges = mean_edges(mesh)
        asked = e + slope * (3e-3 - a.radius)  # at the shell's middle
        assert shell(c).sum() > 30
        assert 0.6 * asked < edges[shell(c)].mean() < 1.5 * asked
        sizes.append(edges[shell(c)].mean())
    assert sizes[1] < 0.7 * sizes[0]
    assert slow.n_cells > default.n_cells


def test_the_cell_estimate_counts_a_zone_over_the_needles_own_grading(pair_meshes):
    """What the zone adds to the estimate is what it adds to gmsh's mesh, within the
    calibration's spread and the upper bound's slack (the needles' graded shells are not
    counted twice)."""
    zone, plain, graded = pair_meshes
    a, b = needles()
    domain = Box(center=(0, 0, 0), size=(0.04, 0.04, 0.036))
    sizes = dict(size=BACKGROUND, electrode_size=1e-3)
    without = estimate_cells(domain, holes=(a, b), sizes=MeshSizes(**sizes)).cells
    with_zone = estimate_cells(domain, holes=(a, b), sizes=MeshSizes(**sizes, refine=(zone,)))
    added, meshed = with_zone.cells - without, graded.n_cells - plain.n_cells
    assert meshed > 0 and 0.7 < added / meshed < 1.6


def test_pair_zone_spans_both_active_parts():
    a, b = needles()
    zone = pair_zone(a, b, 1e-3, 2e-3)
    on_axes = np.array([n.tip + t * n.active_length * n.direction
                        for n in (a, b) for t in np.linspace(0, 1, 11)])
    assert np.all(distance(zone, on_axes) == 0)
    assert np.allclose(sorted(zone.size), [0.004, 0.01 + 0.004, 0.012 + 0.004])
    beyond = np.array([[0.0, 0.0, 0.005 + 0.002 + 0.003]])  # 3 mm above the box
    assert distance(zone, beyond)[0] == pytest.approx(0.003)
    assert pair_spacing(a, b) == pytest.approx(0.012)


def test_distances_against_closed_forms():
    p = np.array([[3.0, 4.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 5.0], [2.0, 0.0, 3.0]])
    assert np.allclose(distance(RefineSphere((0, 0, 0), 1.0, 0.1), p),
                       [4.0, 0.0, 4.0, np.sqrt(13) - 1])
    cyl = RefineCylinder((0, 0, 0), (0, 0, 2), 1.0, 4.0, 0.1)
    assert np.allclose(distance(cyl, p), [4.0, 0.0, 3.0, np.hypot(1.0, 1.0)])
    box = RefineBox((0, 0, 0), (2, 2, 2), 0.1)
    assert np.allclose(distance(box, p), [np.hypot(2, 3), 0.0, 4.0, np.hypot(1, 2)])
    turned = RefineBox((0, 0, 0), (2, 2, 2), 0.1, axes=((0, 0, 1), (1, 0, 0), (0, 1, 0)))
    assert np.allclose(distance(turned, p), distance(box, p))  # a cube turned onto itself
    with pytest.raises(MeshError, match="orthonormal"):
        RefineBox((0, 0, 0), (1, 1, 1), 0.1, axes=((1, 0, 0), (1, 0, 0), (0, 0, 1)))
    with pytest.raises(MeshError, match="positive length"):
        RefineSphere((0, 0, 0), -1.0, 0.1)


def two_line_field(point, spacing, radius, voltage):
    """|E| (V/m) of two line charges +-q at x = -+spacing/2 holding the needles at -+V/2."""
    k = voltage / (2 * np.log(spacing / radius))
    field = np.zeros(2)
    for x0, sign in ((-spacing / 2, 1.0), (spacing / 2, -1.0)):
        r = np.asarray(point) - (x0, 0.0)
        field += sign * k * r / np.dot(r, r)
    return np.linalg.norm(field)


def test_threshold_reach_is_where_the_line_charge_field_falls_to_the_threshold():
    spacing, radius, voltage, e = 0.015, 6e-4, 2250.0, 35000.0
    reach = threshold_reach(radius, spacing, voltage, e)
    across = two_line_field((0.0, reach), spacing, radius, voltage)
    along = two_line_field((spacing / 2 + reach, 0.0), spacing, radius, voltage)
    assert max(across, along) == pytest.approx(e, rel=1e-9)
    # dimensional analysis: lengths x 2 with the field / 2 doubles the reach
    assert threshold_reach(2 * radius, 2 * spacing, voltage, e / 2) == pytest.approx(2 * reach)
    assert threshold_reach(radius, spacing, 2 * voltage, e) > reach
    assert threshold_reach(radius, spacing, voltage, 2 * e) < reach


def test_plate_zone_spans_both_faces_and_the_fringe():
    a, b = plate_pair("p", (0.0, 0.0, 0.01), (1.0, 0.0, 0.0), 0.012, (0.016, 0.008))
    voltage, e = 1560.0, 40000.0
    reach = fringe_reach(voltage, e)
    assert voltage / (2 * np.pi * reach) == pytest.approx(e)  # the dipole sheet's field
    zone = plate_refinement(a, b, voltage, e)
    assert zone.cell_size == pytest.approx(zone_cell_size(0.012))
    assert plate_cell_size(0.024) == pytest.approx(2 * plate_cell_size(0.012))
    margin = 1.5 * reach
    assert sorted(zone.size) == pytest.approx(
        sorted([0.012 + 2 * margin, 0.016 + 2 * margin, 0.008 + 2 * margin]))
    faces = np.concatenate([a.face_points(2), b.face_points(2)])  # each face's corners
    assert np.all(distance(zone, faces) == 0)
    beyond = np.array([[0.0, 0.008 + margin + 0.002, 0.01]])  # 2 mm past the zone's side
    assert distance(zone, beyond)[0] == pytest.approx(0.002)
    assert np.prod(plate_refinement(a, b, 2 * voltage, e).size) > np.prod(zone.size)
    edges = plate_edges(a, 5e-4)
    on_edges = faces[:4][[0, 1, 3, 2, 0]]  # a's corners round the face, and back to the first
    for cylinder in edges:  # each edge of the face, and nothing else of it, on a cylinder's axis
        assert cylinder.cell_size == pytest.approx(5e-4 / PLATE_EDGE_REFINEMENT)
        assert cylinder.radius == pytest.approx(PLATE_EDGE_RADII * cylinder.cell_size)
    for p, q in zip(on_edges[:-1], on_edges[1:]):
        line = p + np.linspace(0, 1, 9)[:, None] * (q - p)
        covered = [np.all(distance(c, line) == 0) for c in edges]
        assert sum(covered) == 1
    assert np.all(np.min([distance(c, [a.center]) for c in edges], axis=0) > 0)
    coarse = plate_edges(a, 5e-4, accuracy=0.08)  # scale 2: the edges' cells 4x
    assert coarse[0].cell_size == pytest.approx(4 * edges[0].cell_size)


def test_rule_sizes_are_monotone_and_scale_with_the_geometry():
    assert needle_cell_size(6e-4) == pytest.approx(2 * needle_cell_size(3e-4))
    assert zone_cell_size(0.02) == pytest.approx(2 * zone_cell_size(0.01))
    accuracies = [0.005, 0.01, 0.02, 0.04, 0.08]
    for f in (lambda a: needle_cell_size(6e-4, a), lambda a: zone_cell_size(0.015, a)):
        sizes = [f(a) for a in accuracies]
        assert all(x < y for x, y in zip(sizes, sizes[1:]))
    assert accuracy_scale(0.02) == 1.0 and accuracy_scale(0.08) == pytest.approx(2.0)
    assert accuracy_scale(1e-6) == accuracy_scale(1e-5)  # bounded below
    a, b = needles()
    low, high = (pair_refinement(a, b, v, 35000.0) for v in (1000.0, 3000.0))
    assert low.cell_size == high.cell_size
    assert np.prod(high.size) > np.prod(low.size)  # a higher voltage reaches further


def test_needle_edges_sit_on_the_singular_rims():
    a, _ = needles()
    tip, junction = needle_edges(a, 3e-4)
    assert np.allclose(tip.center, a.tip) and tip.cell_size == pytest.approx(3e-4 / EDGE_REFINEMENT)
    assert tip.radius > a.radius  # the rim lies inside the ball
    assert np.allclose(junction.center, a.tip + a.active_length * a.direction)
    assert GRADATION < 0.5  # neighbouring cells within a factor of 1.5


def test_interface_crossings_cover_where_a_material_meets_the_active_part():
    """A layer boundary across the active part gives one cylinder around the crossing; a ball
    that grazes the needle's side gives one where they touch; one that stays a radius away, or
    a boundary along the insulated shaft only, gives none."""
    a, _ = needles()  # tip at z = -5 mm, 10 mm active, 0.5 mm radius, along +z
    e, r = 3e-4, a.radius

    def layer(z0):
        return lambda p: np.where(p[:, 2] > z0, "fat", "liver")

    (crossing,) = interface_crossings(a, layer(0.0), e)
    assert isinstance(crossing, RefineCylinder) and crossing.cell_size == pytest.approx(
        e / EDGE_REFINEMENT)
    assert crossing.radius == pytest.approx(EDGE_RADII * r)
    assert np.allclose(crossing.axis, a.direction)
    lo, hi = crossing.center[2] - crossing.height / 2, crossing.center[2] + crossing.height / 2
    assert lo < 1e-9 - EDGE_RADII * r and hi > EDGE_RADII * r - 1e-9  # crossing and margin
    assert hi - lo < 2 * EDGE_RADII * r + 2 * r  # and not the whole needle
    assert interface_crossings(a, layer(0.02), e) == ()  # only the insulated shaft crosses
    assert interface_crossings(a, lambda p: np.full(len(p), "liver"), e) == ()

    def ball(gap):  # a 4 mm tumour whose surface lies `gap` from the needle's side at z = 0
        centre = np.asarray(a.tip) + (r + gap + 4e-3, 0.0, 0.005)
        return lambda p: np.where(np.linalg.norm(p - centre, axis=1) < 4e-3, "tumour", "liver")

    (graze,) = interface_crossings(a, ball(-0.2 * r), e)
    assert abs(graze.center[2]) < 2e-3
    assert interface_crossings(a, ball(r), e) == ()


def test_the_cell_estimate_counts_the_regions(refined):
    regions, mesh = refined
    sizes = MeshSizes(size=BACKGROUND, refine=regions)
    ratio = estimate_cells(DOMAIN, sizes=sizes).cells / mesh.n_cells
    plain = estimate_cells(DOMAIN, sizes=MeshSizes(size=BACKGROUND)).cells / mesh.n_cells
    assert 0.7 < ratio < 1.6 and plain < 0.5  # an upper bound, but not a wild one
