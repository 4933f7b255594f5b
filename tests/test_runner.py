"""One pass per run: a heated run prepares the mesh once and computes its cell geometry once on
the host; the heated train shares one element geometry between heat and potential."""

import os
import subprocess
import sys
from collections import Counter
from importlib import import_module

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from epsim import runner
from epsim.config import load_config_text
from epsim.heating import PulseTrain, simulate_heating
from epsim.mesh import tetmesh
from epsim.mesh.structured import structured_box_mesh
from epsim.physics import SmoothStep
from epsim.physics.thermal import ThermalTissue
from epsim.simulate import make_pairs, prepare, simulate
from epsim.solve import Jacobi

HEATED = """
name: heated pair
units: {length: mm, voltage: V, field: V/cm, conductivity: S/m, time: us}
scene:
  domain: {shape: box, size: [20, 20, 16], material: liver}
  structures:
    - {name: tumour, shape: sphere, center: [0, 0, 0], radius: 3, material: tumour, role: target}
  mesh: {size: 6, target_size: 2, electrode_size: 0.8}
electrodes:
  - {name: a, type: needle, tip: [-4, 0, -4], entry: [-4, 0, 12], diameter: 1.2, active_length: 8}
  - {name: b, type: needle, tip: [4, 0, -4], entry: [4, 0, 12], diameter: 1.2, active_length: 8}
  - {name: c, type: needle, tip: [0, 5, -4], entry: [0, 5, 12], diameter: 1.2, active_length: 8}
protocol:
  pulses: {count: 2, width: 100, rate: "1 Hz"}
  pairs:
    - {anode: a, cathode: b, voltage: 600}
    - {anode: b, cathode: c, voltage: 600}
physics: {conductivity: nonlinear}
heating: {substeps: 1, pause_steps: 1}
"""


class Calls:
    """Wraps functions to count their calls, host-side (concrete arguments) and traced apart;
    the wrapped function still does the work."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.count = Counter()

    def wrap(self, module, name, label=None):
        original = getattr(module, name)
        label = label or name

        def counted(*args, **kwargs):
            traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((args, kwargs)))
            self.count[f"{label} traced" if traced else label] += 1
            return original(*args, **kwargs)

        self.monkeypatch.setattr(module, name, counted)


def geometry_calls(monkeypatch) -> Calls:
    """Counts of the geometry kernels: the one behind `cell_geometry` and `elements`, and the
    numpy one the region metrics' volumes come from (`epsim.outcomes.cell_volumes`)."""
    calls = Calls(monkeypatch)
    calls.wrap(tetmesh, "corner_geometry", "geometry")
    # the module, not the function epsim.fem re-exports under the same name
    calls.wrap(import_module("epsim.fem.elements"), "corner_gradient_parts", "geometry")
    calls.wrap(import_module("epsim.outcomes"), "corner_gradients", "geometry")
    return calls


def test_heated_run_prepares_once_and_computes_cell_geometry_once(monkeypatch, tmp_path):
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))
    cfg = load_config_text(HEATED)
    calls = geometry_calls(monkeypatch)
    calls.wrap(runner, "prepare")
    results = runner.run_config(cfg)
    assert calls.count["prepare"] == 1  # the field solve and the heated train share it
    assert calls.count["geometry"] == 1  # the volumes every region metric is weighted by
    assert results.pair_fields["pulse_current"].shape == (2, 2)
    assert results.metrics[0].temperature_max is not None


@pytest.fixture(scope="module")
def plates():
    mesh = structured_box_mesh((0.01, 0.01, 0.01), 3)
    problem = prepare(mesh, ["xmin", "xmax"], np.full(mesh.n_cells, 0.2), preconditioner=Jacobi())
    pairs = make_pairs(problem, [("xmin", "xmax", 500.0)])
    return mesh, problem, pairs


def test_traced_runs_build_post_processing_geometry_once(plates, monkeypatch):
    """Tracing `simulate` or `simulate_heating` builds the element geometry twice: once for the
    post-processing (and in a heated train for the heat operators too) and once inside the
    potential solve, whose own geometry is differentiable in the node coordinates."""
    mesh, problem, pairs = plates
    model = SmoothStep(0.2, 0.6, 300e2, 600e2)
    points = jnp.asarray(mesh.points)
    calls = geometry_calls(monkeypatch)
    jax.make_jaxpr(lambda p: simulate(problem, p, model, pairs))(points)
    assert calls.count == {"geometry traced": 2}
    calls.count.clear()
    train = PulseTrain(2, 1e-4, 1.0, substeps=1, pause_steps=1)
    jax.make_jaxpr(lambda p: simulate_heating(problem, p, model, pairs, ThermalTissue(), train))(
        points
    )
    assert calls.count == {"geometry traced": 2}


FLOAT32_RUN = """
import sys
from epsim.config import load_config_text
from epsim.errors import SolverError
from epsim.runner import run_config
try:
    run_config(load_config_text(sys.stdin.read(), base_dir=sys.argv[1]), use_cache=False)
except SolverError as exc:
    print(exc)
"""


def test_a_float32_process_is_told_to_switch_float64_on(tmp_path):
    """A script that imports epsim without float64 (the tests and the command switch it on) gets
    a failed solve that says why and how to mend it, not only the residuals."""
    config = HEATED.replace("heating: {substeps: 1, pause_steps: 1}\n", "")
    done = subprocess.run([sys.executable, "-c", FLOAT32_RUN, str(tmp_path)], input=config,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JAX_ENABLE_X64": "0"})
    assert "did not converge" in done.stdout, done.stdout + done.stderr
    assert 'jax.config.update("jax_enable_x64", True)' in done.stdout
