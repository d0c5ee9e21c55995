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


# --- names a condition resolves against ---------------------------------------------------

ReferenceKind = Literal["lexicon", "tag", "detector", "regex"]


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

    kind: ReferenceKind
    key: str | int
