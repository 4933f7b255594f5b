"""A small two-needle config for the command-line tests, and a writer for edited copies."""

from pathlib import Path

import yaml

SMALL = """
name: small pair
units: {length: mm, voltage: V, field: V/cm, conductivity: S/m, time: us}
scene:
  domain: {shape: box, size: [30, 30, 24], material: liver}
  structures:
    - {name: tumour, shape: sphere, center: [0, 0, 0], radius: 3, material: tumour, role: target}
  mesh: {size: 6, target_size: 1.5, electrode_size: 0.6}
electrodes:
  - {name: a, type: needle, tip: [-4, 0, -6], entry: [-4, 0, 20], diameter: 1.2, active_length: 12}
  - {name: b, type: needle, tip: [4, 0, -6], entry: [4, 0, 20], diameter: 1.2, active_length: 12}
protocol:
  pulses: {count: 8, width: 100, rate: "5 kHz"}
  pairs:
    - {anode: a, cathode: b, voltage: 800}
physics: {conductivity: nonlinear}
device: {max_voltage: 3000, max_current: "50 A"}
output: {file: out/small.h5}
"""


def write_config(tmp_path, text=SMALL, edit=None, name="case.yaml") -> Path:
    data = yaml.safe_load(text)
    if edit:
        edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
