"""Posterior samples of tissue parameters, as `epsim calibrate` writes them (posterior.h5; the
layout is in `epsim.calibrate.output`), read back for the uncertainty scenarios."""

from __future__ import annotations


import numpy as np

from epsim.errors import InputError
from epsim.io.hdf5 import checked_hdf5_path

FORMAT = "epsim-posterior"
FORMAT_VERSION = 1
MAX_SAMPLES = 10_000_000


def read_posterior(path) -> tuple[tuple[str, ...], np.ndarray]:
    """Parameter names and samples (n, p) of a posterior.h5, checked as a file from anyone.

    Raises:
        InputError: missing, not HDF5, not an epsim posterior, or samples that are not
            positive finite numbers of the named parameters.
    """
    import h5py

    path = checked_hdf5_path(path, "posterior file")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise InputError(f"{path}: not an epsim posterior file (epsim calibrate writes "
                                 "them)")
            names = tuple(n.decode() if isinstance(n, bytes) else str(n)
                          for n in f["parameters/names"][()])
            if f["samples"].size > MAX_SAMPLES:
                raise InputError(f"{path}: more than 10^7 samples")
            samples = np.asarray(f["samples"][()], dtype=float)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not a readable posterior file ({type(exc).__name__})") from None
    if samples.ndim != 2 or samples.shape[1] != len(names) or len(samples) == 0:
        raise InputError(f"{path}: samples of shape {samples.shape} for {len(names)} parameters")
    if not np.all(np.isfinite(samples) & (samples > 0)):
        raise InputError(f"{path}: samples that are not positive finite numbers")
    return names, samples
