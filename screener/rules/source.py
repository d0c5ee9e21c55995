"""YAML read with line numbers, so every complaint about a pack can say file:line.

PyYAML's composer keeps a mark on every node; we turn the node tree into plain dicts, lists
and scalars (what pydantic validates) plus a side table from each value's path to its line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[str | int, ...]


class PackError(Exception):
    """One or more problems in rule packs, each `file:line: reason`."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SourceFile:
    """A parsed pack file: its data and where each piece of it was written."""

    path: Path
    data: Any
    lines: dict[PathKey, int]

    def line(self, key: PathKey) -> int:
        """The line of the deepest existing node on `key` (1-based)."""
        while key not in self.lines and key:
            key = key[:-1]
        return self.lines.get(key, 1)

    def where(self, key: PathKey) -> str:
        return f"{self.path}:{self.line(key)}"


class _Converter:
    def __init__(self, path: Path):
        self.path = path
        self.lines: dict[PathKey, int] = {}
        self._scalars = yaml.constructor.SafeConstructor()

    def convert(self, node: yaml.Node, key: PathKey) -> Any:
        self.lines[key] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                name = self.convert(knode, (*key, "<key>"))
                if name in out:
                    line = knode.start_mark.line + 1
                    raise PackError([f"{self.path}:{line}: duplicate key {name!r}"])
                child = (*key, str(name))
                out[name] = self.convert(vnode, child)
                self.lines[child] = knode.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*key, i)) for i, item in enumerate(node.value)]
        if node.tag not in _SCALAR_TAGS:
            raise PackError([f"{self.path}:{node.start_mark.line + 1}: unsupported tag {node.tag}"])
        return self._scalars.construct_object(node)


_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null")}


def read_source(path: Path) -> SourceFile:
    """Parse one YAML file, refusing syntax errors and duplicate keys with file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError([f"{path}:1: cannot read: {exc}"]) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise PackError([f"{path}:{line}: YAML syntax: {exc.problem}"]) from exc
    converter = _Converter(path)
    data = {} if root is None else converter.convert(root, ())
    return SourceFile(path, data, converter.lines)
