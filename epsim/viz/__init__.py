"""Pictures of a run: 3-D overview (pyvista, optional extra `viz`; opaque surfaces, the field
surfaces cut open), planar slices (matplotlib; by default through the first pair's electrodes and
cropped to the target, `epsim.viz.plane`) and field-volume histograms. Heavy imports happen when
a picture is drawn, not at import."""

from epsim.viz.histogram import histogram
from epsim.viz.render import render_overview
from epsim.viz.slice import render_slice

__all__ = ["histogram", "render_overview", "render_slice"]
