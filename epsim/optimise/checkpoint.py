"""Planner checkpoints: the state of a planning run after every step, so a killed or failed run
continues where it stopped (`epsim optimise CONFIG -o DIR --resume`).

    DIR/checkpoint/state.npz       the last state: a JSON document (`state_json`) and its arrays
    DIR/checkpoint/mesh_<id>.npz   every reference mesh, written once when it is made

A state holds the optimiser state of every track (Adam moments and step counts), the plans, the
best evaluations, the meshes' layouts (the meshes themselves are reloaded only when used), the
counters, the current-correction factors, the audit rows and the recovery events: everything the
rest of the run reads, so that a resumed run takes exactly the steps an uninterrupted one takes.
Files are written atomically (a kill never leaves half a state) and hold only data: JSON and
numpy arrays, read back with `allow_pickle=False`; nothing in them is executed. A state carries a
fingerprint of the config and the overrides it was made for, and is refused for another.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import jax
import numpy as np

from epsim.errors import InputError
from epsim.mesh.tetmesh import TetMesh
from epsim.meshcache import load_mesh, save_mesh
from epsim.optimise.plan import Plan

FORMAT = 1
"""Bumped when the layout of a state changes; older states are refused."""


def fingerprint(config_text: str, overrides: dict) -> str:
    """Hash of what a planning run depends on: the config's text and the command's overrides."""
    digest = hashlib.sha256(config_text.encode("utf-8"))
    digest.update(json.dumps(sorted(overrides.items()), default=str).encode("utf-8"))
    digest.update(str(FORMAT).encode())
    return digest.hexdigest()[:24]


def encode(obj, arrays: dict):
    """A JSON-able form of plain data, Plans and arrays; arrays go into `arrays` by key."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)) and not isinstance(obj, np.generic):
        return obj
    if isinstance(obj, Plan):
        return {"plan": [encode(x, arrays) for x in (obj.shift, obj.tilt, obj.voltage)]}
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(obj)
        return {"array": key}
    if isinstance(obj, dict):
        return {"dict": {str(k): encode(v, arrays) for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        return {"list": [encode(v, arrays) for v in obj]}
    raise TypeError(f"cannot checkpoint a {type(obj).__name__}")


def decode(doc, arrays):
    """The inverse of `encode` (tuples come back as lists)."""
    if not isinstance(doc, dict):
        return doc
    if "array" in doc:
        return arrays[doc["array"]]
    if "plan" in doc:
        return Plan(*(decode(x, arrays) for x in doc["plan"]))
    if "dict" in doc:
        return {k: decode(v, arrays) for k, v in doc["dict"].items()}
    if "list" in doc:
        return [decode(v, arrays) for v in doc["list"]]
    raise InputError(f"checkpoint: unknown entry {sorted(doc)}")


def _atomic_savez(path: Path, **arrays) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Checkpoint:
    """The checkpoint folder of one planning output folder (see the module doc)."""

    def __init__(self, out_dir, fingerprint: str):
        self.folder = Path(out_dir) / "checkpoint"
        self.fingerprint = fingerprint

    @property
    def path(self) -> Path:
        return self.folder / "state.npz"

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, state: dict) -> None:
        """Write a state (plain data, Plans, arrays) atomically, replacing the last one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays: dict = {}
        doc = {"format": FORMAT, "fingerprint": self.fingerprint, "state": encode(state, arrays)}
        text = np.frombuffer(json.dumps(doc).encode("utf-8"), dtype=np.uint8)
        _atomic_savez(self.path, state_json=text, **arrays)

    def load(self) -> dict | None:
        """The last state; None when the run stopped before it saved one (start afresh).

        Raises:
            InputError: no checkpoint folder, an unreadable state, or one made for another
                config.
        """
        if not self.folder.is_dir():
            raise InputError(f"nothing to resume: {self.folder} does not exist")
        if not self.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            doc = json.loads(arrays.pop("state_json").tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot resume from {self.path}: unreadable ({exc})") from None
        if doc.get("format") != FORMAT or doc.get("fingerprint") != self.fingerprint:
            raise InputError(
                f"cannot resume from {self.path}: it was made for another config, other options "
                "or another epsim version; start afresh without --resume in a new folder"
            )
        return decode(doc["state"], arrays)

    def save_mesh(self, mesh_id: int, mesh: TetMesh) -> None:
        save_mesh(self.folder / f"mesh_{mesh_id}.npz", mesh)  # the mesh cache's own format

    def load_mesh(self, mesh_id: int) -> TetMesh:
        path = self.folder / f"mesh_{mesh_id}.npz"
        try:
            return load_mesh(path)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot resume: mesh {path} is unreadable ({exc})") from None

    def clear(self) -> None:
        """Remove the checkpoint folder (after a finished plan)."""
        shutil.rmtree(self.folder, ignore_errors=True)


__all__ = ["Checkpoint", "decode", "encode", "fingerprint"]
