"""The condition functions (`hit(L)`, `re(R)`, `len(text)`, …): one registry entry each.

An entry says everything the compiler needs about a function in one place: how a call is
checked and bound (its `bind`), what its value is (`Bound.returns`), what evidence it looks at
(`Bound.references`, quoted in findings) and whether it can only be true/non-zero when that
evidence is in the message (`Bound.evidence`, which lets the engine skip the rule otherwise).

Adding a function is one entry: write a `bind(call) -> Bound` and append a
`ConditionFunction` to `ENTRIES` below (docs/rules.md lists the functions for pack authors).
A `bind` raises `ConditionError` (via `call.fail`) for a bad call; the compiler adds file:line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NoReturn

from screener.match.detectors import NAMES as DETECTOR_NAMES
from screener.rules.condition import ConditionError, Evaluator, Node, Reference, Scope, Signals
from screener.rules.fields import BOOL, NUMBER, Types, describe


@dataclass(frozen=True, slots=True)
class Typed:
    """A compiled expression and the kinds of value it can produce."""

    evaluate: Evaluator
    returns: Types


@dataclass(frozen=True, slots=True)
class Bound:
    """A compiled call."""

    evaluate: Evaluator
    returns: Types
    references: frozenset[Reference] = frozenset()
    """evidence the call looks at: its matches are quoted in the rule's finding."""
    evidence: bool = False
    """the value is false/0 unless one of `references` is in the message (see `requirements`)."""
    gate: Callable[[str, float], Reference] | None = None
    """for a signal compared with a constant (`user.events(10m) > 200`): the evidence that
    says the comparison holds, computed per batch, so the engine skips the rule otherwise."""


@dataclass(frozen=True, slots=True)
class Call:
    """A call being compiled: its arguments, the pack's names, and a compiler for arguments
    that are themselves expressions (`len(text)`)."""

    name: str
    args: tuple[Node, ...]
    pos: int
    scope: Scope
    compile: Callable[[Node], Typed]

    def fail(self, reason: str) -> NoReturn:
        raise ConditionError(f"{reason} at column {self.pos}")

    def name_arg(self) -> str:
        """The single bare-name argument (`hit(words)` → "words")."""
        if len(self.args) != 1 or self.args[0].op != "name":
            self.fail(f"{self.name}() takes one name")
        return str(self.args[0].args[0])


@dataclass(frozen=True, slots=True)
class ConditionFunction:
    name: str
    usage: str
    """how it is called, for errors and docs: `hit(LEXICON)`."""
    bind: Callable[[Call], Bound]


# --- the built-in functions -----------------------------------------------------------------


def _lexicon(call: Call) -> tuple[int, Reference]:
    name = call.name_arg()
    if name not in call.scope.lexicons:
        call.fail(f"undefined lexicon {name!r}")
    index = call.scope.lexicons[name]
    return index, Reference("lexicon", index)


def _detector(call: Call, name: str) -> Bound:
    if name not in DETECTOR_NAMES:
        known = ", ".join(sorted(DETECTOR_NAMES))
        raise ConditionError(f"unknown detector {name!r} at column {call.pos} ({known})")
    return Bound(
        lambda s: len(s.detectors.get(name, ())), NUMBER, frozenset({Reference("detector", name)}),
        evidence=True,
    )  # fmt: skip


def _hit(call: Call) -> Bound:
    lex, ref = _lexicon(call)
    return Bound(lambda s: lex in s.lexicons, BOOL, frozenset({ref}), evidence=True)


def _count(call: Call) -> Bound:
    name = call.name_arg()
    if name.startswith("detector."):  # count(detector.phone) is detector(phone)
        return _detector(call, name.split(".", 1)[1])
    lex, ref = _lexicon(call)
    return Bound(lambda s: len(s.lexicons.get(lex, ())), NUMBER, frozenset({ref}), evidence=True)


def _distinct(call: Call) -> Bound:
    lex, ref = _lexicon(call)

    def distinct(s: Signals) -> int:
        return len({h.term for h in s.lexicons.get(lex, ())})

    return Bound(distinct, NUMBER, frozenset({ref}), evidence=True)


def _tag_name(call: Call) -> str:
    tag = call.name_arg()
    if tag not in call.scope.tags:
        raise ConditionError(f"no term carries tag {tag!r} (column {call.pos})")
    return tag


def _tag(call: Call) -> Bound:
    tag = _tag_name(call)
    ref = frozenset({Reference("tag", tag)})
    return Bound(lambda s: len(s.tags.get(tag, ())), NUMBER, ref, evidence=True)


def _tag_distinct(call: Call) -> Bound:
    tag = _tag_name(call)

    def distinct(s: Signals) -> int:
        return len({h.term for h in s.tags.get(tag, ())})

    return Bound(distinct, NUMBER, frozenset({Reference("tag", tag)}), evidence=True)


def _detector_call(call: Call) -> Bound:
    return _detector(call, call.name_arg())


def _re(call: Call) -> Bound:
    name = call.name_arg()
    if name not in call.scope.regexes:
        call.fail(f"undefined regex {name!r}")
    idx = call.scope.regexes[name]
    ref = frozenset({Reference("regex", idx)})
    return Bound(lambda s: len(s.regexes.get(idx, ())), NUMBER, ref, evidence=True)


_SIZED: Types = frozenset({"string", "list"})


def _len(call: Call) -> Bound:
    if len(call.args) != 1:
        call.fail("len() takes one field")
    inner = call.compile(call.args[0])
    if not inner.returns & _SIZED:
        call.fail(f"len() takes a string or a list, not {describe(inner.returns)}")
    value_of = inner.evaluate

    def length(s: Signals) -> int | None:
        value: Any = value_of(s)
        return len(value) if isinstance(value, str | list | tuple) else None

    return Bound(length, frozenset({"number", "null"}))


def _media_type(call: Call) -> Bound:
    kind = call.name_arg()
    return Bound(lambda s: sum(1 for m in s.event.media if m.type == kind), NUMBER)


# --- behaviour: per-user windows, campaigns, hash banks (values from `screener.state`) ------

MAX_WINDOW_SECONDS = 7 * 86400


def _window(call: Call, kind: str) -> Bound:
    """`user.events(10m)`: the value the state computed for this event (see `screener.state`)."""
    from screener.state.behaviour import signal_name
    from screener.state.windows import WindowSpec

    if len(call.args) != 1 or call.args[0].op != "const" or isinstance(call.args[0].args[0], bool) \
            or not isinstance(call.args[0].args[0], int):  # fmt: skip
        call.fail(f"{call.name}() takes a window length such as 10m or 1h")
    seconds = int(call.args[0].args[0])
    if not 10 <= seconds <= MAX_WINDOW_SECONDS or seconds % 10:
        call.fail(f"{call.name}(): a window is a multiple of 10s up to 7d, not {seconds}s")
    name = signal_name(WindowSpec(kind, seconds))
    ref = Reference("signal", name)

    def gate(op: str, value: float) -> Reference:
        return Reference("gate", f"{name}{op}{value}")

    def read(s: Signals) -> int:
        return int(s.behaviour.get(name, 0)) if s.behaviour else 0

    return Bound(read, NUMBER, frozenset({ref}), evidence=True, gate=gate)


def _bank(call: Call) -> Bound:
    name = call.name_arg()
    if name not in call.scope.banks:
        call.fail(f"undefined bank {name!r}")
    ref = Reference("bank", name)
    key = f"bank:{name}"
    return Bound(lambda s: bool(s.behaviour and s.behaviour.get(key)), BOOL, frozenset({ref}),
                 evidence=True)  # fmt: skip


def _windowed(kind: str) -> Callable[[Call], Bound]:
    return lambda call: _window(call, kind)


BEHAVIOUR: tuple[ConditionFunction, ...] = (
    ConditionFunction("user.events", "user.events(WINDOW)", _windowed("events")),
    ConditionFunction("user.media", "user.media(WINDOW)", _windowed("media")),
    ConditionFunction("user.flagged", "user.flagged(WINDOW)", _windowed("flagged")),
    ConditionFunction(
        "user.distinct_conversations",
        "user.distinct_conversations(WINDOW)",
        _windowed("conversations"),
    ),
    ConditionFunction(
        "user.distinct_contacts", "user.distinct_contacts(WINDOW)", _windowed("contacts")
    ),
    ConditionFunction("text.copies", "text.copies(WINDOW)", _windowed("copies")),
    ConditionFunction("text.senders", "text.senders(WINDOW)", _windowed("senders")),
    ConditionFunction("bank", "bank(BANK)", _bank),
)


def _model(call: Call) -> Bound:
    """`model(porn)` (written `model.porn`): the learned model's probability of a category.

    Without a model (the pack declares none and no `--model` is given) it reads 0, so such
    rules are ready for a model but never fire; `screener rules check` says how many there are.
    """
    category = call.name_arg()
    if not category.isidentifier():
        call.fail(f"model.{category}: not a category name")
    if call.scope.model is not None and category not in call.scope.model:
        known = ", ".join(sorted(call.scope.model))
        call.fail(f"the model has no category {category!r} ({known})")
    ref = frozenset({Reference("model", category)})
    return Bound(lambda s: s.model.get(category, 0.0), NUMBER, ref, evidence=True)


ENTRIES: tuple[ConditionFunction, ...] = (
    ConditionFunction("hit", "hit(LEXICON)", _hit),
    ConditionFunction("count", "count(LEXICON)", _count),
    ConditionFunction("distinct", "distinct(LEXICON)", _distinct),
    ConditionFunction("tag", "tag(TAG)", _tag),
    ConditionFunction("tag_distinct", "tag_distinct(TAG)", _tag_distinct),
    ConditionFunction("detector", "detector(DETECTOR)", _detector_call),
    ConditionFunction("re", "re(REGEX)", _re),
    ConditionFunction("len", "len(FIELD)", _len),
    ConditionFunction("media_type", "media_type(TYPE)", _media_type),
    *BEHAVIOUR,
    ConditionFunction("model", "model.CATEGORY", _model),
)

FUNCTIONS: Mapping[str, ConditionFunction] = MappingProxyType({f.name: f for f in ENTRIES})
"""name → entry; read-only (entries are added to `ENTRIES`, never at run time)."""
