"""YAML read with line numbers, so every complaint about a pack can say file:line.

PyYAML's composer keeps a mark on every node; we turn the node tree into plain dicts, lists
and scalars (what pydantic validates) plus a side table from each value's path to its line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from screener.rules.errors import PackError
from screener.rules.files import read_text

PathKey = tuple[str | int, ...]


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


MAX_PACK_BYTES = 4_000_000
"""A pack file above this size is refused before it is parsed (the shipped ones are < 20 kB)."""
MAX_NODES = 200_000
"""YAML values per file, aliases counted as what they expand to (an alias bomb stops here)."""
MAX_ALIASES = 1_000
MAX_DEPTH = 32
"""Nesting of YAML mappings and lists (a pack needs about 6)."""
MAX_NUMBER = 1e12
"""Numbers in a pack (scores, thresholds) are far below this; larger ones are mistakes."""


class _Converter:
    def __init__(self, path: Path):
        self.path = path
        self.lines: dict[PathKey, int] = {}
        self._scalars = yaml.constructor.SafeConstructor()
        self._nodes = 0
        self._aliases = 0
        self._seen: set[int] = set()

    def fail(self, node: yaml.Node, reason: str) -> NoReturn:
        raise PackError([f"{self.path}:{node.start_mark.line + 1}: {reason}"])

    def convert(self, node: yaml.Node, key: PathKey) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            self.fail(node, f"more than {MAX_NODES} YAML values (aliases expanded)")
        if isinstance(node, yaml.CollectionNode):
            if id(node) in self._seen:  # the composer hands an alias the anchored node itself
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    self.fail(node, f"more than {MAX_ALIASES} YAML aliases")
            self._seen.add(id(node))
            if len(key) > MAX_DEPTH:
                self.fail(node, f"nested more than {MAX_DEPTH} levels deep")
        self.lines[key] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                self.fail(node, f"unsupported tag {node.tag}")
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                name = self.convert(knode, (*key, "<key>"))
                if not isinstance(name, str | int | float | bool) and name is not None:
                    self.fail(knode, "a mapping key must be a plain value")
                if name in out:
                    self.fail(knode, f"duplicate key {name!r}")
                child = (*key, str(name))
                out[name] = self.convert(vnode, child)
                self.lines[child] = knode.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self.fail(node, f"unsupported tag {node.tag}")
            return [self.convert(item, (*key, i)) for i, item in enumerate(node.value)]
        if node.tag not in _SCALAR_TAGS:
            self.fail(node, f"unsupported tag {node.tag}")
        try:
            value = self._scalars.construct_object(node)
        except (ValueError, OverflowError) as exc:  # e.g. an int of 5,000 digits
            self.fail(node, f"not a usable number: {str(exc)[:80]}")
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(node, f"{node.value!r} is not a finite number")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and abs(value) > MAX_NUMBER:
            self.fail(node, f"number {node.value[:20]!r}… is larger than {MAX_NUMBER:g}")
        return value


_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null")}
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml when present: parsing the shipped packs takes 25 ms instead of 250."""


def read_source(path: Path, max_bytes: int = MAX_PACK_BYTES) -> SourceFile:
    """Parse one YAML file, refusing syntax errors, limits and duplicate keys with file:line."""
    text = read_text(path, max_bytes)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise PackError([f"{path}:{line}: YAML syntax: {exc.problem or exc.context}"]) from exc
    except yaml.reader.ReaderError as exc:  # control characters, bad encodings
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        what = f"character #x{exc.character:04x}" if isinstance(exc.character, int) else "input"
        raise PackError([f"{path}:{line}: unacceptable {what}: {exc.reason}"]) from exc
    except yaml.YAMLError as exc:
        raise PackError([f"{path}:1: YAML: {str(exc).splitlines()[0]}"]) from exc
    except RecursionError as exc:
        raise PackError([f"{path}:1: YAML nested too deeply"]) from exc
    converter = _Converter(path)
    data = {} if root is None else converter.convert(root, ())
    return SourceFile(path, data, converter.lines)
