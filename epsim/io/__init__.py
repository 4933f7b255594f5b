"""Files at the edge: results as HDF5 (stable paths, docs/design.md, section 6) and for ParaView.

h5py and meshio are imported when a file is read or written, not at import.
"""

from epsim.io.errors import OutputExistsError
from epsim.io.hdf5 import check_results, read_results, write_results
from epsim.io.paraview import paraview_outputs, write_paraview, write_paraview_set
from epsim.io.results import RegionMetrics, Results, material_metrics

__all__ = [
    "OutputExistsError",
    "RegionMetrics",
    "Results",
    "check_results",
    "material_metrics",
    "paraview_outputs",
    "read_results",
    "write_paraview",
    "write_paraview_set",
    "write_results",
]
