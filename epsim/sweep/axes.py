"""Sweep axes: key paths into a config and the values each axis takes.

A key path names one config field as it is written in the file: `materials.tumour.sigma0`,
`protocol.pairs[0].voltage`, `protocol.voltage_to_distance`, `electrodes[1].tip` (a vector) or
`electrodes[1].tip[0]` (one coordinate). Values are generated in the units they are written in
(a bare number is in the file's `units:` block, `"0.2 S/m"` carries its own unit) and put back
into the config as written, so the normal config machinery converts and validates every point.

Kinds (the `sweep:` block of a config, see `epsim.config.schema.SweepBlock`):

- grid: `values` (a list) and `linspace` (start, stop, num); grid axes combine as a product;
- random: `uniform` (low, high), `normal` (mean, std), `lognormal` (median, sigma of the log);
- Latin hypercube: `latin` (low, high), one stratum per sample and component;
- explicit points: the block's `points` list.

Random and Latin axes are drawn together, `samples` rows. Each axis draws from its own stream,
seeded by (seed, path), so adding an axis leaves the others' samples unchanged.

Latin hypercubes come from `scipy.stats.qmc.LatinHypercube` (scrambled, one point per stratum
and component; the components of a vector axis are stratified independently), random draws from
numpy's Generator on the same stream (qmc has no plain random engine). The Latin hypercube was
hand-written before: the same seed gives other samples since then (statistically equivalent:
one per stratum, uniform within it), and the same samples again with the same scipy and numpy.
"""

from __future__ import annotations

import itertools
import re
import zlib
from typing import Any, Sequence

import numpy as np
from scipy.stats import qmc

from epsim.config.issues import ConfigIssue, format_path
from epsim.config.schema import (
    LatinAxis,
    LinspaceAxis,
    LognormalAxis,
    NormalAxis,
    SweepBlock,
    UniformAxis,
    ValuesAxis,
)

Part = str | int
Path = tuple[Part, ...]

_SEGMENT = re.compile(r"^(?P<name>[^.\[\]\s][^.\[\]]*)(?P<index>(?:\[\d+\])*)$")
_NUMBER_AND_UNIT = re.compile(
    r"^\s*(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>.*?)\s*$"
)
RANDOM_KINDS = (UniformAxis, NormalAxis, LognormalAxis)


def parse_path(text: str) -> Path:
    """'electrodes[1].tip' -> ('electrodes', 1, 'tip').

    Raises:
        ValueError: not a key path.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected a key path such as 'materials.tumour.sigma0', got {text!r}")
    parts: list[Part] = []
    for segment in text.strip().split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            raise ValueError(
                f"cannot read {text!r} as a key path: write keys separated by dots and list "
                "indices in brackets, e.g. 'protocol.pairs[0].voltage'"
            )
        parts.append(match["name"])
        parts += [int(i) for i in re.findall(r"\[(\d+)\]", match["index"])]
    return tuple(parts)


def set_path(data: dict, path: Path, value: Any) -> None:
    """Put `value` at `path` into plain config data (in place). Missing mapping keys are
    created (validation then says whether they exist); list indices must exist.

    Raises:
        ConfigIssue: the path runs through something that is not a mapping or list, or past the
            end of a list.
    """
    node: Any = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        here = path[:i]
        if isinstance(part, int):
            if not isinstance(node, list):
                shown = "missing" if node is None else f"{node!r}, not a list"
                raise ConfigIssue(here, f"cannot index [{part}]: the value is {shown}")
            if part >= len(node):
                raise ConfigIssue(
                    here, f"index [{part}] is out of range: the list has {len(node)} item(s)"
                )
        elif not isinstance(node, dict):
            kind = "a list: give an index, e.g. [0]" if isinstance(node, list) else repr(node)
            raise ConfigIssue(here, f"has no key {part!r}: the value is {kind}")
        if last:
            node[part] = value
        else:
            if isinstance(part, str) and node.get(part) is None:
                if isinstance(path[i + 1], int):
                    raise ConfigIssue(path[: i + 1], "missing: the config has no list here")
                node[part] = {}
            node = node[part]


def get_path(obj: Any, path: Path) -> Any:
    """The value at `path` in a (resolved) config model; raises KeyError if there is none."""
    node = obj
    for part in path:
        try:
            if isinstance(part, int) or isinstance(node, dict):
                node = node[part]
            else:
                node = getattr(node, part)
        except (KeyError, IndexError, TypeError, AttributeError):
            raise KeyError(format_path(path)) from None
    return node


def split_unit(value: Any, loc: Path) -> tuple[np.ndarray, str]:
    """A written value as (magnitude array, unit text); '' when the numbers are bare.

    Scalars and (nested) lists of numbers or number-unit strings; every element of one value
    must use the same unit.
    """
    units: set[str] = set()

    def one(v):
        if isinstance(v, bool):
            raise ConfigIssue(loc, f"expected a number, got {v!r}")
        if isinstance(v, (int, float)):
            units.add("")
            return float(v)
        if isinstance(v, str):
            match = _NUMBER_AND_UNIT.match(v)
            if match is None:
                raise ConfigIssue(loc, f"cannot read {v!r} as a number with a unit, e.g. '0.2 S/m'")
            units.add(match["unit"])
            return float(match["number"])
        if isinstance(v, (list, tuple)):
            return [one(x) for x in v]
        raise ConfigIssue(loc, f"expected a number or a list of numbers, got {v!r}")

    magnitude = np.asarray(one(value), dtype=float)
    if len(units) > 1:
        raise ConfigIssue(loc, f"mixes units {sorted(units)}: write every part in one unit")
    return magnitude, units.pop() if units else ""


def _common(loc: Path, **values) -> tuple[dict[str, np.ndarray], str]:
    """Magnitudes of several parameters of one axis, which must share a unit."""
    out, units = {}, {}
    for name, value in values.items():
        out[name], units[name] = split_unit(value, loc + (name,))
    if len(set(units.values())) > 1:
        shown = ", ".join(f"{k}: {v or 'bare number'}" for k, v in units.items())
        raise ConfigIssue(loc, f"write {' and '.join(units)} in one unit ({shown})")
    try:
        np.broadcast_shapes(*(a.shape for a in out.values()))
    except ValueError:
        raise ConfigIssue(loc, "parameters have different lengths") from None
    return out, next(iter(units.values()))


def as_written(magnitude: np.ndarray, unit: str) -> Any:
    """A generated magnitude back as config text: float, '<x> <unit>', or a list of them."""
    if magnitude.ndim:
        return [as_written(m, unit) for m in magnitude]
    x = float(magnitude)
    return f"{x!r} {unit}" if unit else x


def grid_values(spec: ValuesAxis | LinspaceAxis, loc: Path) -> list[Any]:
    if isinstance(spec, ValuesAxis):
        return list(spec.values)
    p, unit = _common(loc, start=spec.start, stop=spec.stop)
    start, stop = np.broadcast_arrays(p["start"], p["stop"])
    return [as_written(m, unit) for m in np.linspace(start, stop, spec.num)]


def _rng(seed: int, path: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(path.encode())])


def sampled_values(spec, path: str, n: int, seed: int, loc: Path) -> list[Any]:
    """`n` draws of one random or Latin-hypercube axis."""
    rng = _rng(seed, path)
    if isinstance(spec, (UniformAxis, LatinAxis)):
        p, unit = _common(loc, low=spec.low, high=spec.high)
        low, high = np.broadcast_arrays(p["low"], p["high"])
        if np.any(high < low):
            raise ConfigIssue(loc + ("high",), "must not be below low")
        shape = (n,) + low.shape
        if isinstance(spec, LatinAxis):
            flat = int(np.prod(low.shape, dtype=int))
            u = qmc.LatinHypercube(d=flat, rng=rng).random(n).reshape(shape)
        else:
            u = rng.random(shape)
        draws = low + (high - low) * u
    elif isinstance(spec, NormalAxis):
        p, unit = _common(loc, mean=spec.mean, std=spec.std)
        if np.any(p["std"] < 0):
            raise ConfigIssue(loc + ("std",), "must be >= 0")
        mean, std = np.broadcast_arrays(p["mean"], p["std"])
        draws = mean + std * rng.standard_normal((n,) + mean.shape)
    else:
        median, unit = split_unit(spec.median, loc + ("median",))
        if np.any(median <= 0):
            raise ConfigIssue(loc + ("median",), "must be > 0")
        draws = median * np.exp(spec.sigma * rng.standard_normal((n,) + median.shape))
    return [as_written(d, unit) for d in draws]


def _overlap(a: Path, b: Path) -> bool:
    return a[: len(b)] == b or b[: len(a)] == a


def expand(block: SweepBlock, loc: Path = ("sweep",)) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """The points of a sweep block: grid x samples x explicit points.

    Returns:
        (key paths in order, points); each point maps key path text -> value as written.
    Raises:
        ConfigIssue: a bad path, parameter or combination.
    """
    paths: dict[str, Path] = {}
    for text in list(block.axes) + [k for point in block.points for k in point]:
        if text in paths:
            continue
        try:
            parsed = parse_path(text)
        except ValueError as exc:
            where = ("axes", text) if text in block.axes else ("points",)
            raise ConfigIssue(loc + where, str(exc)) from None
        for other_text, other in paths.items():
            if _overlap(parsed, other):
                raise ConfigIssue(
                    loc, f"the key paths {other_text!r} and {text!r} overlap: sweep one of them"
                )
        paths[text] = parsed
    point_keys = {k for point in block.points for k in point}
    both = point_keys & set(block.axes)
    if both:
        raise ConfigIssue(loc + ("points",), f"{sorted(both)} are also axes: use one or the other")

    grid = [
        (text, grid_values(spec, loc + ("axes", text)))
        for text, spec in block.axes.items()
        if isinstance(spec, (ValuesAxis, LinspaceAxis))
    ]
    sampled_specs = {
        text: spec for text, spec in block.axes.items() if isinstance(spec, RANDOM_KINDS + (LatinAxis,))
    }
    if sampled_specs and block.samples is None:
        raise ConfigIssue(loc, "missing key 'samples': random and latin axes need a sample count")
    if block.samples is not None and not sampled_specs:
        raise ConfigIssue(loc + ("samples",), "given, but no axis is random or latin")
    n = block.samples or 1
    sampled = {
        text: sampled_values(spec, text, n, block.seed, loc + ("axes", text))
        for text, spec in sampled_specs.items()
    }
    rows = [{text: values[i] for text, values in sampled.items()} for i in range(n)]
    explicit = [dict(p) for p in block.points] or [{}]

    points = []
    for combo in itertools.product(*(values for _, values in grid)):
        base = {text: value for (text, _), value in zip(grid, combo)}
        for row in rows:
            for extra in explicit:
                points.append({**base, **row, **extra})
    order = tuple(paths)
    return order, [{k: p[k] for k in order if k in p} for p in points]


_CALL = re.compile(r"^\s*(?P<kind>[a-z_]+)\s*\((?P<args>.*)\)\s*$", re.S)
_POSITIONAL = {
    "values": None,
    "linspace": ("start", "stop", "num"),
    "uniform": ("low", "high"),
    "normal": ("mean", "std"),
    "lognormal": ("median", "sigma"),
    "latin": ("low", "high"),
}


def parse_axis_option(option: str, load_yaml) -> tuple[str, Any]:
    """`--axis PATH=SPEC` -> (path, spec data). SPEC is a YAML flow value (`[800, 1000]`,
    `{kind: normal, mean: 400, std: 40}`) or a call `kind(args)`: `linspace(800, 1200, 5)`,
    `uniform(0.1 S/m, 0.3 S/m)`, `normal(400, 40)`, `lognormal(0.2, 0.25)`, `latin(4, 6)`,
    `values(1, 2, 3)`.

    Args:
        option: the option's text.
        load_yaml: text -> data (a YAML safe loader).
    Raises:
        ValueError: the option cannot be read.
    """
    path, sep, spec = option.partition("=")
    if not sep or not path.strip() or not spec.strip():
        raise ValueError(f"--axis {option!r}: expected PATH=SPEC, e.g. 'protocol.pairs[0].voltage=[800, 1000]'")
    path = path.strip()
    parse_path(path)
    call = _CALL.match(spec)
    if call and call["kind"] in _POSITIONAL:
        args = load_yaml(f"[{call['args']}]")
        names = _POSITIONAL[call["kind"]]
        if names is None:
            return path, {"kind": "values", "values": args}
        if len(args) != len(names):
            raise ValueError(
                f"--axis {option!r}: {call['kind']} takes {len(names)} values ({', '.join(names)})"
            )
        return path, {"kind": call["kind"], **dict(zip(names, args))}
    return path, load_yaml(spec)


def describe(point: dict[str, Any], limit: int = 4) -> str:
    """'materials.tumour.sigma0=0.21, protocol.pairs[0].voltage=900' (first `limit` keys)."""
    items = [f"{k}={_short(v)}" for k, v in point.items()]
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, str):
        match = _NUMBER_AND_UNIT.match(value)
        if match and match["unit"]:
            return f"{float(match['number']):.6g} {match['unit']}"
    return str(value)


__all__: Sequence[str] = [
    "as_written",
    "describe",
    "expand",
    "get_path",
    "parse_axis_option",
    "parse_path",
    "set_path",
    "split_unit",
]
