"""Patient anatomy from images: label maps (NIfTI, DICOM + RTSTRUCT) in, tagged meshes out, and
results resampled back onto the image grid.

The one convention: world coordinates are RAS+ millimetres as in NIfTI (stated exactly in
`epsim.imaging.labelmap`); DICOM's LPS+ is converted explicitly where it is read.
"""

from epsim.imaging.labelmap import LabelImage

__all__ = ["LabelImage"]
