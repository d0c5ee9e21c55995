"""All lexicon terms of a pack in one compiled automaton per view, matched once per batch.

A term is folded exactly like message text, then placed in the view its options ask for:
`compact` (the default), `sound` (homophones), `repeat` (runs collapse) or both. One automaton
per view runs over the whole batch (Hyperscan or ahocorasick_rs, overlapping); only its hits come
back, and whole-word and spacing checks run on all of them at once with numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from screener.match.automaton import Found, build_automaton
from screener.text.folding import Folding
from screener.text.views import BatchText, Codes, Layer, Positions, View

Mask = npt.NDArray[np.bool_]

MAX_CJK_GAP = 4
"""Non-letters allowed between two characters of a CJK term (薇 ❤ 信 has 3); longer gaps are
prose, and so are gaps with sentence punctuation (女（狗, 色，色) — see `Folding.hard`."""


@dataclass(frozen=True, slots=True)
class Term:
    """One lexicon entry as compiled: where it matches and what it means."""

    text: str
    lexicon: int
    tags: tuple[str, ...]
    word: bool
    allow: bool
    view: View
    breaks: frozenset[int] = frozenset()
    """gaps of the pattern where the term itself has a word break ("dm me": after "dm")."""
    spelling: str | None = None
    """what the automaton looks for, when not `text` itself (a pinyin spelling)."""
    pattern: str | None = field(default=None, compare=False)
    """the compiled form of `spelling or text` in `view`, when the loader already has it."""


@dataclass(slots=True)
class Hit:
    """A matched term (or detector/regex evidence) in message `message`, original offsets."""

    message: int
    start: int
    end: int
    term: str
    source: Term | None = None


def term_view(homophone: bool, repeat: bool) -> View:
    if homophone:
        return "sound_repeat" if repeat else "sound"
    return "repeat" if repeat else "compact"


def compile_pattern(folding: Folding, text: str, view: View) -> str:
    """The form of `text` that the automaton of `view` looks for ("" if nothing is left)."""
    return folded_pattern(folding, folding.fold_text(text), view)


def folded_pattern(folding: Folding, folded: str, view: View) -> str:
    """`compile_pattern` of an already folded text (a big lexicon folds each term once)."""
    word = folding.word_bytes
    compact = "".join([c for c in folded if word[ord(c)] and c != "\n"])
    if view.startswith("sound"):
        compact = folding.sound_text(compact)
    if view.endswith("repeat"):
        compact = "".join(c for i, c in enumerate(compact) if i == 0 or compact[i - 1] != c)
    return compact


def word_breaks(folding: Folding, text: str, folded: str | None = None) -> frozenset[int]:
    """Indexes i of the compact pattern with a separator between characters i and i+1."""
    breaks: set[int] = set()
    kept = -1
    word = folding.word_bytes
    for c in folding.fold_text(text) if folded is None else folded:
        if word[ord(c)] and c != "\n":
            kept += 1
        elif kept >= 0:
            breaks.add(kept)
    return frozenset(b for b in breaks if b < kept)


def _lazy_pinyin(text: str) -> list[str]:
    from pypinyin import lazy_pinyin

    return [s for s in lazy_pinyin(text) if s]


def pinyin_terms(
    folding: Folding, term: Term, spell: Callable[[str], list[str]] = _lazy_pinyin
) -> list[Term]:
    """The term spelled in toneless pinyin (加微信 → "jia wei xin"), matched as Latin words with
    or without the spaces between syllables (jiaweixin, jia wei xin, JIA-WEI-XIN). `spell` is
    pypinyin's, or its answers remembered (`match.spellings`)."""
    compact = compile_pattern(folding, term.text, "compact")
    syllables = spell(compact)
    spelled = " ".join(syllables)
    if not spelled.isascii() or spelled.replace(" ", "") == compact:
        return []  # nothing Chinese to spell out
    return [
        Term(term.text, term.lexicon, term.tags, True, term.allow, "compact",
             word_breaks(folding, spelled), spelled)
    ]  # fmt: skip


def is_latin_word(folding: Folding, text: str, folded: str | None = None) -> bool:
    """Terms made only of alphabetic-script letters and digits match as whole words."""
    folded = folding.fold_text(text) if folded is None else folded
    alnum = folding.alnum_bytes
    return bool(folded) and all(alnum[ord(c)] or c == " " for c in folded)


class ViewMatcher:
    """One automaton over one view; pattern index → the terms that share that pattern."""

    def __init__(self, view: View, patterns: Sequence[str], terms: Sequence[tuple[Term, ...]]):
        self.view = view
        self.terms = list(terms)
        # Most patterns have one term; its hits skip the general loop. Per pattern: that term
        # (or None), and as arrays for the vectorised checks, whether it exists / is a word.
        self._single = [ts[0] if len(ts) == 1 else None for ts in self.terms]
        self._has_single = np.array([t is not None for t in self._single], dtype=np.bool_)
        self._single_word = np.array([t is not None and t.word for t in self._single])
        self._single_text = [t.text if t is not None else "" for t in self._single]
        self.layer = _layer(view)
        self._automaton = build_automaton(patterns)

    def find(self, batch: BatchText) -> list[Hit]:
        """Every hit that passes the checks, in original offsets (allow-list terms included).

        Positions, boundaries and spacing are computed for all hits at once with numpy. Most
        hits are a pattern's only term with its letters adjacent: those become `Hit`s in one
        `map`; only the others (several terms, or gaps to check) go through a Python loop.
        """
        found = self._automaton.scan(batch.view(self.view))
        if not len(found):
            return []
        pattern, start, end = found[:, 0], found[:, 1], found[:, 2]
        messages = np.searchsorted(batch.message_starts(self.layer), start, side="right") - 1
        w_start, w_end = batch.spans_to_folded(self.layer, start, end)
        contiguous = (w_end - w_start) == (end - start)
        codes, alnum = batch.w_codes, batch.folding.alnum
        left = np.ones(len(found), dtype=np.bool_)
        inner = w_start > 0
        left[inner] = ~alnum.take(codes[w_start[inner] - 1])
        right = np.ones(len(found), dtype=np.bool_)
        inner = w_end < len(codes)
        right[inner] = ~alnum.take(codes[w_end[inner]])
        bounded = left & right
        o_start, o_end = batch.spans_to_original(messages, w_start, w_end)
        simple = contiguous & self._has_single[pattern]
        fast = np.flatnonzero(simple & (bounded | ~self._single_word[pattern])).tolist()
        patterns = pattern[fast].tolist()
        single, text = self._single, self._single_text
        out = list(map(
            Hit, messages[fast].tolist(), [o_start[k] for k in fast], [o_end[k] for k in fast],
            [text[p] for p in patterns], [single[p] for p in patterns],
        ))  # fmt: skip
        others = np.flatnonzero(~simple)
        if len(others):
            out += self._checked(batch, others, found, messages, contiguous, bounded,
                                 w_start, w_end, o_start, o_end)  # fmt: skip
        return out

    def _checked(
        self, batch: BatchText, others: Positions, found: Found, messages: Positions,
        contiguous: Mask, bounded: Mask, w_start: Positions, w_end: Positions,
        o_start: list[int], o_end: list[int],
    ) -> list[Hit]:  # fmt: skip
        """The hits of `others` (several terms, or letters apart) that pass each term's checks.

        The spacing and sentence-punctuation checks of the hits whose letters are apart run
        over all of them at once, and the loop reads Python lists: read one numpy scalar at a
        time, this loop was ~0.3 ms of a 1,000-message batch of `screener bench engine`.
        """
        codes, hard = batch.w_codes, batch.folding.hard
        loose = others[~contiguous[others]]
        spread = dict(zip(loose.tolist(), _spread(batch, self.layer, found[loose, 1],
                                                    found[loose, 2]), strict=True))  # fmt: skip
        broken = dict(zip(loose.tolist(), _any_in(hard, codes, w_start[loose], w_end[loose]),
                          strict=True))  # fmt: skip
        out: list[Hit] = []
        rows = zip(others.tolist(), found[others, 0].tolist(), messages[others].tolist(),
                   contiguous[others].tolist(), bounded[others].tolist(), strict=True)  # fmt: skip
        for k, pattern, message, tight, whole in rows:
            for term in self.terms[pattern]:
                if term.word and not whole:
                    continue
                if not tight:
                    gaps = spread[k]
                    if term.word:
                        if not _word_spacing_ok(gaps, term.breaks):
                            continue
                    elif max(gaps, default=1) > MAX_CJK_GAP + 1 or broken[k]:
                        continue
                out.append(Hit(message, o_start[k], o_end[k], term.text, term))
        return out


def _spread(batch: BatchText, layer: Layer, start: Positions, end: Positions) -> list[list[int]]:
    """`_gaps` of many spans (each of two or more characters) from one gather."""
    if layer != "compact" or not len(start):
        return [_gaps(batch, layer, a, b) for a, b in zip(start.tolist(), end.tolist(),
                                                          strict=True)]  # fmt: skip
    positions = batch.c_pos[_ranges(start, end)]
    steps = np.diff(positions).tolist()
    bounds = (np.cumsum(end - start) - (end - start)).tolist()
    return [steps[a : a + n - 1] for a, n in zip(bounds, (end - start).tolist(), strict=True)]


def _any_in(table: Mask, codes: Codes, start: Positions, end: Positions) -> list[bool]:
    """Per [start, end) span of `codes` (none empty), whether `table` holds for a code in it."""
    if not len(start):
        return []
    flags = table.take(codes[_ranges(start, end)])
    bounds = np.cumsum(end - start) - (end - start)
    found: list[bool] = np.logical_or.reduceat(flags, bounds).tolist()
    return found


def _ranges(start: Positions, end: Positions) -> Positions:
    """The positions of every [start, end) span, one after another."""
    lengths = end - start
    firsts = np.cumsum(lengths) - lengths
    out: Positions = np.arange(int(lengths.sum())) - np.repeat(firsts - start, lengths)
    return out


def _gaps(batch: BatchText, layer: Layer, start: int, end: int) -> list[int]:
    """Folded-view distance between consecutive matched characters (runs count as one)."""
    c = batch.c_pos
    if layer == "compact":
        return np.diff(c[start:end]).tolist()  # type: ignore[no-any-return]
    runs = batch.repeat_positions(layer)
    first = c[runs[start:end]]
    stops = np.append(runs, len(c))[start + 1 : end + 1] - 1
    last = c[stops]
    return (first[1:] - last[:-1]).tolist()  # type: ignore[no-any-return]


def _layer(view: View) -> Layer:
    """The view whose positions a lexicon view's hits are in (`sound` shares compact's)."""
    if view == "sound" or view == "compact":
        return "compact"
    if view == "repeat" or view == "sound_repeat":
        return view
    raise ValueError(f"no lexicon terms are matched on the {view} view")


def _word_spacing_ok(gaps: list[int], breaks: frozenset[int]) -> bool:
    """Latin words: letters adjacent, with or without a space where the term has one (dm me,
    dmme; jia wei xin, jia weixin), or all spaced out (s e x, s.e.x); never a space inside a
    word of the term (s ex, "is exciting")."""
    if all(1 < g <= 4 for g in gaps):
        return True
    return all((g <= 4) if i in breaks else g == 1 for i, g in enumerate(gaps))


class LexiconMatcher:
    """Every view's automaton; `find` returns term hits and allow-list spans per message."""

    def __init__(self, folding: Folding, terms: Sequence[Term]):
        by_view: dict[View, dict[str, list[Term]]] = {}
        classes: dict[int, str] | None = None
        for term in terms:
            pattern = term.pattern
            if pattern is None:
                pattern = compile_pattern(folding, term.spelling or term.text, term.view)
            if not pattern:
                raise ValueError(f"term {term.text!r} has no letters or digits left to match")
            if term.view == "sound":
                classes = classes if classes is not None else _homophone_classes(folding)
                variants = _spell_out(
                    folding, compile_pattern(folding, term.text, "compact"), classes
                )
                if variants is not None:  # usually: no sound view to build and scan at all
                    for variant in variants:
                        by_view.setdefault("compact", {}).setdefault(variant, []).append(term)
                    continue
            by_view.setdefault(term.view, {}).setdefault(pattern, []).append(term)
        self.views = [
            ViewMatcher(view, list(table), [tuple(ts) for ts in table.values()])
            for view, table in sorted(by_view.items())
        ]
        self.size = len({(t.text, t.lexicon) for t in terms if not t.allow})
        """terms as written (a homophone term's spellings count once)."""

    def find(self, batch: BatchText) -> dict[int, list[Hit]]:
        """Hits per message index, allow-listed ones removed, in original offsets."""
        hits: dict[int, list[Hit]] = {}
        allowed: dict[int, list[tuple[int, int, int]]] = {}
        for matcher in self.views:
            for hit in matcher.find(batch):
                term = hit.source
                assert term is not None
                if term.allow:
                    allowed.setdefault(hit.message, []).append((term.lexicon, hit.start, hit.end))
                    continue
                same = hits.get(hit.message)
                if same is None:
                    hits[hit.message] = [hit]
                else:
                    same.append(hit)
        for message, spans in allowed.items():
            if message in hits:
                hits[message] = [h for h in hits[message] if not _covered(h, spans)]
        for message, found in hits.items():
            if len(found) > 1:
                hits[message] = _outermost(found)
        return hits


MAX_SPELLINGS = 20_000
"""A homophone term with at most this many spellings joins the compact automaton as literals."""


def _homophone_classes(folding: Folding) -> dict[int, str]:
    """Sound class → the characters in it (微, 威, 薇, 维, … for *wei*)."""
    cps = np.arange(0x3400, 0xA000)
    sounds = folding.sound[cps]
    keep = sounds != cps
    groups: dict[int, list[str]] = {}
    for cp, sound in zip(cps[keep].tolist(), sounds[keep].tolist(), strict=True):
        groups.setdefault(sound, []).append(chr(cp))
    return {sound: "".join(chars) for sound, chars in groups.items()}


def _spell_out(folding: Folding, compact: str, classes: dict[int, str]) -> list[str] | None:
    """Every spelling of a homophone term, or None when there are too many (then the sound
    view is used)."""
    sounds = [classes.get(int(folding.sound[ord(c)]), c) for c in compact]
    total = 1
    for options in sounds:
        total *= max(1, len(options))
        if total > MAX_SPELLINGS:
            return None
    spellings = [""]
    for options in sounds:
        spellings = [prefix + ch for prefix in spellings for ch in options]
    return spellings


def _outermost(hits: list[Hit]) -> list[Hit]:
    """Drop a hit inside a longer hit of the same lexicon (上门 inside 上门服务): one piece of
    evidence counts once for `count` and `distinct`.

    In (start, longest first) order a hit is nested exactly when an earlier kept hit of its
    lexicon ends at or after it: one pass, remembering the furthest end per lexicon.
    """
    kept: list[Hit] = []
    reach: dict[int, int] = {}
    for hit in sorted(hits, key=_outer_first):
        lexicon = hit.source.lexicon if hit.source else -1
        if reach.get(lexicon, -1) >= hit.end:
            continue
        reach[lexicon] = hit.end
        kept.append(hit)
    return kept


def _outer_first(hit: Hit) -> tuple[int, int]:
    return hit.start, -hit.end


def _covered(hit: Hit, spans: list[tuple[int, int, int]]) -> bool:
    """An allow-list entry of the same lexicon (or a global one, lexicon -1) covers the hit."""
    assert hit.source is not None
    lexicon = hit.source.lexicon
    return any(
        (lex == lexicon or lex == -1) and start <= hit.start and hit.end <= end
        for lex, start, end in spans
    )
