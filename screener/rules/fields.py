"""Event fields a condition may read, and the kinds of value each can hold.

Derived from the event models themselves (`screener.events`), so a field added there is usable
in rules at once and a rule cannot read anything else: `user.__class__` or a field no event
has is refused when the pack is compiled, and so is `len()` of a number or `<` on a string —
mistakes that would otherwise compile and then be false (or fail) on every event.
"""

from __future__ import annotations

import datetime
import types
import typing
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from screener.events import ChatEvent, MicroblogEvent

ValueType = Literal["number", "string", "bool", "list", "object", "time", "null"]
Types = frozenset[ValueType]

ANY: Types = frozenset(get_args(ValueType))
NUMBER: Types = frozenset({"number"})
BOOL: Types = frozenset({"bool"})


def _kinds(annotation: Any) -> tuple[set[ValueType], type[BaseModel] | None]:
    """The value kinds of one annotation, and the model when it is (or may be) an object."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _kinds(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: set[ValueType] = set()
        model: type[BaseModel] | None = None
        for arg in get_args(annotation):
            kinds, sub = _kinds(arg)
            out |= kinds
            model = model or sub
        return out, model
    if origin is Literal:
        values = get_args(annotation)
        return {"string" if isinstance(values[0], str) else "number"}, None
    if origin is list:
        return {"list"}, None
    if annotation is type(None):
        return {"null"}, None
    if annotation is bool:  # before int: bool is an int subclass
        return {"bool"}, None
    if annotation in (int, float):
        return {"number"}, None
    if annotation is str:
        return {"string"}, None
    if annotation is datetime.datetime:
        return {"time"}, None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"object"}, annotation
    raise TypeError(f"no value kind for {annotation!r}")  # pragma: no cover - models are ours


@lru_cache(maxsize=1)
def event_fields() -> Mapping[str, Types]:
    """Dotted path → kinds, over every event kind (a field one kind lacks can be null)."""
    found: dict[str, set[ValueType]] = {}
    models: tuple[type[BaseModel], ...] = (ChatEvent, MicroblogEvent)

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            kinds, sub = _kinds(info.annotation)
            path = f"{prefix}{name}"
            found.setdefault(path, set()).update(kinds)
            if sub is not None:
                walk(sub, f"{path}.")

    for model in models:
        walk(model, "")
    for path in found:
        if not all(path in _paths(m) for m in models):
            found[path].add("null")
    return {path: frozenset(kinds) for path, kinds in found.items()}


def _paths(model: type[BaseModel]) -> set[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():
        out.add(name)
        _, sub = _kinds(info.annotation)
        if sub is not None:
            out |= {f"{name}.{p}" for p in _paths(sub)}
    return out


def field_types(path: str) -> Types | None:
    """The kinds of value an event field holds, or None if no event has it."""
    return event_fields().get(path)


def describe(kinds: Types) -> str:
    """`a number or null`, for error messages."""
    names = sorted(kinds)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
