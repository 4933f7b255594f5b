"""Reading config YAML that may come from anyone: bounded in size, depth, aliases and numbers.

    text = read_config_text(path)        # at most MAX_CONFIG_BYTES, UTF-8
    data = parse_yaml(text, source)      # plain data; ConfigError naming file and line

A safe loader (no python or custom tags) that also refuses duplicate keys, nesting deeper than
MAX_DEPTH, more than MAX_ALIASES aliases, a document that expands to more than MAX_NODES nodes
through its aliases (an "alias bomb" of a few hundred bytes can expand to gigabytes), recursive
aliases, and integers too long to be a count or a coordinate. Each is one ConfigError naming the
file and line, never the expanded value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from epsim.config.excerpt import excerpt
from epsim.errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20  # 1 MiB: the largest shipped config is 3 kB
MAX_DEPTH = 32  # configs nest about 6 deep
MAX_ALIASES = 64
MAX_NODES = 1_000_000  # after expanding aliases
MAX_INT_DIGITS = 18  # beyond any count or coordinate; Python refuses 4300 digits with a traceback


class ConfigLoader(yaml.SafeLoader):
    """yaml.SafeLoader with the limits of this module and duplicate keys refused."""

    def __init__(self, stream):
        super().__init__(stream)
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent, index):
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise ComposerError(None, None, f"more than {MAX_ALIASES} aliases (*name); "
                                    "write the values out", mark)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def get_single_data(self):
        node = self.get_single_node()
        if node is None:
            return None
        count_nodes(node)
        return self.construct_document(node)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise ConstructorError(None, None, f"duplicate key {key_node.value[:60]!r}",
                                           key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        digits = sum(c.isdigit() for c in node.value)
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(None, None, f"an integer of {digits} digits is out of range "
                                   f"(at most {MAX_INT_DIGITS})", node.start_mark)
        value = super().construct_yaml_int(node)
        if abs(value) >= 10**MAX_INT_DIGITS:  # 0b and 0x forms are shorter than their value
            raise ConstructorError(None, None, f"the integer {node.value[:30]} is out of range",
                                   node.start_mark)
        return value


ConfigLoader.add_constructor("tag:yaml.org,2002:int", ConfigLoader.construct_yaml_int)


def count_nodes(root) -> int:
    """Nodes of the document with every alias expanded (shared nodes counted once per use,
    computed once each); refuses recursive aliases and more than MAX_NODES."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ComposerError(None, None, "a recursive alias (an anchor used inside itself)",
                                node.start_mark)
        active.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item) for item in node.value)
        else:
            total = 1
        active.discard(key)
        if total > MAX_NODES:
            raise ComposerError(None, None, f"the document expands to more than {MAX_NODES} "
                                "values through its aliases", node.start_mark)
        sizes[key] = total
        return total

    return size(root)


def read_config_text(path: str | Path) -> str:
    """The text of a config file: UTF-8, at most MAX_CONFIG_BYTES (read no further, so a
    device or a pipe cannot make it read forever).

    Raises:
        ConfigError: unreadable, too big, not UTF-8.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if not os.path.isfile(path) and not _is_pipe(f):
                raise ConfigError(f"{path}: not a regular file")
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: the file is larger than {MAX_CONFIG_BYTES // 1024} KiB, "
                          "the limit for a config")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _is_pipe(f) -> bool:
    import stat

    return stat.S_ISFIFO(os.fstat(f.fileno()).st_mode)  # `epsim check <(cat config.yaml)`


def parse_yaml(text: str, source: str) -> Any:
    """Plain data from YAML text with the limits of this module.

    Raises:
        ConfigError: "<source>:<line>: YAML error: <problem> (column c)".
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: the text is longer than {MAX_CONFIG_BYTES // 1024} KiB, "
                          "the limit for a config")
    try:
        return yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        column = f" (column {mark.column + 1})" if mark else ""
        hint = ""
        if "constructor for the tag" in str(exc.problem):
            hint = "; only plain YAML is accepted (no python or custom tags)"
        problem = re.sub(r"'([^']{40,})'", lambda m: excerpt(m.group(1)),  # a 10 kB tag
                         " ".join(str(exc.problem).split()))
        raise ConfigError(f"{where}: YAML error: {problem}{column}{hint}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {' '.join(str(exc).split())[:200]}") from None
    except RecursionError:  # a guard above should have caught it first
        raise ConfigError(f"{source}: YAML error: nested too deeply") from None
