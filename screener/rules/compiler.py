"""Parsed conditions → closures, type-checked against the event fields and the pack's names.

Everything about a function call comes from its registry entry (`screener.rules.functions`);
this module only knows the language itself: and/or/not, comparisons, constants, lists, field
names and macros. `references` and `requirements` are the static analyses the engine plans with.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from screener.rules.condition import ConditionError, Evaluator, Node, Reference, Scope, Signals
from screener.rules.fields import ANY, BOOL, NUMBER, Types, describe, field_types
from screener.rules.functions import FUNCTIONS, Bound, Call, Typed

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}  # fmt: skip
_CONTAINERS: Types = frozenset({"list", "string"})
MAX_EXPANDED_NODES = 20_000
"""Terms of one condition after macros are inlined (the largest shipped rule has ~100)."""
MAX_EXPANDED_DEPTH = 100
"""Nesting after macros are inlined (each condition alone is at most `MAX_DEPTH` deep)."""


def _const_types(value: object) -> Types:
    if value is None:
        return frozenset({"null"})
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    return frozenset({"string"})


def _field_getter(path: str) -> Evaluator:
    parts = path.split(".")

    def get(s: Signals) -> Any:
        value: Any = s.event
        for part in parts:
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    return get


class Compiler:
    """Compiles parsed conditions against one pack's scope."""

    def __init__(self, scope: Scope):
        self.scope = scope

    def expand(self, node: Node, seen: tuple[str, ...] = ()) -> Node:
        """Inline macros (refusing cycles) so later passes see one tree.

        Bounded: macros that each use the previous one twice (`m1: m0 and m0`, …) double the
        tree per level, so the expanded size and depth are capped.
        """
        return self._expand(node, seen, [0], 0)

    def _expand(self, node: Node, seen: tuple[str, ...], size: list[int], depth: int) -> Node:
        size[0] += 1
        if size[0] > MAX_EXPANDED_NODES:
            raise ConditionError(f"expands (macros inlined) to more than {MAX_EXPANDED_NODES} "
                                 "terms")  # fmt: skip
        if depth > MAX_EXPANDED_DEPTH:
            raise ConditionError(f"nested (macros inlined) more than {MAX_EXPANDED_DEPTH} deep")
        if node.op == "name" and node.args[0].startswith("model."):  # model.porn is model(porn)
            return Node("call", ("model", Node("name", (node.args[0][6:],), node.pos)), node.pos)
        if node.op == "name" and node.args[0] in self.scope.macros:
            name = node.args[0]
            if name in seen:
                raise ConditionError(f"circular macro: {' -> '.join((*seen, name))}")
            return self._expand(self.scope.macros[name], (*seen, name), size, depth + 1)
        if node.op in ("and", "or", "not", "list"):
            args = tuple(self._expand(a, seen, size, depth + 1) for a in node.args)
            return Node(node.op, args, node.pos)
        if node.op == "cmp":
            op, left, right = node.args
            left = self._expand(left, seen, size, depth + 1)
            return Node("cmp", (op, left, self._expand(right, seen, size, depth + 1)), node.pos)
        return node

    def compile(self, node: Node) -> Evaluator:
        return self.typed(node).evaluate

    def bind(self, node: Node) -> Bound:
        """A call node, checked and bound by its registry entry."""
        name, *args = node.args
        entry = FUNCTIONS.get(name)
        if entry is None:
            raise ConditionError(f"unknown function {name!r} at column {node.pos}")
        return entry.bind(Call(name, tuple(args), node.pos, self.scope, self.typed))

    def typed(self, node: Node) -> Typed:
        op = node.op
        if op in ("and", "or"):
            return Typed(_chain(op, [self.compile(a) for a in _operands(node, op)]), ANY)
        if op == "not":
            inner = self.compile(node.args[0])
            return Typed(lambda s: not inner(s), BOOL)
        if op == "const":
            value = node.args[0]
            return Typed(lambda s: value, _const_types(value))
        if op == "list":
            items = [self.compile(a) for a in node.args]
            return Typed(lambda s: [item(s) for item in items], frozenset({"list"}))
        if op == "cmp":
            return Typed(self._compare(node), BOOL)
        if op == "call":
            bound = self.bind(node)
            return Typed(bound.evaluate, bound.returns)
        if op == "name":
            name = node.args[0]
            kinds = field_types(name)
            if kinds is None:
                raise ConditionError(
                    f"unknown name {name!r} at column {node.pos}: not a macro or an event field"
                )
            return Typed(_field_getter(name), kinds)
        raise ConditionError(f"cannot compile {op}")  # pragma: no cover - parser makes no other

    def _compare(self, node: Node) -> Evaluator:
        text, left_node, right_node = node.args
        lt, rt = self.typed(left_node), self.typed(right_node)
        left, right = lt.evaluate, rt.evaluate
        if text in ("in", "not in"):
            if not rt.returns & _CONTAINERS:
                raise ConditionError(
                    f"{text!r} needs a list or a string on its right, not "
                    f"{describe(rt.returns)} (column {node.pos})"
                )
            negate = text == "not in"

            def contains(s: Signals) -> bool:
                container = right(s)
                if not isinstance(container, str | list):
                    return False
                try:
                    return (left(s) in container) is not negate
                except TypeError:  # a non-string in a string
                    return False

            return contains
        fn = _COMPARE[text]
        if text in ("==", "!="):
            return lambda s: fn(left(s), right(s))
        for side in (lt, rt):
            if "number" not in side.returns:
                raise ConditionError(
                    f"{text!r} compares numbers, not {describe(side.returns)} (column {node.pos})"
                )

        def ordered(s: Signals) -> bool:
            a, b = left(s), right(s)
            if a is None or b is None:
                return False
            try:
                return fn(a, b)
            except TypeError:
                return False

        return ordered


def _operands(node: Node, op: str) -> list[Node]:
    """`a or (b or c)` → [a, b, c]: one flat loop instead of a deep chain of closures."""
    out: list[Node] = []
    for arg in node.args:
        out.extend(_operands(arg, op) if arg.op == op else [arg])
    return out


def _chain(op: str, parts: list[Evaluator]) -> Evaluator:
    """Short-circuit `and`/`or` over any number of operands (values pass through)."""
    if len(parts) == 2:
        a, b = parts
        return (lambda s: a(s) and b(s)) if op == "and" else (lambda s: a(s) or b(s))
    items = tuple(parts)
    if op == "and":

        def all_of(s: Signals) -> Any:
            value: Any = True
            for part in items:
                value = part(s)
                if not value:
                    return value
            return value

        return all_of

    def any_of(s: Signals) -> Any:
        value: Any = False
        for part in items:
            value = part(s)
            if value:
                return value
        return value

    return any_of


# --- static analysis ------------------------------------------------------------------------


def references(node: Node, scope: Scope) -> frozenset[Reference]:
    """Evidence a (macro-expanded, compiled) condition looks at."""
    compiler = Compiler(scope)
    found: set[Reference] = set()

    def walk(n: Node) -> None:
        if n.op == "call":
            found.update(compiler.bind(n).references)
        for a in n.args:
            if isinstance(a, Node):
                walk(a)

    walk(node)
    return frozenset(found)


Clauses = frozenset[frozenset[Reference]]


def requirements(node: Node, scope: Scope) -> Clauses:
    """Clauses that must all hold for the condition to be true, each one "one of these pieces
    of evidence is in the message": `hit(a) and (re(b) or tag(c))` → {{a}, {b, c}}.

    Empty when the condition can hold without evidence (such a rule runs for every message).
    The engine skips a rule for a message whose evidence misses one of its clauses, so a
    message with one stray hit does not evaluate every rule that mentions that lexicon.
    """
    none: Clauses = frozenset()
    if node.op == "call":
        bound = Compiler(scope).bind(node)
        return frozenset({bound.references}) if bound.evidence and bound.references else none
    if node.op == "cmp":
        op, left, right = node.args
        if left.op == "call" and right.op == "const" and _positive(op, right.args[0]):
            bound = Compiler(scope).bind(left)
            if bound.gate is not None:  # a signal over a threshold: evidence only when it is
                return frozenset({frozenset({bound.gate(op, right.args[0])})})
            return requirements(left, scope)
        return none
    if node.op == "and":
        return none.union(*(requirements(a, scope) for a in node.args))
    if node.op == "or":
        parts = [requirements(a, scope) for a in node.args]
        if not all(parts):
            return none  # one branch holds without evidence
        # each branch needs one of its own clauses: so some reference of these holds
        return frozenset({frozenset().union(*(min(p, key=_smallest) for p in parts))})
    return none


def _smallest(clause: frozenset[Reference]) -> tuple[int, list[str]]:
    return len(clause), sorted(map(repr, clause))  # ties broken by name: same plan every run


def _positive(op: str, value: object) -> bool:
    """`count(x) OP value` can only hold when count(x) > 0."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return (op == ">" and value >= 0) or (op in (">=", "==") and value > 0)
