"""One clear message per config problem: file, line, key path and what is wrong.

Validation (pydantic) and the cross-checks after it report problems as `ConfigIssue(loc, problem)`
with `loc` a tuple of keys and indices into the config; the loader turns that into
`ConfigError("file.yaml:12: electrodes[1].diameter: <problem>")`.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Iterable, Sequence

import yaml
from pydantic import ValidationError

from epsim.config.excerpt import excerpt
from epsim.config.schema import UNION_TAGS
from epsim.config.yamlio import ConfigLoader
from epsim.errors import ConfigError

Loc = tuple[Any, ...]


class ConfigIssue(ConfigError):
    """A problem at a key path of a config, not yet tied to a file."""

    def __init__(self, loc: Loc, problem: str):
        self.loc = tuple(loc)
        self.problem = problem
        path = format_path(self.loc)
        super().__init__(f"{path}: {problem}" if path else problem)


def format_path(loc: Sequence[Any]) -> str:
    """('electrodes', 1, 'diameter') -> 'electrodes[1].diameter'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            part = str(part) if len(str(part)) <= 40 else excerpt(str(part)[:40])  # a huge key
            text += f".{part}" if text else part
    return text


def _file_loc(loc: Sequence[Any], data: Any) -> Loc:
    """Drop the union tags pydantic inserts, keeping the keys and indices of the file."""
    kept: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            kept.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int):
            kept.append(part)
            node = node[part] if 0 <= part < len(node) else None
        elif isinstance(part, str) and part in UNION_TAGS:
            continue  # a union tag, not a key of the file
        else:
            kept.append(part)
            node = None
    return tuple(kept)


def _choices(expected: str) -> list[str]:
    return re.findall(r"'([^']*)'", expected)


def _closest(name: Any, choices: Iterable[str]) -> str:
    if len(str(name)) > 100:  # no suggestion for a long value (and no slow comparison)
        return ""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _describe(error: dict) -> tuple[Loc, str]:
    """(extra loc, problem text) for one pydantic error dict."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind in ("at_key", "epsim"):  # raised by epsim.config.schema
        extra = (ctx["key"],) if kind == "at_key" else ()
        return extra, ctx["message"]
    if kind == "missing":
        return (), "missing required key"
    if kind == "literal_error":
        options = _choices(str(ctx.get("expected", "")))
        return (), (
            f"got {excerpt(value)}{_closest(value, options)} (expected one of: {', '.join(options)})"
        )
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return (), f"expected a mapping (key: value), got {excerpt(value)}"
    if kind in ("tuple_type", "list_type"):
        return (), f"expected a list, got {excerpt(value)}"
    if kind == "too_short":
        if ctx.get("min_length") == 1:
            return (), "must not be empty"
        return (), f"expected at least {ctx.get('min_length')} items, got {excerpt(value)}"
    if kind == "too_long":
        return (), f"expected at most {ctx.get('max_length')} items, got {excerpt(value)}"
    if kind == "path_type":
        return (), f"expected a file path, got {excerpt(value)}"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return (), message[len(prefix):]
    if value is not None and not isinstance(value, (dict, list)):
        return (), f"{message[0].lower()}{message[1:]} (got {excerpt(value)})"
    return (), message[0].lower() + message[1:]


def issue_from_validation(exc: ValidationError, data: Any = None, prefix: Loc = ()) -> ConfigIssue:
    """The first problem of a pydantic ValidationError as a ConfigIssue (one message; the
    others are often consequences of the first).

    Args:
        exc: the validation error.
        data: the input that was validated (to tell file keys from union tags).
        prefix: location of `data` inside the whole config.
    """
    first = exc.errors(include_url=False)[0]
    extra, problem = _describe(first)
    loc = _file_loc(first["loc"], data) + extra
    if first["type"] == "missing" and loc and isinstance(loc[-1], int):
        loc, problem = loc[:-1], f"too few values (item [{loc[-1]}] is missing)"
    return ConfigIssue(tuple(prefix) + loc, problem)


def line_of(text: str | None, loc: Sequence[Any]) -> int | None:
    """1-based line of the deepest node along `loc` in the YAML text (None if unknown)."""
    if not text:
        return None
    try:
        node = yaml.compose(text, Loader=ConfigLoader)
    except (yaml.YAMLError, RecursionError):
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def located(issue: ConfigIssue, source: str, text: str | None) -> ConfigError:
    """A ConfigError naming the file, the line (when known), the key path and the problem."""
    line = line_of(text, issue.loc)
    where = f"{source}:{line}" if line else source
    path = format_path(issue.loc)
    return ConfigError(f"{where}: {path}: {issue.problem}" if path else f"{where}: {issue.problem}")
