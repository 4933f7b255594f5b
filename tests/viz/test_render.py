"""Pictures: non-empty, non-uniform PNGs; refusing to overwrite; the fallback without pyvista."""

import matplotlib.image
import numpy as np
import pytest

from epsim.errors import InputError
from epsim.io import OutputExistsError
from epsim.viz import histogram, render_overview, render_slice
from epsim.viz import render as render_module
from tests.helpers.outputs import listing


def check_png(path, min_size=(200, 300)):
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] >= min_size[0] and image.shape[1] >= min_size[1]
    colours = np.unique(image[..., :3].reshape(-1, 3), axis=0)
    assert len(colours) > 50  # a picture, not a blank
    assert path.stat().st_size > 10_000


def test_overview(results, tmp_path):
    pytest.importorskip("pyvista")
    path = render_overview(results, tmp_path / "pics" / "overview.png", window_size=(640, 480))
    check_png(path)
    assert listing(tmp_path / "pics") == ["overview.png"]


def test_overview_falls_back_to_slice_without_pyvista(results, tmp_path, monkeypatch):
    monkeypatch.setattr(render_module, "_import_pyvista", lambda: None)
    with pytest.warns(UserWarning, match="pyvista is not installed"):
        path = render_overview(results, tmp_path / "overview.png", dpi=60)
    check_png(path)


@pytest.mark.parametrize("normal", ["z", "y"])
def test_slice(results, tmp_path, normal):
    path = render_slice(results, tmp_path / "slice.png", normal=normal, dpi=80)
    check_png(path)
    check_png(render_slice(results, tmp_path / "pair.png", normal=normal, pair=1, dpi=60))
    with pytest.raises(InputError, match="does not cut"):
        render_slice(results, tmp_path / "miss.png", normal=normal, offset=1.0)
    assert listing(tmp_path) == ["pair.png", "slice.png"]


def test_histogram_and_overwrite(results, tmp_path):
    path = histogram(results, tmp_path / "hist.png", dpi=60)
    check_png(path)
    before = path.read_bytes(), path.stat().st_mtime_ns
    with pytest.raises(OutputExistsError):
        histogram(results, path)
    with pytest.raises(OutputExistsError):
        render_slice(results, path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    histogram(results, path, dpi=80, overwrite=True)
    assert path.read_bytes() != before[0]
    assert listing(tmp_path) == ["hist.png"]
