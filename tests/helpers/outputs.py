"""What an output folder holds, leaving out epsim's manifest of the files it wrote."""

import os

from epsim.io.ownership import MANIFEST


def listing(folder) -> list[str]:
    """Sorted names in `folder` except the manifest `.epsim-outputs`."""
    return sorted(name for name in os.listdir(folder) if name != MANIFEST)
