"""Character folding tables: every code point → the one character it stands for.

Offenders write ｖｘ, ⓥⓧ, 𝐯𝐱, vх (Cyrillic х), 約 for 约, 1⃣ for 1. Folding all of that is a
per-character mapping, so it is built once into flat numpy tables and applied to a whole
batch with one `take` (≈0.1 µs per message, 25× faster than `str.translate`). Characters that
fold to several characters (⑩ → 10, ﬁ → fi, ß → ss) are rare; they are listed in `expand`
and handled on a slow path that keeps the offset map exact.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache, partial
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import opencc

    from screener.artefacts import ArtefactCache

CodeTable = npt.NDArray[np.uint32]
Mask = npt.NDArray[np.bool_]

N_CODEPOINTS = 0x110000
IGNORE = 0x01
"""Folded value of characters removed from every view: zero-width, combining marks, selectors."""
SEP = 0x0A
"""Message separator in joined batch views; original newlines fold to a space, so SEP is unique."""
SPACE = 0x20
SOUND_BASE = 0xF0000
"""Homophone classes live in plane-15 private use: one code point per toneless syllable."""

# Cyrillic and Greek letters that look like Latin ones (after case-folding).
HOMOGLYPHS = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "і": "i", "ї": "i", "ј": "j", "к": "k",
    "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x",
    "ѕ": "s", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ь": "b", "ɡ": "g", "ı": "i",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ς": "c", "γ": "y",
}  # fmt: skip

# Chinese and financial numerals → digits, for the contact-detection view only.
NUMERALS = {
    "〇": "0", "零": "0", "一": "1", "壹": "1", "幺": "1", "二": "2", "贰": "2", "两": "2",
    "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6",
    "七": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "玖": "9",
}  # fmt: skip

_NAME_DIGITS = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"]
_NAME_NUMBERS = [
    "TEN",
    "ELEVEN",
    "TWELVE",
    "THIRTEEN",
    "FOURTEEN",
    "FIFTEEN",
    "SIXTEEN",
    "SEVENTEEN",
    "EIGHTEEN",
    "NINETEEN",
    "TWENTY",
]
_LETTER_NAME = re.compile(r"LATIN (?:CAPITAL|SMALL) LETTER ([A-Z])$|SYMBOL LETTER ([A-Z])$")
_DIGIT_NAME = re.compile(r"DIGIT (" + "|".join(_NAME_DIGITS) + r")$")
_NUMBER_NAME = re.compile(r"NUMBER (" + "|".join(_NAME_NUMBERS) + r")$")

# Ranges that are CJK (no word boundaries) and whose folding is only traditional → simplified.
_IDEOGRAPHS = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0x20000, 0x32000))
_CJK_SCRIPT = ((0x2E80, 0xA000), (0xAC00, 0xD7B0), (0xF900, 0xFB00), (0x20000, 0x40000))
# Ranges whose characters are folded one by one (everything else maps to itself).
_FOLDED_RANGES = (
    (0x0000, 0x3400), (0xA000, 0xAC00), (0xD7B0, 0xD800), (0xF900, 0x10000),
    (0x1D400, 0x1D800), (0x1F100, 0x1F200), (0x1FBF0, 0x1FC00), (0xE0000, 0xE0080),
    (0xE0100, 0xE01F0),
)  # fmt: skip


def _ignorable(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat in ("Mn", "Me", "Cf") or 0xFE00 <= ord(ch) <= 0xFE0F or ord(ch) >= 0xE0000


def _by_name(ch: str) -> str | None:
    """Enclosed letters and digits NFKC leaves alone (🅐, ❶, ⓫) folded by their Unicode name."""
    name = unicodedata.name(ch, "")
    if m := _LETTER_NAME.search(name):
        return (m.group(1) or m.group(2)).lower()
    if m := _DIGIT_NAME.search(name):
        return str(_NAME_DIGITS.index(m.group(1)))
    if m := _NUMBER_NAME.search(name):
        return str(10 + _NAME_NUMBERS.index(m.group(1)))
    return None


def fold_char(ch: str, t2s: opencc.OpenCC) -> str:
    """What one character stands for: "" if ignorable, usually one character, rarely more."""
    if _ignorable(ch):
        return ""
    if ch.isspace() or unicodedata.category(ch) in ("Cc", "Zs", "Zl", "Zp"):
        return " "
    out = unicodedata.normalize("NFKD", ch.casefold())
    out = "".join(c for c in out if not _ignorable(c))
    out = unicodedata.normalize("NFKC", out).casefold()
    if out == ch.casefold() and unicodedata.category(ch) in ("So", "No"):
        out = _by_name(ch) or out
    out = "".join(HOMOGLYPHS.get(c, c) for c in out)
    if out and any(0x3400 <= ord(c) < 0xA000 or ord(c) >= 0x20000 for c in out):
        out = t2s.convert(out)
    if not out.strip() and out:
        return " "
    return out


@dataclass(frozen=True, eq=False)
class Folding:
    """The tables every view is computed with; immutable, shared by all batches."""

    fold: CodeTable
    """code point → folded code point (IGNORE: drop it)."""
    expand: dict[int, str]
    """code points that fold to several characters (slow path)."""
    expandable: Mask
    word: Mask
    """kept in the compact view: letters, digits and SEP."""
    alnum: Mask
    """letters and digits of alphabetic scripts: the ones whole-word matching looks at."""
    digits: CodeTable
    """folded → contact view (Chinese numerals → ASCII digits)."""
    sound: CodeTable
    """folded → homophone class (CJK characters with the same toneless pinyin collide)."""
    hard: Mask
    """sentence punctuation (，。！？；：brackets, quotes): never inside a disguised CJK term."""

    def fold_text(self, text: str) -> str:
        """Fold a short string (terms, tests): each character's meaning, ignorables dropped."""
        return text.translate(self._translation)

    @cached_property
    def _translation(self) -> dict[int, str | None]:
        """`fold` and `expand` as a `str.translate` table of the code points that change:
        terms are folded one by one (a million for a big lexicon file), and translate does
        it in C where a per-character loop over numpy scalars took ~1 µs per character."""
        changed = np.flatnonzero(self.fold != np.arange(N_CODEPOINTS, dtype=np.uint32))
        table: dict[int, str | None] = {
            cp: None if folded == IGNORE else chr(folded)
            for cp, folded in zip(changed.tolist(), self.fold[changed].tolist(), strict=True)
        }
        table.update(self.expand)
        return table

    @cached_property
    def word_deleter(self) -> dict[int, None]:
        """A `str.translate` table deleting letters and digits: what is left of a folded term
        says in C whether it is all letters (the usual case, with nothing more to check)."""
        return dict.fromkeys(np.flatnonzero(self.word).tolist())

    @cached_property
    def alnum_deleter(self) -> dict[int, None]:
        return dict.fromkeys(np.flatnonzero(self.alnum).tolist())

    @cached_property
    def word_bytes(self) -> bytes:
        """`word` as bytes: indexing it per character is ~10× cheaper than a numpy scalar."""
        return self.word.tobytes()

    @cached_property
    def alnum_bytes(self) -> bytes:
        return self.alnum.tobytes()

    def sound_text(self, folded: str) -> str:
        return "".join(chr(int(self.sound[ord(c)])) for c in folded)


_HARD_CATEGORIES = frozenset({"Ps", "Pe", "Pi", "Pf"})
_KEPT_UNLESS = frozenset({"Mn", "Me", "Cf", "Cc", "Cs", "Zs", "Zl", "Zp", "So", "No"})
"""Categories `fold_char` treats specially (ignorable, blank, named symbols)."""


def _block(lo: int, hi: int) -> str:
    """The code points [lo, hi) as one string, surrogates included (decoded in C)."""
    codes = np.arange(lo, hi, dtype=np.uint32).tobytes()
    return codes.decode("utf-32-le", "surrogatepass")


def _where_category(lo: int, hi: int, categories: frozenset[str]) -> npt.NDArray[np.intp]:
    """Code points of [lo, hi) in `categories` (one C-level pass per block, not a Python
    call per code point: the tables walk ~300k of them)."""
    cats = map(unicodedata.category, _block(lo, hi))
    inside = np.fromiter((c in categories for c in cats), dtype=np.bool_, count=hi - lo)
    return lo + np.flatnonzero(inside)


def _changing(lo: int, hi: int) -> list[int]:
    """The code points of [lo, hi) that `fold_char` may change (surrogates never).

    Every other one comes out of each of its steps unchanged (it is not ignorable, blank, a
    named symbol, a look-alike or CJK; casefold and NFKD keep it, hence NFKC too), so it is
    left to the identity table: `fold_char` runs on the rest only. The fast tests run in C
    over the whole block; `test_folding` checks the result against `fold_char` everywhere.
    """
    block = _block(lo, hi)
    nfkd = map(partial(unicodedata.is_normalized, "NFKD"), block)
    cats = map(unicodedata.category, block)
    out = []
    for cp, ch, folded, normal, cat in zip(
        range(lo, hi), block, map(str.casefold, block), nfkd, cats, strict=True
    ):
        if cat == "Cs":
            continue
        kept = (
            normal and folded == ch and cat not in _KEPT_UNLESS and not ch.isspace()
            and ch not in HOMOGLYPHS and not 0xFE00 <= cp <= 0xFE0F and cp < 0x20000
            and not 0x3400 <= cp < 0xA000
        )  # fmt: skip
        if not kept:
            out.append(cp)
    return out


def _toneless(reading: str) -> str:
    base = unicodedata.normalize("NFKD", reading.split(",")[0])
    return "".join(c for c in base if c.isascii() and c.isalpha()).replace("v", "u")


@lru_cache(maxsize=1)
def build_folding() -> Folding:
    """The tables, once per process: loaded from the artefact cache when it holds them for
    this code and these library versions (≈ 20 ms), else computed and stored there."""
    from screener.artefacts import ArtefactCache

    return load_or_build(ArtefactCache.default(), compute_folding)


def load_or_build(cache: ArtefactCache, build: Callable[[], Folding]) -> Folding:
    """The tables cached in `cache` (see `tables.py`), or `build()`'s, then stored there."""
    from screener.text import tables

    key = tables.folding_key()
    blob = cache.get("folding", key)
    if blob is not None:
        try:
            fields = tables.decode(blob)
            if len(fields["fold"]) == N_CODEPOINTS:
                return Folding(**fields)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError):
            pass
    folding = build()
    cache.put("folding", key, tables.encode(folding))
    return folding


def compute_folding() -> Folding:
    """Compute the tables (≈ 0.15 s of CPU, was 0.3 s before the block-wise fast paths; pure)."""
    import opencc  # imported here: a process that loads cached tables never needs them
    from pypinyin.pinyin_dict import pinyin_dict

    t2s = opencc.OpenCC("t2s")
    fold = np.arange(N_CODEPOINTS, dtype=np.uint32)
    expandable = np.zeros(N_CODEPOINTS, dtype=np.bool_)
    expand: dict[int, str] = {}
    single: dict[int, int] = {}
    for lo, hi in _FOLDED_RANGES:
        for cp in _changing(lo, hi):
            out = fold_char(chr(cp), t2s)
            if len(out) == 1:
                single[cp] = ord(out)
            elif not out:
                single[cp] = IGNORE
            else:
                expand[cp] = out
                expandable[cp] = True
    fold[list(single)] = list(single.values())  # one assignment, not a numpy call per item
    for lo, hi in _IDEOGRAPHS:
        block = _block(lo, hi)
        simplified = t2s.convert(block)
        if len(simplified) == len(block):
            after = np.frombuffer(simplified.encode("utf-32-le"), dtype=np.uint32)
            changed = np.flatnonzero(after != np.arange(lo, hi, dtype=np.uint32))
            fold[lo + changed] = after[changed]
    fold[SEP] = SEP
    fold[IGNORE] = SPACE
    # Folding must be idempotent (fold(fold(x)) == fold(x)): chase chains such as
    # full-width letter → Cyrillic look-alike → Latin until nothing changes.
    for _ in range(4):
        chased = fold[fold]
        chased[fold == IGNORE] = IGNORE
        if np.array_equal(chased, fold):
            break
        fold = chased
    for cp, out in list(expand.items()):
        expand[cp] = "".join(chr(int(fold[ord(c)])) for c in out if int(fold[ord(c)]) != IGNORE)

    word = np.zeros(N_CODEPOINTS, dtype=np.bool_)
    cjk = np.zeros(N_CODEPOINTS, dtype=np.bool_)
    for lo, hi in _CJK_SCRIPT:
        cjk[lo:hi] = True
    for lo, hi in (*_FOLDED_RANGES, *_CJK_SCRIPT, (0x10000, 0x20000)):
        block = _block(lo, hi)  # letters (str.isalpha: categories L*) and decimal digits (Nd)
        letters = np.fromiter(map(str.isalpha, block), dtype=np.bool_, count=hi - lo)
        digits_ = np.fromiter(map(str.isdecimal, block), dtype=np.bool_, count=hi - lo)
        word[lo:hi] = letters | digits_
    word[SEP] = True
    alnum = word & ~cjk
    alnum[SEP] = False

    digits = np.arange(N_CODEPOINTS, dtype=np.uint32)
    for ch, digit in NUMERALS.items():
        digits[ord(ch)] = ord(digit)

    sound = np.arange(N_CODEPOINTS, dtype=np.uint32)
    syllables: dict[str, int] = {}
    toneless: dict[str, str] = {}  # ~41k characters share a few thousand readings
    cps = np.fromiter(pinyin_dict, dtype=np.int64, count=len(pinyin_dict))
    inside = cps[(cps >= 0x3400) & (cps < 0xA000)]
    for cp in inside[fold[inside] == inside].tolist():  # characters folding to themselves
        reading = pinyin_dict[cp]
        first = reading.split(",", 1)[0]
        key = toneless.get(first)
        if key is None:
            key = toneless[first] = _toneless(first)
        if key:
            sound[cp] = SOUND_BASE + syllables.setdefault(key, len(syllables))
    hard = np.zeros(N_CODEPOINTS, dtype=np.bool_)
    hard[_where_category(0, 0x10000, _HARD_CATEGORIES)] = True
    for ch in ",;:?!。、":
        hard[ord(ch)] = True
    return Folding(fold, expand, expandable, word, alnum, digits, sound, hard)
