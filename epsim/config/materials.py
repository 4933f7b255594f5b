"""The materials library (package data `epsim/data/materials.yaml`) and config overrides.

Each library material carries every parameter of `schema.MATERIAL_PARAMETERS` in SI units and a
provenance note per parameter group (electrical, thermal, survival) that says where the numbers
come from and marks engineering defaults, engineering assumptions and [unverified] figures as
such (docs/physics.md, sections 2-4).

A config's `materials:` entry overrides any parameter of the library entry of the same name, or
of the library entry named by `base:`. A name that is neither in the library nor has a `base:`
must give every parameter. The provenance of a group whose parameters a config changed records
that, unless the config gives that group's provenance itself.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError

from epsim.config.issues import ConfigIssue, Loc, issue_from_validation
from epsim.config.schema import MATERIAL_PARAMETERS, PROVENANCE_GROUPS, Config, Material
from epsim.config.units import unknown_name_message
from epsim.errors import ConfigError

LIBRARY_FILE = "data/materials.yaml"


@functools.lru_cache(maxsize=1)
def _library() -> dict[str, Material]:
    source = resources.files("epsim").joinpath(LIBRARY_FILE)
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    materials = {}
    for name, entry in raw.items():
        try:
            # No units context: every library value must carry its unit.
            materials[name] = Material.model_validate(entry, context={"units": {}})
        except ValidationError as exc:
            issue = issue_from_validation(exc, entry, (name,))
            raise ConfigError(f"materials library epsim/{LIBRARY_FILE}: {issue}") from None
    return materials


def material_library() -> dict[str, Material]:
    """name -> Material (SI units) for every material that ships with epsim."""
    return dict(_library())


def used_materials(config: Config) -> dict[str, Loc]:
    """Material names the scene uses, in order of first use, with where each is first named."""
    scene = config.scene
    used: dict[str, Loc] = {}
    if scene.image is not None:
        places: list[tuple[str, Loc]] = [(scene.image.background,
                                          ("scene", "image", "background"))]
        places += [(e.material, ("scene", "image", "labels", v)) for v, e in scene.image.entries()]
    else:
        places = [(scene.domain.material, ("scene", "domain", "material"))]
    for key in ("layers", "structures", "vessels"):
        items = getattr(scene, key)
        places += [(x.material, ("scene", key, i, "material")) for i, x in enumerate(items)]
    places += [(m, ("scene", "mesh", "regions", tag)) for tag, m in scene.mesh.regions.items()]
    for name, loc in places:
        used.setdefault(name, loc)
    return used


def resolve_materials(
    config: Config, library: dict[str, Material] | None = None
) -> dict[str, Material]:
    """Every material the scene uses, and every material the config defines, in full.

    Args:
        config: a validated config (values in SI).
        library: the base materials (default: the package library).

    Returns:
        name -> Material, the scene's materials first, in order of use.

    Raises:
        ConfigIssue: an unknown material, an unknown base, missing parameters of a new material,
            or parameters that are not physical after the override.
    """
    library = material_library() if library is None else library
    used = used_materials(config)
    names = list(used) + [name for name in config.materials if name not in used]
    resolved = {}
    for name in names:
        override = config.materials.get(name)
        if override is None:
            if name not in library:
                valid = set(library) | set(config.materials)
                raise ConfigIssue(used[name], unknown_name_message("material", name, valid))
            resolved[name] = library[name]
        else:
            resolved[name] = _apply_override(name, override, library)
    return resolved


def _apply_override(name: str, override: Any, library: dict[str, Material]) -> Material:
    """Merge a MaterialOverride (or a full Material) onto its base library entry."""
    loc: Loc = ("materials", name)
    explicit_base = getattr(override, "base", None)  # a full Material (re-resolving) has none
    base_name = explicit_base or name
    base = library.get(base_name)
    if base is None and explicit_base is not None:
        raise ConfigIssue(
            loc + ("base",), unknown_name_message("library material", explicit_base, library)
        )
    given = {
        key: value
        for key, value in override.model_dump(exclude={"base", "provenance"}).items()
        if value is not None
    }
    params = base.model_dump(exclude={"provenance"}) if base is not None else {}
    params.update(given)
    missing = [key for key in MATERIAL_PARAMETERS if key not in params]
    if missing:
        raise ConfigIssue(
            loc,
            f"{name!r} is not a library material, so it needs every parameter or a `base:` "
            f"library material to start from; missing: {', '.join(missing)} "
            f"(library materials: {', '.join(sorted(library))})",
        )
    given_provenance = override.provenance.model_dump() if override.provenance else {}
    provenance = {}
    for group in PROVENANCE_GROUPS:
        # Parameters of this group the config sets to a value different from the base's.
        changed = [
            key
            for key, value in given.items()
            if MATERIAL_PARAMETERS[key][1] == group
            and (base is None or value != getattr(base, key))
        ]
        if given_provenance.get(group) is not None:
            provenance[group] = given_provenance[group]
        elif not changed:
            provenance[group] = getattr(base.provenance, group)
        else:
            note = f"{', '.join(changed)} set in the config without a provenance note"
            if base is not None:
                before = getattr(base.provenance, group)
                note += f"; library material {base_name!r} says: {before}"
            provenance[group] = note
    try:
        return Material.model_validate({**params, "provenance": provenance})
    except ValidationError as exc:
        raise issue_from_validation(exc, None, loc) from None
