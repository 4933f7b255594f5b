"""The electrode catalogue (package data `epsim/data/electrodes.yaml`): named clinical models.

    model = electrode_model("VGD-12")          # ElectrodeModel, SI values
    model.geometry["diameter"].value           # 0.0012 (m)
    model.choices("active_length")             # (0.02, 0.03, 0.04) m

A config names a model with `model:` on an electrode of the model's type; `fill_from_model`
(called by the electrode schema before validation) fills the keys the config leaves out with
the model's values, written with their units so that the file's `units:` block does not touch
them; keys the config gives win. Every value carries its source and whether it was checked
against the published tables (`verified`, false for all until someone has).
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from epsim.config.excerpt import excerpt
from epsim.config.units import UnitError, to_si
from epsim.errors import ConfigError

CATALOGUE_FILE = "data/electrodes.yaml"
TYPES = ("needle", "needle_row", "hexagonal_array", "plates")

# The quantity kind of every key a model may state (epsim.config.units.SI_UNITS); None: a count.
KINDS = {
    "diameter": "length", "active_length": "length", "gap": "length", "circumradius": "length",
    "spacing": "length", "length": "length", "row_gap": "length",
    "voltage_to_distance": "field", "voltage": "voltage", "width": "time",
    "pulses": None, "rows": None, "max_needles": None, "count": None,
}


@dataclass(frozen=True)
class Value:
    """One catalogue number: SI value (a float, an int for counts, or a tuple of choices), the
    text as written (with its unit), where it comes from, and whether it was checked."""

    value: Any
    text: Any
    source: str
    verified: bool


@dataclass(frozen=True)
class ElectrodeModel:
    """A named electrode model.

    Attributes:
        name; type: the config electrode type it fills (needle, needle_row, hexagonal_array,
        plates); description; geometry: config keys it fills (a Value each; tuples are
        choices); layout: how several electrodes of the model sit (row gap, rows); protocol:
        the recommended protocol (voltage_to_distance V/m, pulses, width s, voltage V).
    """

    name: str
    type: str
    description: str
    geometry: dict
    layout: dict
    protocol: dict

    def choices(self, key: str) -> tuple:
        """The values a geometry key may take (one for a fixed value), SI."""
        value = self.geometry[key].value
        return value if isinstance(value, tuple) else (value,)


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"electrode catalogue epsim/{CATALOGUE_FILE}: {where}: {message}")


def _value(where: str, key: str, entry: Any) -> Value:
    """A catalogue entry {value | choices, source, verified} checked and converted to SI."""
    if not isinstance(entry, dict) or not isinstance(entry.get("source"), str) \
            or not entry["source"].strip() or not isinstance(entry.get("verified"), bool):
        raise _fail(where, f"{key} needs a value (or choices), a source and verified: true/false")
    if key not in KINDS:
        raise _fail(where, f"unknown key {key!r}")
    kind = KINDS[key]
    raw = entry.get("choices", entry.get("value"))
    items = raw if "choices" in entry else [raw]
    if not isinstance(items, list) or not items:
        raise _fail(where, f"{key}: choices must be a non-empty list")
    converted = []
    for item in items:
        if kind is None:
            if isinstance(item, bool) or not isinstance(item, int) or item < 1:
                raise _fail(where, f"{key}: expected a whole number >= 1, got {excerpt(item)}")
            converted.append(item)
            continue
        try:  # no units context: every number must carry its unit
            si = to_si(item, kind, {})
        except UnitError as exc:
            raise _fail(where, f"{key}: {exc}") from None
        if si <= 0:
            raise _fail(where, f"{key}: must be > 0, got {excerpt(item)}")
        converted.append(si)
    value = tuple(converted) if "choices" in entry else converted[0]
    return Value(value, tuple(items) if "choices" in entry else raw, entry["source"],
                 entry["verified"])


def _model(name: str, entry: Any) -> ElectrodeModel:
    if not isinstance(entry, dict) or entry.get("type") not in TYPES:
        raise _fail(name, f"type must be one of {', '.join(TYPES)}")
    groups = {}
    for group in ("geometry", "layout", "protocol"):
        items = entry.get(group) or {}
        if not isinstance(items, dict):
            raise _fail(name, f"{group} must be a mapping")
        groups[group] = {k: _value(f"{name}.{group}", k, v) for k, v in items.items()}
    return ElectrodeModel(name, entry["type"], str(entry.get("description", "")).strip(),
                          groups["geometry"], groups["layout"], groups["protocol"])


@functools.lru_cache(maxsize=1)
def _catalogue() -> dict[str, ElectrodeModel]:
    source = resources.files("epsim").joinpath(CATALOGUE_FILE)
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise _fail("top level", "expected a mapping of model names")
    return {str(name): _model(str(name), entry) for name, entry in raw.items()}


def electrode_catalogue() -> dict[str, ElectrodeModel]:
    """model name -> ElectrodeModel (SI values) for every model that ships with epsim."""
    return dict(_catalogue())


def unknown_model_message(name: Any, valid=None) -> str:
    """"unknown electrode model 'x'; closest: a, b" (up to three close names, difflib), or the
    list of models when none is close."""
    valid = sorted(valid if valid is not None else _catalogue())
    close = difflib.get_close_matches(str(name), valid, n=3, cutoff=0.5)
    if close:
        return f"unknown electrode model {excerpt(name)}; closest: {', '.join(close)}"
    return f"unknown electrode model {excerpt(name)} (models: {', '.join(valid)})"


def electrode_model(name: Any) -> ElectrodeModel:
    """The catalogue model `name`.

    Raises:
        KeyError: an unknown name; its message suggests the closest names.
    """
    catalogue = _catalogue()
    if not isinstance(name, str) or name not in catalogue:
        raise KeyError(unknown_model_message(name, catalogue))
    return catalogue[name]


def fill_from_model(data: dict, electrode_type: str) -> dict:
    """An electrode's config data with the keys of its `model:` that it leaves out filled in.

    Args:
        data: the electrode's mapping as read (its `model` key names a catalogue model).
        electrode_type: the electrode's `type`.
    Returns:
        A new mapping; the config's own keys unchanged.
    Raises:
        ValueError: (key, message) in args: an unknown model, a model of another type, or a
            choice the config must make (a variable conducting part).
    """
    name = data.get("model")
    try:
        model = electrode_model(name)
    except KeyError as exc:
        raise ValueError("model", exc.args[0]) from None
    if model.type != electrode_type:
        same = sorted(m.name for m in _catalogue().values() if m.type == electrode_type)
        listing = f"; {electrode_type} models: {', '.join(same)}" if same else ""
        raise ValueError("model", f"model {name} is a {model.type} electrode, not a "
                         f"{electrode_type}{listing}")
    out = dict(data)
    for key, value in model.geometry.items():
        if key in out:
            continue
        if isinstance(value.text, tuple):
            if len(value.text) > 1:
                raise ValueError(key, f"model {name} offers {key} of {', '.join(value.text)}: "
                                      f"give {key}")
            out[key] = value.text[0]
        else:
            out[key] = value.text  # with its unit: the file's units: block does not apply
    return out


__all__ = [
    "CATALOGUE_FILE", "ElectrodeModel", "Value", "electrode_catalogue", "electrode_model",
    "fill_from_model", "unknown_model_message",
]
