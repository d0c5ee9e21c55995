"""Rule conditions: a small expression language parsed once and compiled to closures.

    hit(services) and (detector(phone) or has_contact) and user.account_age_days < 7

No string is ever `eval`-ed: the parser builds a tree of nodes, names are resolved against the
pack (lexicons, tags, detectors, regexes, macros, event fields) at load time, and the tree is
turned into nested closures over a per-message `Signals` object (`screener.rules.compiler`;
the functions a condition may call are in `screener.rules.functions`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
    behaviour: Any = None
    """signal values from the partition's state (`user.events@600` → 57), gates that hold
    (`user.events@600>200` → True) and bank matches (`bank:known_bad` → True)."""
    model: dict[str, float] = field(default_factory=dict)
    """learned-model probability per category, where it reaches the pack's floor."""

    def empty(self) -> bool:
        return not (self.lexicons or self.detectors or self.regexes or self.behaviour or self.model)


Evaluator = Callable[[Signals], Any]

# --- syntax ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<dur>\d{1,7}[smhd](?![A-Za-z0-9_]))
      | (?P<num>\d+(?:\.\d+)?)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


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


MAX_DEPTH = 50
"""Nesting of parentheses, `not`s, lists and calls in one condition (recursion stays bounded)."""
MAX_CONDITION_CHARS = 100_000
MAX_NUMBER_DIGITS = 15


class _Parser:
    def __init__(self, source: str):
        if len(source) > MAX_CONDITION_CHARS:
            raise ConditionError(f"{len(source)} characters, over the {MAX_CONDITION_CHARS} limit")
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    def deeper(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(f"nested more than {MAX_DEPTH} levels deep at column {tok.pos}")

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
        # `a or b or c` is one node with three operands, not a chain as deep as it is long
        first = self.and_()
        operands = [first]
        pos = self.peek().pos
        while self.peek().kind == "or":
            self.take()
            operands.append(self.and_())
        return first if len(operands) == 1 else Node("or", tuple(operands), pos)

    def and_(self) -> Node:
        first = self.not_()
        operands = [first]
        pos = self.peek().pos
        while self.peek().kind == "and":
            self.take()
            operands.append(self.not_())
        return first if len(operands) == 1 else Node("and", tuple(operands), pos)

    def not_(self) -> Node:
        if self.peek().kind == "not":
            tok = self.take()
            self.deeper(tok)
            node = Node("not", (self.not_(),), tok.pos)
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> Node:
        left = self.value()
        tok = self.peek()
        if tok.kind == "op" and tok.text in COMPARISONS:
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
        if tok.kind == "dur":  # 10m → 600: a window length in seconds (behaviour signals)
            return Node("const", (int(tok.text[:-1]) * _SECONDS[tok.text[-1]],), tok.pos)
        if tok.kind == "num":
            if len(tok.text.replace(".", "")) > MAX_NUMBER_DIGITS:
                raise ConditionError(f"number of more than {MAX_NUMBER_DIGITS} digits at "
                                     f"column {tok.pos}")  # fmt: skip
            return Node("const", (float(tok.text) if "." in tok.text else int(tok.text),), tok.pos)
        if tok.kind == "op" and tok.text in ("(", "["):
            self.deeper(tok)
            node = self.nested(tok)
            self.depth -= 1
            return node
        return self.atom(tok)

    def nested(self, tok: Token) -> Node:
        if tok.text == "(":
            node = self.or_()
            self.take_op(")")
            return node
        items: list[Node] = []
        while not (self.peek().kind == "op" and self.peek().text == "]"):
            if self.peek().kind == "end":
                self.take_op("]")
            items.append(self.value())
            if self.peek().text == ",":
                self.take()
        self.take_op("]")
        return Node("list", tuple(items), tok.pos)

    def atom(self, tok: Token) -> Node:
        if tok.kind == "str":
            return Node("const", (_unquote(tok.text),), tok.pos)
        if tok.kind in ("true", "false", "null"):
            return Node("const", ({"true": True, "false": False, "null": None}[tok.kind],), tok.pos)
        if tok.kind == "name":
            if self.peek().kind == "op" and self.peek().text == "(":
                self.deeper(self.take())
                args: list[Node] = []
                while not (self.peek().kind == "op" and self.peek().text == ")"):
                    args.append(self.value())
                    if self.peek().text == ",":
                        self.take()
                self.take_op(")")
                self.depth -= 1
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


# --- names a condition resolves against ---------------------------------------------------

ReferenceKind = Literal["lexicon", "tag", "detector", "regex", "signal", "gate", "bank", "model"]
"""signal: a windowed value from state; gate: a signal over a threshold; bank: a hash bank;
model: a learned-model category."""


@dataclass(frozen=True)
class Scope:
    """The names a condition may use, resolved to what the compiled pack indexes by."""

    lexicons: Mapping[str, int]
    regexes: Mapping[str, int]
    macros: Mapping[str, Node]
    tags: frozenset[str]
    banks: frozenset[str] = frozenset()
    model: frozenset[str] | None = None
    """categories of the pack's learned model (`model.<category>`); None: the pack has none."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A piece of evidence a rule's condition looks at (its matches go into the finding)."""

    kind: ReferenceKind
    key: str | int
