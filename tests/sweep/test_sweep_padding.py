"""A sweep pads its problem to a capacity only when its points need several meshes (so that they
share one compiled program); on one mesh the padding would only cost. Padded and unpadded
chunks give the same numbers."""

from __future__ import annotations

import numpy as np
import pytest

from epsim.sweep import evaluate_chunk, make_plan, mesh_for, run_sweep
from epsim.sweep import executor

from tests.helpers.sweep_cases import coarse_case


def pads_asked(monkeypatch, data, tmp_path) -> set:
    """The `pad` arguments of every chunk's evaluation when `data` is swept."""
    seen = set()

    def spy(*args, pad, **kwargs):
        seen.add(pad)
        return evaluate_chunk(*args, pad=pad, **kwargs)

    monkeypatch.setattr(executor, "evaluate_chunk", spy)
    plan = make_plan(data, source="case.yaml", base_dir=tmp_path)
    report = run_sweep(plan, tmp_path / "out", workers=0, plot=False)
    assert report.complete
    return seen


def test_one_mesh_is_not_padded_two_meshes_are(monkeypatch, tmp_path, mesh_cache):
    one_mesh = coarse_case(samples=1)  # materials and voltages drawn: one scene
    assert pads_asked(monkeypatch, one_mesh, tmp_path / "one") == {False}
    two_meshes = coarse_case(samples=1)
    tip = two_meshes["electrodes"][1]["tip"]
    two_meshes["sweep"]["axes"]["electrodes[1].tip"] = [tip, [tip[0] + 1, *tip[1:]]]
    assert pads_asked(monkeypatch, two_meshes, tmp_path / "two") == {True}


def test_padded_and_unpadded_chunks_agree(tmp_path, mesh_cache):
    plan = make_plan(coarse_case(samples=2), source="case.yaml", base_dir=tmp_path)
    configs = [p.config for p in plan.points[:2]]
    mesh = mesh_for(configs[0])
    padded = evaluate_chunk(mesh, configs, mesh_id="m", pad=True)
    plain = evaluate_chunk(mesh, configs, mesh_id="m", pad=False)
    assert list(padded["status"]) == list(plain["status"]) == ["ok", "ok"]
    np.testing.assert_allclose(padded["current"], plain["current"], rtol=1e-9)
    for key in ("coverage_rev", "coverage_irr", "fraction_rev"):
        np.testing.assert_allclose(padded[key], plain[key], atol=1e-12)
    assert padded["n_cells"] == plain["n_cells"] == pytest.approx(mesh.n_cells)
