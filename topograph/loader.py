"""Read a topology file: YAML to plain data, keeping the line and column of every key and value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from topograph.diagnostics import Pos, Report

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Source:
    """Plain data from a YAML document plus where each part of it was written."""

    file: str
    data: Any
    values: Mapping[PathKey, Pos]
    keys: Mapping[PathKey, Pos]

    def pos(self, path: PathKey, *, key: bool = False) -> Pos:
        """The position of `path`, or of its nearest written ancestor."""
        table = self.keys if key else self.values
        for cut in range(len(path), -1, -1):
            prefix = tuple(path[:cut])
            if prefix in table:
                return table[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return Pos(self.file, 1, 1)


def _mark(file: str, node: yaml.Node) -> Pos:
    return Pos(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Walker:
    def __init__(self, file: str, loader: yaml.SafeLoader, report: Report) -> None:
        self.file = file
        self.loader = loader
        self.report = report
        self.values: dict[PathKey, Pos] = {}
        self.keys: dict[PathKey, Pos] = {}

    def walk(self, node: yaml.Node, path: PathKey) -> Any:
        self.values[path] = _mark(self.file, node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag not in _PLAIN_TAGS:
            self.report.error(
                "TG003",
                _mark(self.file, node),
                f"YAML tag {node.tag!r} is not supported in a topology file",
                hint="remove the tag; topology files use plain YAML values only",
            )
            return None
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.report.error(
                    "TG003", _mark(self.file, key_node), "YAML merge keys (<<) are not supported",
                    hint="write the keys out in full",
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.report.error(
                    "TG003", _mark(self.file, key_node), "a mapping key must be a plain name",
                    hint="use a name such as 'red' or 'eth0' as the key",
                )
                continue
            key = self.loader.construct_object(key_node)
            if key is None or isinstance(key, bool):
                # `null:` or `yes:` as a key is almost always a slip; keep the text the user wrote
                key = key_node.value
            key = str(key)
            if key in out:
                first = self.keys[(*path, key)]
                self.report.error(
                    "TG002",
                    _mark(self.file, key_node),
                    f"duplicate key {key!r} (first given at line {first.line})",
                    hint="remove one of the two, or merge their contents",
                )
                continue
            self.keys[(*path, key)] = _mark(self.file, key_node)
            out[key] = self.walk(value_node, (*path, key))
        return out


_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}


# libyaml's parser when PyYAML was built with it (several times faster on big labs)
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_text(text: str, file: str, report: Report) -> Source | None:
    """Parse YAML text; syntax errors become TG001 diagnostics and give None."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                report.error("TG001", Pos(file, 1, 1), "the file is empty",
                             hint="a topology needs at least a 'nodes:' section")
                return None
            walker = _Walker(file, loader, report)
            data = walker.walk(root, ())
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Pos(file, mark.line + 1, mark.column + 1) if mark else Pos(file, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        report.error("TG001", pos, f"YAML syntax error: {problem}",
                     hint="check indentation, colons and quoting around this place")
        return None
    except yaml.YAMLError as exc:
        report.error("TG001", Pos(file, 1, 1), f"YAML error: {exc}")
        return None
    except RecursionError:
        report.error("TG001", Pos(file, 1, 1), "the YAML document is nested too deeply")
        return None
    return Source(file, data, walker.values, walker.keys)


def load_file(path: str | Path, report: Report) -> Source | None:
    """Read and parse a topology file; I/O and decoding errors become TG000 diagnostics."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        report.error("TG000", Pos(name, 1, 1), f"cannot read the file: {exc.strerror or exc}",
                     hint="check the path and its permissions")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        report.error("TG000", Pos(name, line, 1), "the file is not valid UTF-8 text",
                     hint="save the topology as UTF-8")
        return None
    return load_text(text, name, report)
