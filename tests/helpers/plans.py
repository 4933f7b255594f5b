"""Small planning configs shared by the planner tests."""

import yaml

PLAN_CONFIG = """
name: small plan
units: {length: mm, voltage: V, field: V/cm, conductivity: S/m, time: us}
scene:
  domain: {shape: box, size: [30, 30, 30], material: liver}
  structures:
    - {name: tumour, shape: sphere, center: [0, 0, 0], radius: 5, material: tumour, role: target}
  vessels:
    - {name: vessel, points: [[-15, 11, -5], [15, 11, 0]], radius: 2, role: spare}
  mesh: {size: 5, target_size: 2.5, electrode_size: 1}
electrodes:
  - {name: a, type: needle, tip: [-3, 0, -8], entry: [-3, 0, 15], diameter: 1, active_length: 12}
  - {name: b, type: needle, tip: [3, 0, -8], entry: [3, 0, 15], diameter: 1, active_length: 12}
protocol:
  pulses: {count: 8, width: 100, rate: "1 Hz"}
  pairs: [{anode: a, cathode: b, voltage: 300}]
physics: {conductivity: nonlinear}
solver: {preconditioner: jacobi}
device: {max_voltage: 3000, max_current: "50 A"}
optimise:
  min_spacing: 3
  max_spacing: 20
  keep_out: 1
  max_voltage: 700      # too low for the goal: the voltage limit binds
  linear_steps: 3
  nonlinear_steps: 1
  coarse_factor: 1
  starts: 2             # the second start shares the first one's mesh: evaluated by vmap
  jitter: 0.2
  step_position: 0.3
  step_voltage: 100
  halo: 6
"""
"""Two needles around a 5 mm tumour, a vessel to spare, a voltage limit that binds, two starts
sharing a mesh and the CMA-ES baseline: every part of `epsim optimise`, small."""


def tiny_plan_config() -> str:
    """PLAN_CONFIG made smaller and quicker (coarser mesh, one start, no baseline, a seed) for
    tests that run the planner several times."""
    data = yaml.safe_load(PLAN_CONFIG)
    data["name"] = "tiny plan"
    data["scene"]["domain"]["size"] = [26, 26, 26]
    data["scene"]["structures"][0]["radius"] = 4.5
    data["scene"]["vessels"][0].update(points=[[-13, 9, -5], [13, 9, 0]], radius=1.5)
    data["scene"]["mesh"] = {"size": 6, "target_size": 3, "electrode_size": 1.2}
    for needle, x in zip(data["electrodes"], (-3, 3)):
        needle.update(tip=[x, 0, -7], entry=[x, 0, 13], active_length=10)
    data["optimise"].update(max_voltage=900, linear_steps=4, nonlinear_steps=2, starts=1,
                            baseline=False, step_position=0.4, halo=5, seed=3)
    data["optimise"].pop("jitter")
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def tiny_count_config(count=(2, 3), **optimise) -> str:
    """`tiny_plan_config` as a count search: needles of 1 mm, `count` (min, max), the layout
    from the tumour's shape, every pair within max_spacing a candidate; `optimise` entries
    replace the block's."""
    data = yaml.safe_load(tiny_plan_config())
    data["name"] = "tiny count search"
    data["optimise"].update({
        "needles": {"diameter": 1, "count": {"min": count[0], "max": count[1]},
                    "active_lengths": [6, 10, 14]},
        "linear_steps": 3, "nonlinear_steps": 1, **optimise})
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
