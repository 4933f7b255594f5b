"""posterior.h5 read back as a file from anyone (`epsim.io.posterior`)."""

import h5py
import numpy as np
import pytest

from epsim.errors import InputError
from epsim.io.posterior import FORMAT, read_posterior


def write(path, samples, names=("liver.sigma0",), fmt=FORMAT):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = fmt
        f.create_dataset("parameters/names", data=list(names), dtype=h5py.string_dtype())
        f.create_dataset("samples", data=samples)


def test_samples_and_names(tmp_path):
    write(tmp_path / "p.h5", np.array([[0.1, 3.0], [0.12, 2.5]]), ("liver.sigma0", "liver.ratio"))
    names, samples = read_posterior(tmp_path / "p.h5")
    assert names == ("liver.sigma0", "liver.ratio")
    np.testing.assert_array_equal(samples, [[0.1, 3.0], [0.12, 2.5]])


@pytest.mark.parametrize("make, words", [
    (None, "no such posterior file"),
    (lambda p: p.write_text("anode,cathode\n"), "not an HDF5 file"),
    (lambda p: write(p, np.ones((2, 1)), fmt="epsim-results"), "not an epsim posterior"),
    (lambda p: write(p, np.ones((2, 2))), "for 1 parameters"),
    (lambda p: write(p, np.array([[0.1], [np.nan]])), "positive finite"),
    (lambda p: write(p, np.array([[0.1], [-1.0]])), "positive finite"),
    (lambda p: h5py.File(p, "w").attrs.create("format", FORMAT), "not a readable posterior"),
])
def test_bad_files(tmp_path, make, words):
    path = tmp_path / "p.h5"
    if make:
        make(path)
    with pytest.raises(InputError, match=words):
        read_posterior(path)
