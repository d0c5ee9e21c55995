"""Rule conditions over a whole batch at once: which messages a rule MAY fire for.

Long: one evaluator per node kind and the per-batch arrays they read belong together.

The per-message closures (`screener.rules.compiler`) are exact but cost Python work per
message and rule: profiled on `screener scan --text`, where every line comes from one
pseudo-user whose posting-rate gate holds, rule evaluation was ~half of screening. Here the
same tree is evaluated as numpy arrays over the batch: evidence counts, model scores, window
values and event fields become one array each, `and`/`or`/`not`/comparisons become array
operations, and only messages for which some rule may fire reach Python, which then decides
and assembles their verdicts exactly as before.

Three-valued, so that anything not understood here stays correct: every condition gives
(`may`, `must`) masks. A shape this module does not vectorise (`in`, lists, a bare field as a
truth value, …) is "unknown": may everywhere, must nowhere. `not` swaps the two, `and`/`or`
combine each, so `may` is always a superset of where the condition holds and `must` a subset;
a message outside every rule's `may` cannot get a finding, and skipping it changes nothing
(`tests/unit/test_batch_rules.py` checks both bounds against the closures, and that they are
tight for the shipped packs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from screener.match.lexicon import Hit
from screener.rules.compiler import Compiler
from screener.rules.condition import Node, Scope

Mask = npt.NDArray[np.bool_]
Values = npt.NDArray[np.float64]
Truth = tuple[Mask, Mask]
"""(may, must): where the condition can hold, and where it certainly holds."""

_PLAIN_NUMBERS = frozenset({int, float, type(None)})
_EXACT_INT = 2**53
_SCALARS = frozenset({str, bool, int, float, type(None)})
"""Numbers beyond this lose precision as float64: such a batch's field is left unknown."""


@dataclass(eq=False)
class BatchSignals:
    """A batch's evidence as the engine found it, turned into arrays on first use (a pack
    reads a few dozen of the possible arrays, so none is built unless a rule asks)."""

    events: Sequence[Any]
    lexicons: dict[int, list[Hit]]
    detectors: dict[int, dict[str, list[Hit]]]
    regexes: dict[int, dict[int, list[Hit]]]
    model: dict[int, dict[str, float]]
    windows: dict[str, npt.NDArray[np.int64]] | None = None
    """signal values per event, or None when the batch is screened without state."""
    flags: dict[int, dict[str, Any]] = field(default_factory=dict)
    """per message, the gates and banks that hold (what `Row` reads)."""
    signals_unknown: bool = False
    """signals and banks are not known yet: they compare as unknown (`screener.rules.pregate`
    asks where rules may fire before the state reads any signal)."""
    _memo: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.events)

    def _zeros(self) -> Values:
        return np.zeros(self.n, np.float64)

    def _lexicon_tables(self) -> tuple[dict[int, Values], dict[int, Values],
                                       dict[str, Values], dict[str, Values]]:  # fmt: skip
        """Counts and distinct-term counts per lexicon and per tag, in one pass over hits."""
        key = ("lexicon-tables",)
        if key not in self._memo:
            count: dict[int, Values] = {}
            distinct: dict[int, Values] = {}
            tag_count: dict[str, Values] = {}
            tag_distinct: dict[str, Values] = {}
            for i, hits in self.lexicons.items():
                seen: set[tuple[int, str]] = set()
                seen_tag: set[tuple[str, str]] = set()
                for hit in hits:
                    term = hit.source
                    assert term is not None
                    lex = term.lexicon
                    _bump(count, lex, i, self)
                    if (lex, hit.term) not in seen:
                        seen.add((lex, hit.term))
                        _bump(distinct, lex, i, self)
                    for tag in term.tags:
                        _bump(tag_count, tag, i, self)
                        if (tag, hit.term) not in seen_tag:
                            seen_tag.add((tag, hit.term))
                            _bump(tag_distinct, tag, i, self)
            self._memo[key] = (count, distinct, tag_count, tag_distinct)
        out: tuple[dict[int, Values], dict[int, Values], dict[str, Values], dict[str, Values]]
        out = self._memo[key]
        return out

    def _keyed(self, what: str) -> dict[Any, Values]:
        """Counts per detector name / regex index, or model score per category."""
        if (what,) not in self._memo:
            table: dict[Any, Values] = {}
            sources: dict[str, dict[int, Any]] = {
                "detector": self.detectors, "regex": self.regexes, "model": self.model
            }  # fmt: skip
            source = sources[what]
            for i, found in source.items():
                for k, v in found.items():
                    column = table.get(k)
                    if column is None:
                        column = table[k] = self._zeros()
                    column[i] = v if what == "model" else len(v)
            self._memo[(what,)] = table
        out: dict[Any, Values] = self._memo[(what,)]
        return out

    def evidence(self, kind: str, key: Any) -> Values:
        if kind in ("count", "distinct", "tag", "tag_distinct"):
            tables = self._lexicon_tables()
            table = tables[("count", "distinct", "tag", "tag_distinct").index(kind)]
            return table.get(key, self._zeros())
        return self._keyed(kind).get(key, self._zeros())

    def window(self, name: str) -> Values | None:
        """What `Row.get` gives a rule: the value, for messages with some flag (a row without
        flags is falsy, so the closures read 0 there), else 0."""
        if self.signals_unknown:
            return None
        key = ("window", name)
        if key not in self._memo:
            out = self._zeros()
            column = self.windows.get(name) if self.windows is not None else None
            if column is not None and self.flags:
                rows = np.fromiter(self.flags, np.int64, len(self.flags))
                out[rows] = column[rows]
            self._memo[key] = out
        value: Values = self._memo[key]
        return value

    def bank(self, name: str) -> Values | None:
        if self.signals_unknown:
            return None
        key = f"bank:{name}"
        out = self._zeros()
        for i, flags in self.flags.items():
            if flags.get(key):
                out[i] = 1.0
        return out

    def field(self, path: str) -> list[Any]:
        """An event field's value per event, as the closures read it (None when absent)."""
        key = ("field", path)
        if key not in self._memo:
            try:  # C-speed where every event has the whole path, which is the usual case
                values = list(map(attrgetter(path), self.events))
            except AttributeError:  # some step is None or absent: the closures read None
                parts = path.split(".")
                values = []
                for event in self.events:
                    value: Any = event
                    for part in parts:
                        value = getattr(value, part, None)
                        if value is None:
                            break
                    values.append(value)
            self._memo[key] = values
        out: list[Any] = self._memo[key]
        return out


def _bump(table: dict[Any, Values], key: Any, i: int, b: BatchSignals) -> None:
    column = table.get(key)
    if column is None:
        column = table[key] = b._zeros()
    column[i] += 1


ValueFn = Callable[[BatchSignals], Values | None]
"""A vectorised value: float64 per message (NaN where the closure gives None), or None when
this batch's values cannot be represented exactly (then the comparison is unknown)."""
TruthFn = Callable[[BatchSignals], Truth]
_ORDERED: dict[str, Callable[[Any, Any], Mask]] = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
}  # fmt: skip
_EQUALITY: dict[str, Callable[[Any, Any], Mask]] = {"==": np.equal, "!=": np.not_equal}


def _unknown(b: BatchSignals) -> Truth:
    return np.ones(b.n, bool), np.zeros(b.n, bool)


class BatchCompiler:
    """Turns a (macro-expanded) condition tree into a `TruthFn`; never fails: what it does not
    vectorise becomes unknown."""

    def __init__(self, scope: Scope):
        self._compiler = Compiler(scope)

    def truth(self, node: Node) -> TruthFn:
        """Memoised per batch on the node's shape: macros (`has_contact`, `trusted_account`)
        are inlined into dozens of rules and would otherwise be recomputed for each."""
        fn = self._truth(node)
        if fn is _unknown:
            return fn
        key = ("truth", _shape(node))

        def memo(b: BatchSignals) -> Truth:
            found: Truth | None = b._memo.get(key)
            if found is None:
                found = b._memo[key] = fn(b)
            return found

        return memo

    def _truth(self, node: Node) -> TruthFn:
        op = node.op
        if op in ("and", "or"):
            parts = [self.truth(a) for a in node.args]
            combine = np.logical_and if op == "and" else np.logical_or

            def chain(b: BatchSignals) -> Truth:
                may, must = parts[0](b)
                for part in parts[1:]:
                    # settled for the whole batch (`and` false, `or` true everywhere): the
                    # rest cannot change it, and most rules open with a sparse `hit(…)`
                    if not may.any() if op == "and" else must.all():
                        break
                    m, s = part(b)
                    may, must = combine(may, m), combine(must, s)
                return may, must

            return chain
        if op == "not":
            inner = self.truth(node.args[0])

            def negate(b: BatchSignals) -> Truth:
                may, must = inner(b)
                return ~must, ~may

            return negate
        if op == "cmp":
            return self._compare(node)
        if op == "call":
            value = self._value(node)
            if value is not None:
                found = value

                def truthy(b: BatchSignals) -> Mask | None:
                    values = found(b)
                    return None if values is None else _nonzero(values)

                return _exact(truthy)
        if op == "const" and not isinstance(node.args[0], list):
            constant = bool(node.args[0])
            return lambda b: (np.full(b.n, constant), np.full(b.n, constant))
        return _unknown

    def _compare(self, node: Node) -> TruthFn:
        text, left, right = node.args
        if text in _EQUALITY and (_is_field(left) or _is_field(right)):
            return self._field_equality(text, left, right)
        fn = _ORDERED.get(text) or _EQUALITY.get(text)
        lv, rv = self._value(left), self._value(right)
        if fn is None or lv is None or rv is None:
            return _unknown
        lf, rf = lv, rv

        def compare(b: BatchSignals) -> Mask | None:
            a, c = lf(b), rf(b)
            if a is None or c is None:
                return None
            # NaN stands for None: ordered comparisons and `==` give False there, `!=` True,
            # as the closures do (they return False for None in <, <=, >, >=)
            result: Mask = fn(a, c)
            return result

        return _exact(compare)

    def _field_equality(self, text: str, left: Node, right: Node) -> TruthFn:
        """`kind == "microblog"`, `user.verified == true`: Python's own `==` per event, once
        per batch (event fields hold strings, bools, None: no array type is exact for all)."""
        sides = [self._object(n) for n in (left, right)]
        if sides[0] is None or sides[1] is None:
            return _unknown
        lo, ro = sides[0], sides[1]
        negate = text == "!="

        def equal(b: BatchSignals) -> Mask:
            a, c = lo(b), ro(b)
            if len(set(map(type, a))) == 1 and len(set(map(type, c))) == 1 and type(a[0]) in \
                    _SCALARS and type(c[0]) in _SCALARS:  # fmt: skip
                # one plain type a side (the usual case): numpy's object `==` is Python's
                same: Mask = np.fromiter(a, object, b.n) == np.fromiter(c, object, b.n)
                return ~same if negate else same
            return np.fromiter((bool(x == y) is not negate for x, y in zip(a, c, strict=True)),
                               bool, b.n)  # fmt: skip

        return _exact(equal)

    def _object(self, node: Node) -> Callable[[BatchSignals], Sequence[Any]] | None:
        if _is_field(node):
            path = str(node.args[0])
            return lambda b: b.field(path)
        if node.op == "const" and not isinstance(node.args[0], list):
            value = node.args[0]
            return lambda b: [value] * b.n
        return None

    def _value(self, node: Node) -> ValueFn | None:
        fn = self._raw_value(node)
        if fn is None or node.op == "const":
            return fn
        key, inner = ("value", _shape(node)), fn

        def memo(b: BatchSignals) -> Values | None:
            if key not in b._memo:
                b._memo[key] = inner(b)
            found: Values | None = b._memo[key]
            return found

        return memo

    def _raw_value(self, node: Node) -> ValueFn | None:
        if node.op == "const":
            value = node.args[0]
            if isinstance(value, int | float) and abs(value) < _EXACT_INT:
                number = float(value)
                return lambda b: np.full(b.n, number)
            return None
        if node.op == "call":
            return self._call(node)
        if _is_field(node):
            path = str(node.args[0])
            return lambda b: _numbers(b.field(path))
        return None

    def _call(self, node: Node) -> ValueFn | None:
        name = node.args[0]
        if name == "len":
            arg = node.args[1] if len(node.args) == 2 else None
            if arg is None or not _is_field(arg):
                return None
            path = str(arg.args[0])
            return lambda b: np.array(
                [len(v) if isinstance(v, str | list | tuple) else np.nan for v in b.field(path)],
                np.float64,
            )
        if name == "media_type":
            kind = node.args[1].args[0]
            return lambda b: np.array(
                [sum(1 for m in e.media if m.type == kind) if e.media else 0 for e in b.events],
                np.float64,
            )
        bound = self._compiler.bind(node)
        if len(bound.references) != 1:
            return None
        (ref,) = bound.references
        key = ref.key
        if ref.kind == "lexicon":
            if name == "hit":
                return lambda b: _nonzero(b.evidence("count", key)).astype(np.float64)
            if name in ("count", "distinct"):
                how = str(name)
                return lambda b: b.evidence(how, key)
            return None
        if ref.kind == "tag" and name in ("tag", "tag_distinct"):
            how = str(name)
            return lambda b: b.evidence(how, key)
        if ref.kind in ("detector", "regex", "model"):
            kind = ref.kind
            return lambda b: b.evidence(kind, key)
        if ref.kind == "signal":
            return lambda b: b.window(str(key))
        if ref.kind == "bank":
            return lambda b: b.bank(str(key))
        return None


def _shape(node: Any) -> Any:
    """A node without its source positions: equal for every inlined copy of a macro."""
    if isinstance(node, Node):
        return (node.op, *(_shape(a) for a in node.args))
    if isinstance(node, list | tuple):
        return tuple(_shape(a) for a in node)
    return node if not isinstance(node, bool) else ("bool", node)  # True == 1 in a key


def _is_field(node: Node) -> bool:
    return node.op == "name"


def _nonzero(values: Values) -> Mask:
    """Python truthiness of the closures' values: NaN stands for None, which is falsy."""
    out: Mask = (values != 0) & (values == values)
    return out


def _numbers(values: list[Any]) -> Values | None:
    """Field values as float64 with NaN for None; None if one is not an exact number (a
    string, a huge int): the closures compare those differently, so leave it unknown."""
    kinds = set(map(type, values))
    if kinds <= _PLAIN_NUMBERS:  # numpy turns None into NaN itself; bools take the loop
        out = np.array(values, np.float64)
        if int not in kinds or not (np.abs(out[~np.isnan(out)]) >= _EXACT_INT).any():
            return out
    out = np.empty(len(values), np.float64)
    for i, v in enumerate(values):
        if v is None:
            out[i] = np.nan
        elif isinstance(v, int | float) and abs(v) < _EXACT_INT and v == v:
            out[i] = v
        else:
            return None
    return out


def _exact(fn: Callable[[BatchSignals], Mask | None]) -> TruthFn:
    def exact(b: BatchSignals) -> Truth:
        mask = fn(b)
        if mask is None:
            return _unknown(b)
        return mask, mask

    return exact


@dataclass(frozen=True, slots=True)
class BatchRule:
    """A rule's condition and exceptions over a batch."""

    condition: TruthFn
    exceptions: tuple[TruthFn, ...] = ()

    def may_fire(self, b: BatchSignals) -> Mask:
        """Where the rule can fire: the condition may hold and no exception surely holds."""
        may, _ = self.condition(b)
        for exception in self.exceptions:
            if not may.any():
                break
            _, must = exception(b)
            may = may & ~must
        return may

    def must_fire(self, b: BatchSignals) -> Mask:
        _, must = self.condition(b)
        for exception in self.exceptions:
            may, _ = exception(b)
            must = must & ~may
        return must


def compile_batch(tree: Node, exceptions: Sequence[Node], scope: Scope) -> BatchRule:
    compiler = BatchCompiler(scope)
    return BatchRule(compiler.truth(tree), tuple(compiler.truth(e) for e in exceptions))


BATCH_RULES_FROM = 64
"""Candidate messages (and at least half the batch) from which rules are evaluated over the
batch as arrays: measured, with fewer the ~70 rules' array operations cost more than the
per-message plans they replace."""
BATCH_RULES_SHARE = 0.5


class Evidence(Protocol):
    """What the engine found in a batch (`screener.evidence.Evidence`)."""

    @property
    def lexicons(self) -> dict[int, list[Hit]]: ...
    @property
    def detectors(self) -> dict[int, dict[str, list[Hit]]]: ...
    @property
    def regexes(self) -> dict[int, dict[int, list[Hit]]]: ...
    @property
    def model(self) -> dict[int, dict[str, float]]: ...


def candidates(
    rules: Sequence[BatchRule] | None, events: Sequence[Any], evidence: Evidence,
    messages: set[int], windows: dict[str, npt.NDArray[np.int64]] | None,
    flags: dict[int, dict[str, Any]], always: bool,
) -> Iterable[int]:  # fmt: skip
    """The messages worth evaluating rules for in Python, in order: those with evidence (all
    of them when some rule needs none), narrowed by the batch evaluator to those some rule
    may fire for when there are many (profiled: Python rule evaluation was ~half of
    screening when a gate lifts every message; with few, arrays cost more than they save)."""
    many = len(events) if always else len(messages)
    if rules is None or many < max(BATCH_RULES_FROM, len(events) * BATCH_RULES_SHARE):
        return range(len(events)) if always else sorted(messages)
    b = BatchSignals(events, evidence.lexicons, evidence.detectors, evidence.regexes,
                     evidence.model, windows, flags)  # fmt: skip
    return may_fire(rules, b)


def may_fire(rules: Sequence[BatchRule], b: BatchSignals) -> list[int]:
    """Messages for which at least one of `rules` may fire, in order."""
    any_may = np.zeros(b.n, bool)
    for rule in rules:
        any_may |= rule.may_fire(b)
    out: list[int] = np.flatnonzero(any_may).tolist()
    return out
