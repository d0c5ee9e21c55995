"""Required literals of a regex: clauses of strings, one of each clause in every match.

Compiling the Hyperscan prefilter was most of a cold pack compile (≈ 1.1 s of 1.7 s), and
its cost is driven by the big literal alternations of the CJK regexes (`(黑人|黑鬼|…|娘炮)…`).
A regex whose every match must contain literal strings ("atoms") can be prefiltered without
Hyperscan: the atoms go into one Aho-Corasick automaton (built in milliseconds), and a message
is a candidate for the regex when it holds an atom of each of the regex's clauses (at most
`MAX_CLAUSES`; `(黑人|白人)…(垃圾|畜生)` has two); RE2 then finds the exact matches, as it
does after Hyperscan. Results are the same by construction: the clauses are only ever a
necessary condition of a match (the idea of RE2's FilteredRE2 prefilter).

The parser below understands the RE2 syntax rule packs use and refuses (`Unsupported`)
anything else, such as case-insensitive flags or `\\Q…\\E`; a refused regex simply keeps
another prefilter, so being conservative costs only speed, never a match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_EXACT = 64
"""An exact string set larger than this is reduced to its atoms (it only guides the choice)."""
MAX_ATOMS = 512
"""A clause needing more atoms than this is dropped."""
MAX_CLAUSES = 3
"""Clauses kept per sub-pattern (the most selective ones)."""
MIN_QUALITY = 2
"""Weakest requirement worth routing (the summed weights of the clauses' weakest atoms;
ASCII characters weigh 1, others 2): a regex whose only requirement is a lone ASCII letter
or digit would make nearly every message a candidate, so it stays on Hyperscan, whose
prefilter is exact."""

Clause = frozenset[str]
"""Atoms one of which every match contains."""


class Unsupported(ValueError):
    """Syntax this parser does not model; the regex keeps the Hyperscan prefilter."""


@dataclass(frozen=True, slots=True)
class _Info:
    """What is known about the strings a sub-pattern matches: exactly `exact` (a finite set),
    or else every match satisfies each of `clauses` (none: nothing known)."""

    exact: frozenset[str] | None = None
    clauses: tuple[Clause, ...] = ()


_ANY = _Info()
_EMPTY = _Info(exact=frozenset({""}))


def weight(atom: str) -> int:
    return sum(1 if c.isascii() else 2 for c in atom)


def quality(clause: Clause) -> int:
    return min((weight(a) for a in clause), default=0)


def _clauses(info: _Info) -> tuple[Clause, ...]:
    if info.exact is not None:
        return () if "" in info.exact or not info.exact else (_minimal(info.exact),)
    return info.clauses


def _minimal(atoms: Iterable[str]) -> Clause:
    """Drop atoms that contain another atom: whatever holds the longer holds the shorter."""
    out: list[str] = []
    for atom in sorted(set(atoms), key=len):
        if not any(kept in atom for kept in out):
            out.append(atom)
    return frozenset(out)


def _top(clauses: Iterable[Clause]) -> tuple[Clause, ...]:
    """The most selective clauses: weakest atom strongest first, then fewest atoms."""
    unique = {c for c in clauses if c and len(c) <= MAX_ATOMS}
    ranked = sorted(unique, key=lambda c: (-quality(c), len(c), sorted(c)))
    return tuple(ranked[:MAX_CLAUSES])


def _concat(parts: list[_Info]) -> _Info:
    """Every match holds a match of each part, and of each run of adjacent exact parts (as
    their product: `小` `时` → 小时): each of those is a clause."""
    run: frozenset[str] = frozenset({""})
    found: list[Clause] = []
    exact = True
    for part in parts:
        if part.exact is not None:
            if len(run) * len(part.exact) <= MAX_EXACT:
                run = frozenset(x + y for x in run for y in part.exact)
                continue
            found += _clauses(_Info(exact=run))
            run = part.exact
        else:
            found += _clauses(_Info(exact=run))
            found += part.clauses
            run = frozenset({""})
        exact = False
    if exact:
        return _Info(exact=run)
    return _Info(clauses=_top([*found, *_clauses(_Info(exact=run))]))


def _alternate(branches: list[_Info]) -> _Info:
    """A match is a match of one branch: the j-th clause is the union of every branch's j-th
    best clause (its last one when it has fewer)."""
    if all(b.exact is not None for b in branches):
        union = frozenset().union(*(b.exact for b in branches if b.exact is not None))
        if len(union) <= MAX_EXACT:
            return _Info(exact=union)
    each = [_clauses(b) for b in branches]
    if not all(each):
        return _ANY
    width = max(len(c) for c in each)
    merged = [_minimal(a for c in each for a in c[min(j, len(c) - 1)]) for j in range(width)]
    return _Info(clauses=_top(merged))


def _repeat(info: _Info, low: int, high: int | None) -> _Info:
    if low == 0:
        if high == 1 and info.exact is not None and len(info.exact) < MAX_EXACT:
            return _Info(exact=info.exact | {""})
        return _ANY if high != 0 else _EMPTY
    if info.exact is not None and high == low and len(info.exact) ** low <= MAX_EXACT:
        return _concat([info] * low)
    return _Info(clauses=_clauses(info))


_NAMED = re.compile(r"\(\?P?<[A-Za-z_][A-Za-z0-9_]*>")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_HEX = re.compile(r"x(?:\{([0-9a-fA-F]{1,6})\}|([0-9a-fA-F]{2}))")
_CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_CLASS_ESCAPES = frozenset("dDsSwWpP")
_EMPTY_ESCAPES = frozenset("bBAz")
MAX_CLASS = 16
"""A character class listing at most this many characters counts as that many literals."""


class _Parser:
    def __init__(self, pattern: str):
        self.p = pattern
        self.i = 0

    def parse(self) -> _Info:
        info = self._alternation()
        if self.i != len(self.p):
            raise Unsupported(f"unexpected {self.p[self.i]!r} at {self.i}")
        return info

    def _alternation(self) -> _Info:
        branches = [self._sequence()]
        while self.i < len(self.p) and self.p[self.i] == "|":
            self.i += 1
            branches.append(self._sequence())
        return branches[0] if len(branches) == 1 else _alternate(branches)

    def _sequence(self) -> _Info:
        parts: list[_Info] = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            parts.append(self._quantified(self._atom()))
        return _concat(parts)

    def _quantified(self, info: _Info) -> _Info:
        p = self.p
        if self.i >= len(p):
            return info
        c = p[self.i]
        if c in "*+?":
            self.i += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        elif c == "{" and (m := _REPEAT.match(p, self.i)):
            self.i = m.end()
            low = int(m.group(1))
            high = low if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
        else:
            return info
        if self.i < len(p) and p[self.i] == "?":
            self.i += 1  # lazy: matches the same strings
        if self.i < len(p) and (p[self.i] in "*+" or _REPEAT.match(p, self.i)):
            raise Unsupported("stacked repetition")
        return _repeat(info, low, high)

    def _atom(self) -> _Info:
        p, c = self.p, self.p[self.i]
        if c == "(":
            if p.startswith("(?", self.i):
                if p.startswith("(?:", self.i):
                    self.i += 3
                elif m := _NAMED.match(p, self.i):
                    self.i = m.end()
                else:
                    raise Unsupported("flags or group syntax")
            else:
                self.i += 1
            inner = self._alternation()
            if self.i >= len(p) or p[self.i] != ")":
                raise Unsupported("unbalanced group")
            self.i += 1
            return inner
        if c == "[":
            return self._class()
        if c in "*+?)":
            raise Unsupported(f"{c!r} where an atom was expected")
        self.i += 1
        if c == ".":
            return _ANY
        if c in "^$":
            return _EMPTY
        if c == "\\":
            return self._escape()
        return _Info(exact=frozenset({c}))

    def _escape(self) -> _Info:
        literal = self._escaped_char()
        if literal is None:
            return _ANY
        return _EMPTY if literal == "" else _Info(exact=frozenset({literal}))

    def _escaped_char(self) -> str | None:
        """After a backslash: the literal character, "" for an assertion, None for a class."""
        p = self.p
        if self.i >= len(p):
            raise Unsupported("trailing backslash")
        c = p[self.i]
        if c in _CLASS_ESCAPES:
            self.i += 1
            if c in "pP":
                if self.i < len(p) and p[self.i] == "{":
                    end = p.find("}", self.i)
                    if end < 0:
                        raise Unsupported("unterminated \\p{")
                    self.i = end + 1
                else:
                    self.i += 1
            return None
        if c in _EMPTY_ESCAPES:
            self.i += 1
            return ""
        if c in _CONTROL:
            self.i += 1
            return _CONTROL[c]
        if m := _HEX.match(p, self.i):
            self.i = m.end()
            return chr(int(m.group(1) or m.group(2), 16))
        if c.isascii() and not c.isalnum():
            self.i += 1
            return c
        raise Unsupported(f"escape \\{c}")

    def _class(self) -> _Info:
        """`[...]`: its characters when it lists a few, else nothing known."""
        p = self.p
        self.i += 1
        negated = self.i < len(p) and p[self.i] == "^"
        if negated:
            self.i += 1
        chars: set[str] | None = set()
        first = True
        while True:
            if self.i >= len(p):
                raise Unsupported("unterminated class")
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if p.startswith("[:", self.i):
                end = p.find(":]", self.i)
                if end < 0:
                    raise Unsupported("bad POSIX class")
                self.i, chars = end + 2, None
                continue
            if c == "\\":
                self.i += 1
                lo = self._escaped_char()
                if lo is None or lo == "":
                    if lo == "":
                        raise Unsupported("assertion in a class")
                    chars = None
                    continue
            else:
                if c == "[":
                    raise Unsupported("nested class")
                self.i += 1
                lo = c
            if self.i + 1 < len(p) and p[self.i] == "-" and p[self.i + 1] != "]":
                self.i += 1
                hi = p[self.i]
                if hi == "\\":
                    self.i += 1
                    hi_char = self._escaped_char()
                    if not hi_char:
                        raise Unsupported("bad class range")
                    hi = hi_char
                else:
                    self.i += 1
                span = ord(hi) - ord(lo) + 1
                if span <= 0:
                    raise Unsupported("bad class range")
                if chars is not None and span <= MAX_CLASS:
                    chars.update(chr(x) for x in range(ord(lo), ord(hi) + 1))
                else:
                    chars = None
            elif chars is not None:
                chars.add(lo)
        if negated or chars is None or not chars or len(chars) > MAX_CLASS:
            return _ANY
        return _Info(exact=frozenset(chars))


def required_atoms(pattern: str) -> tuple[Clause, ...] | None:
    """Clauses every (non-empty) match of `pattern` satisfies (each: it contains one of the
    clause's atoms), or None when they are not worth using (see `MIN_QUALITY`) or the
    pattern uses syntax not modelled."""
    try:
        clauses = _clauses(_Parser(pattern).parse())
    except (Unsupported, RecursionError):
        return None
    if sum(quality(c) for c in clauses) < MIN_QUALITY:
        return None
    return clauses
