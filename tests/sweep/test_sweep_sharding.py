"""With 4 host devices (XLA_FLAGS, set before JAX starts, so in a subprocess) a chunk of 6 points,
padded to 8 and sharded over the 4 devices, gives the numbers of the same chunk on one device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    from epsim.sweep import evaluate_chunk, load_plan, mesh_for
    plan = load_plan(sys.argv[1], samples=3)
    configs = [p.config for p in plan.points]
    mesh = mesh_for(configs[0])
    four = evaluate_chunk(mesh, configs, devices=jax.devices())
    one = evaluate_chunk(mesh, configs, devices=jax.devices()[:1])
    keys = ["coverage_rev", "coverage_irr", "fraction_rev", "fraction_irr", "current",
            "max_current", "residual", "iterations", "n_devices", "status"]
    print(json.dumps({"devices": len(jax.devices()),
                      "four": {k: four[k].tolist() for k in keys},
                      "one": {k: one[k].tolist() for k in keys}}))
""")


def test_chunk_sharded_over_four_host_devices(case):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(case)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    four, one = got["four"], got["one"]
    assert got["devices"] == 4 and four["n_devices"] == 4 and one["n_devices"] == 1
    assert len(four["status"]) == 6 and set(four["status"]) == {"ok"}
    for key in ("coverage_rev", "coverage_irr", "fraction_rev", "fraction_irr"):
        np.testing.assert_allclose(four[key], one[key], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(four["current"], one["current"], rtol=1e-10)
    np.testing.assert_allclose(four["max_current"], one["max_current"], rtol=1e-10)
