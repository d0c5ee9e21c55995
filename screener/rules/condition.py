"""Rule conditions: a small expression language parsed once and compiled to closures.

    hit(services) and (detector(phone) or has_contact) and user.account_age_days < 7

No string is ever `eval`-ed: the parser builds a tree of nodes, names are resolved against the
pack (lexicons, tags, detectors, regexes, macros, event fields) at load time, and the tree is
turned into nested closures over a per-message `Signals` object.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from screener.match.detectors import NAMES as DETECTORS
from screener.match.lexicon import Hit

# --- what a condition sees at run time ------------------------------------------------------


@dataclass(slots=True)
class Signals:
    """Everything rules may look at for one message: the event and the evidence found in it."""

    event: Any
    lexicons: dict[int, list[Hit]] = field(default_factory=dict)
    tags: dict[str, list[Hit]] = field(default_factory=dict)
    detectors: dict[str, list[Hit]] = field(default_factory=dict)
    regexes: dict[int, list[Hit]] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.lexicons or self.detectors or self.regexes)


Evaluator = Callable[[Signals], Any]

# --- syntax ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d+)?)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


class ConditionError(ValueError):
    """A condition that cannot be parsed or refers to something that does not exist."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    pos: int


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    source = source.rstrip()
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if not m or m.end() == pos:
            raise ConditionError(f"unexpected {source[pos:].strip()[:20]!r} at column {pos + 1}")
        group = m.lastgroup or ""
        text = m.group(group)
        kind = text if group == "name" and text in _KEYWORDS else group
        tokens.append(Token(kind, text, m.start(group) + 1))
        pos = m.end()
    tokens.append(Token("end", "", len(source) + 1))
    return tokens


@dataclass(frozen=True, slots=True)
class Node:
    """A parsed expression: op is and/or/not/cmp/call/name/const/list."""

    op: str
    args: tuple[Any, ...]
    pos: int


class _Parser:
    def __init__(self, source: str):
        self.tokens = tokenize(source)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self, kind: str | None = None) -> Token:
        tok = self.tokens[self.i]
        if kind is not None and tok.kind != kind:
            want = kind if kind != "end" else "end of condition"
            got = tok.text or "end of condition"
            raise ConditionError(f"expected {want}, got {got!r} at column {tok.pos}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.or_()
        self.take("end")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek().kind == "or":
            pos = self.take().pos
            node = Node("or", (node, self.and_()), pos)
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek().kind == "and":
            pos = self.take().pos
            node = Node("and", (node, self.not_()), pos)
        return node

    def not_(self) -> Node:
        if self.peek().kind == "not":
            pos = self.take().pos
            return Node("not", (self.not_(),), pos)
        return self.compare()

    def compare(self) -> Node:
        left = self.value()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARE:
            self.take()
            return Node("cmp", (tok.text, left, self.value()), tok.pos)
        if tok.kind == "in":
            self.take()
            return Node("cmp", ("in", left, self.value()), tok.pos)
        if tok.kind == "not" and self.tokens[self.i + 1].kind == "in":
            self.take()
            self.take()
            return Node("cmp", ("not in", left, self.value()), tok.pos)
        return left

    def value(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return Node("const", (float(tok.text) if "." in tok.text else int(tok.text),), tok.pos)
        if tok.kind == "str":
            return Node("const", (_unquote(tok.text),), tok.pos)
        if tok.kind in ("true", "false", "null"):
            return Node("const", ({"true": True, "false": False, "null": None}[tok.kind],), tok.pos)
        if tok.kind == "op" and tok.text == "(":
            node = self.or_()
            self.take_op(")")
            return node
        if tok.kind == "op" and tok.text == "[":
            items: list[Node] = []
            while not (self.peek().kind == "op" and self.peek().text == "]"):
                items.append(self.value())
                if self.peek().text == ",":
                    self.take()
            self.take_op("]")
            return Node("list", tuple(items), tok.pos)
        if tok.kind == "name":
            if self.peek().kind == "op" and self.peek().text == "(":
                self.take()
                args: list[Node] = []
                while not (self.peek().kind == "op" and self.peek().text == ")"):
                    args.append(self.value())
                    if self.peek().text == ",":
                        self.take()
                self.take_op(")")
                return Node("call", (tok.text, *args), tok.pos)
            return Node("name", (tok.text,), tok.pos)
        got = tok.text or "end of condition"
        raise ConditionError(f"unexpected {got!r} at column {tok.pos}")

    def take_op(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            got = tok.text or "end of condition"
            raise ConditionError(f"expected {text!r}, got {got!r} at column {tok.pos}")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse(source: str) -> Node:
    return _Parser(source).parse()


# --- names and compilation ------------------------------------------------------------------

EVENT_FIELDS = frozenset(
    {"kind", "id", "ts", "text", "media", "platform", "user", "conversation", "repost_of",
     "visits", "topics"}
)  # fmt: skip
DETECTOR_NAMES = DETECTORS
SIGNAL_CALLS = frozenset({"hit", "count", "distinct", "tag", "tag_distinct", "detector", "re"})


@dataclass(frozen=True)
class Scope:
    """The names a condition may use, resolved to what the compiled pack indexes by."""

    lexicons: Mapping[str, int]
    regexes: Mapping[str, int]
    macros: Mapping[str, Node]
    tags: frozenset[str]


@dataclass(frozen=True, slots=True)
class Reference:
    """A piece of evidence a rule's condition looks at (its matches go into the finding)."""

    kind: str  # lexicon | tag | detector | regex
    key: str | int


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


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
        """Inline macros (refusing cycles) so later passes see one tree."""
        if node.op == "name" and node.args[0] in self.scope.macros:
            name = node.args[0]
            if name in seen:
                raise ConditionError(f"circular macro: {' -> '.join((*seen, name))}")
            return self.expand(self.scope.macros[name], (*seen, name))
        if node.op in ("and", "or", "not", "list"):
            return Node(node.op, tuple(self.expand(a, seen) for a in node.args), node.pos)
        if node.op == "cmp":
            op, left, right = node.args
            return Node("cmp", (op, self.expand(left, seen), self.expand(right, seen)), node.pos)
        return node

    def compile(self, node: Node) -> Evaluator:
        op = node.op
        if op in ("and", "or"):
            return _chain(op, [self.compile(a) for a in _operands(node, op)])
        if op == "not":
            inner = self.compile(node.args[0])
            return lambda s: not inner(s)
        if op == "const":
            value = node.args[0]
            return lambda s: value
        if op == "list":
            items = [self.compile(a) for a in node.args]
            return lambda s: [item(s) for item in items]
        if op == "cmp":
            return self._compare(node)
        if op == "call":
            return self._call(node)
        if op == "name":
            name = node.args[0]
            root = name.split(".")[0]
            if root not in EVENT_FIELDS:
                raise ConditionError(
                    f"unknown name {name!r} at column {node.pos}: not a macro or an event field"
                )
            return _field_getter(name)
        raise ConditionError(f"cannot compile {op}")  # pragma: no cover - parser makes no other

    def _compare(self, node: Node) -> Evaluator:
        text, left_node, right_node = node.args
        left, right = self.compile(left_node), self.compile(right_node)
        if text in ("in", "not in"):
            negate = text == "not in"

            def contains(s: Signals) -> bool:
                container = right(s)
                if container is None:
                    return False
                return (left(s) in container) is not negate

            return contains
        fn = _COMPARE[text]
        if text in ("==", "!="):
            return lambda s: fn(left(s), right(s))

        def ordered(s: Signals) -> bool:
            a, b = left(s), right(s)
            if a is None or b is None:
                return False
            try:
                return fn(a, b)
            except TypeError:
                return False

        return ordered

    def _name_arg(self, node: Node, name: str, i: int = 1) -> str:
        if len(node.args) != i + 1 or node.args[i].op != "name":
            raise ConditionError(f"{name}() takes one name at column {node.pos}")
        return str(node.args[i].args[0])

    def _call(self, node: Node) -> Evaluator:
        name = node.args[0]
        if name in ("hit", "count", "distinct"):
            arg = self._name_arg(node, name)
            if name == "count" and arg.startswith("detector."):
                return self._detector(arg.split(".", 1)[1], node)
            lex = self._lexicon(arg, node)
            if name == "hit":
                return lambda s: lex in s.lexicons
            if name == "count":
                return lambda s: len(s.lexicons.get(lex, ()))
            return lambda s: len({h.term for h in s.lexicons.get(lex, ())})
        if name in ("tag", "tag_distinct"):
            tag = self._name_arg(node, name)
            if tag not in self.scope.tags:
                raise ConditionError(f"no term carries tag {tag!r} (column {node.pos})")
            if name == "tag":
                return lambda s: len(s.tags.get(tag, ()))
            return lambda s: len({h.term for h in s.tags.get(tag, ())})
        if name == "detector":
            return self._detector(self._name_arg(node, name), node)
        if name == "re":
            arg = self._name_arg(node, name)
            if arg not in self.scope.regexes:
                raise ConditionError(f"undefined regex {arg!r} at column {node.pos}")
            idx = self.scope.regexes[arg]
            return lambda s: len(s.regexes.get(idx, ()))
        if name == "len":
            if len(node.args) != 2:
                raise ConditionError(f"len() takes one field at column {node.pos}")
            inner = self.compile(node.args[1])

            def length(s: Signals) -> int | None:
                value = inner(s)
                return None if value is None else len(value)

            return length
        if name == "media_type":
            kind = self._name_arg(node, name)
            return lambda s: sum(1 for m in s.event.media if m.type == kind)
        raise ConditionError(f"unknown function {name!r} at column {node.pos}")

    def _lexicon(self, name: str, node: Node) -> int:
        if name not in self.scope.lexicons:
            raise ConditionError(f"undefined lexicon {name!r} at column {node.pos}")
        return self.scope.lexicons[name]

    def _detector(self, name: str, node: Node) -> Evaluator:
        if name not in DETECTOR_NAMES:
            known = ", ".join(sorted(DETECTOR_NAMES))
            raise ConditionError(f"unknown detector {name!r} at column {node.pos} ({known})")
        return lambda s: len(s.detectors.get(name, ()))


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
    """Evidence a (macro-expanded) condition looks at."""
    found: set[Reference] = set()

    def walk(n: Node) -> None:
        if n.op == "call" and n.args[0] in SIGNAL_CALLS and len(n.args) == 2:
            fn, arg = n.args[0], n.args[1].args[0]
            if fn in ("hit", "count", "distinct"):
                if str(arg).startswith("detector."):
                    found.add(Reference("detector", str(arg).split(".", 1)[1]))
                else:
                    found.add(Reference("lexicon", scope.lexicons[arg]))
            elif fn in ("tag", "tag_distinct"):
                found.add(Reference("tag", arg))
            elif fn == "detector":
                found.add(Reference("detector", arg))
            elif fn == "re":
                found.add(Reference("regex", scope.regexes[arg]))
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
        refs = references(node, scope) if node.args[0] in SIGNAL_CALLS else frozenset()
        return frozenset({refs}) if refs else none
    if node.op == "cmp":
        op, left, right = node.args
        if left.op == "call" and right.op == "const" and _positive(op, right.args[0]):
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
