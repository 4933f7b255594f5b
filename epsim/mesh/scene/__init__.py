"""Scene specs for mesh generation: domains, inclusions, holes (electrodes), mesh sizes and the
scene checks, as frozen dataclasses in SI metres validated on construction.

No gmsh here: `epsim.mesh.gmsh.build_mesh` meshes a scene, and the config layer builds and checks
scenes (`check_scene`) without loading gmsh. One module per concern:

- `shapes`: the domain (`Box`, `Cylinder`, `Sphere`) and the inclusions (`SphereInclusion`,
  `EllipsoidInclusion`, `BoxInclusion`, `CylinderInclusion`, `TubeInclusion`,
  `layer_inclusions`).
- `stl`: closed surfaces from STL files (`read_stl`, `StlInclusion`).
- `electrodes`: holes (`Needle`, `SphereHole`, `PlateHole`, `plate_pair`) and where a needle's
  hole tools go (`needle_path`); `HoleError` names the holes that do not fit.
- `checks`: `check_scene` (tips inside, holes apart, keep-out structures untouched).
- `spec`: `MeshSizes`, the `Inclusion` and `Hole` unions, `region_names` (by material or by
  name), `region_materials`, `electrode_size`.
- `geometry`: validated vectors and point-segment distances the others share.
- `batch`: signed distances of point arrays and bounds of shapes (vectorised).
- `spatial`: `BoxIndex`, a grid of bounding boxes that keeps checks over many holes linear.

Every public name is re-exported here: `from epsim.mesh.scene import Needle`.
"""

from epsim.mesh.scene.batch import bounds, segment_distances, signed_distances
from epsim.mesh.scene.checks import check_scene
from epsim.mesh.scene.electrodes import (
    Hole,
    HoleError,
    Needle,
    NeedlePath,
    PlateHole,
    SphereHole,
    exit_point,
    exit_points,
    hole_tags,
    needle_path,
    needle_paths,
    plate_axes,
    plate_pair,
)
from epsim.mesh.scene.geometry import (
    Vec3,
    min_on_segment,
    perpendicular_frame,
    point_line_distance,
    point_segment_distance,
    positive_length,
    segment_distance,
    set_fields,
    unit_vector,
    vec3,
)
from epsim.mesh.scene.shapes import (
    Box,
    BoxInclusion,
    Cylinder,
    CylinderInclusion,
    Domain,
    EllipsoidInclusion,
    InclusionOptions,
    Sphere,
    SphereInclusion,
    TubeInclusion,
    layer_inclusions,
)
from epsim.mesh.scene.spec import (
    REGIONS_BY,
    Inclusion,
    MeshSizes,
    electrode_size,
    inclusion_size,
    region_materials,
    region_names,
)
from epsim.mesh.scene.stl import StlInclusion, read_stl

__all__ = [
    "REGIONS_BY",
    "Box",
    "BoxInclusion",
    "Cylinder",
    "CylinderInclusion",
    "Domain",
    "EllipsoidInclusion",
    "Hole",
    "HoleError",
    "Inclusion",
    "InclusionOptions",
    "MeshSizes",
    "Needle",
    "NeedlePath",
    "PlateHole",
    "Sphere",
    "SphereHole",
    "SphereInclusion",
    "StlInclusion",
    "TubeInclusion",
    "Vec3",
    "bounds",
    "check_scene",
    "electrode_size",
    "exit_point",
    "exit_points",
    "hole_tags",
    "inclusion_size",
    "layer_inclusions",
    "min_on_segment",
    "needle_path",
    "needle_paths",
    "plate_axes",
    "plate_pair",
    "perpendicular_frame",
    "point_line_distance",
    "point_segment_distance",
    "positive_length",
    "read_stl",
    "region_materials",
    "region_names",
    "segment_distance",
    "segment_distances",
    "set_fields",
    "signed_distances",
    "unit_vector",
    "vec3",
]
