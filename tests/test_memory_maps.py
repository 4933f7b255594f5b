"""A process that compiles many programs stays below the kernel's limit on memory mappings
(`epsim.memory_maps`): past the share, `prepare` drops JAX's compiled programs."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from epsim.memory_maps import crowded, map_count, map_limit

ON_LINUX = Path("/proc/self/maps").exists()


def test_crowded_at_the_share_of_the_limit():
    assert crowded(100, 200, 0.5) and crowded(150, 200, 0.5)
    assert not crowded(99, 200, 0.5)
    assert not crowded(None, 200, 0.5) and not crowded(100, None, 0.5)


@pytest.mark.skipif(not ON_LINUX, reason="the mapping counts are read from /proc")
def test_counts_read_on_linux():
    assert map_count() > 10 and map_limit() > map_count()


# Compiles many small programs, then prepares a mesh with the share at 0 (always crowded): the
# mappings the programs held are given back, and a solve after the drop gives the same current.
SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import epsim.memory_maps as maps
    from epsim.simulate import make_pairs, prepare, simulate
    from epsim.solve import Newton
    from epsim.physics import RegionConductivity, SmoothStep
    from tests.helpers.meshes import inclusion_box, with_face_patches

    mesh = with_face_patches(inclusion_box(n=4), ["xmin", "xmax"], 0.0031)
    model = RegionConductivity((SmoothStep(0.1, 0.3, 3e4, 6e4),) * 2,
                               jnp.asarray(mesh.cell_region))

    def current():
        problem = prepare(mesh, ["xmin_patch", "xmax_patch"], np.full(mesh.n_cells, 0.1))
        pairs = make_pairs(problem, [("xmin_patch", "xmax_patch", 300.0)])
        return float(simulate(problem, jnp.asarray(mesh.points), model, pairs,
                              solver=Newton(rtol=1e-11)).current[0])

    first = current()
    for i in range(150):
        jax.jit(lambda x, i=i: x * i)(jnp.ones(i + 2))
    assert not maps.relieve(share=1.0)  # far below the limit: nothing dropped
    before = maps.map_count()
    maps.SHARE = 0.0
    second = current()                  # prepare drops the compiled programs first
    print(before, maps.map_count(), first, second)
""")


@pytest.mark.skipif(not ON_LINUX, reason="the mapping counts are read from /proc")
def test_prepare_gives_back_the_mappings_of_compiled_programs():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr
    before, after, first, second = done.stdout.split()
    # about three mappings per program: the 150 programs held some 450
    assert int(before) - int(after) > 200, done.stdout
    assert float(second) == pytest.approx(float(first), rel=1e-12)
