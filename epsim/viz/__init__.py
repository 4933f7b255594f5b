"""Pictures of a run: 3-D overview (pyvista, optional extra `viz`), planar slice and field-volume
histograms (matplotlib). Heavy imports happen when a picture is drawn, not at import."""

from epsim.viz.histogram import histogram
from epsim.viz.render import render_overview
from epsim.viz.slice import render_slice

__all__ = ["histogram", "render_overview", "render_slice"]
