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
from functools import cached_property, lru_cache
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
    """Compute the tables (≈ 0.35 s of CPU; pure)."""
    import opencc  # imported here: a process that loads cached tables never needs them
    from pypinyin.pinyin_dict import pinyin_dict

    t2s = opencc.OpenCC("t2s")
    fold = np.arange(N_CODEPOINTS, dtype=np.uint32)
    expandable = np.zeros(N_CODEPOINTS, dtype=np.bool_)
    expand: dict[int, str] = {}
    for lo, hi in _FOLDED_RANGES:
        for cp in range(lo, hi):
            if 0xD800 <= cp < 0xE000:
                continue
            out = fold_char(chr(cp), t2s)
            if len(out) == 1:
                fold[cp] = ord(out)
            elif not out:
                fold[cp] = IGNORE
            else:
                expand[cp] = out
                expandable[cp] = True
    for lo, hi in _IDEOGRAPHS:
        block = "".join(chr(cp) for cp in range(lo, hi))
        simplified = t2s.convert(block)
        if len(simplified) == len(block):
            changed = [i for i, (a, b) in enumerate(zip(block, simplified, strict=True)) if a != b]
            for i in changed:
                fold[lo + i] = ord(simplified[i])
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
        for cp in range(lo, min(hi, N_CODEPOINTS)):
            if 0xD800 <= cp < 0xE000:
                continue
            cat = unicodedata.category(chr(cp))
            if cat[0] == "L" or cat == "Nd":
                word[cp] = True
    word[SEP] = True
    alnum = word & ~cjk
    alnum[SEP] = False

    digits = np.arange(N_CODEPOINTS, dtype=np.uint32)
    for ch, digit in NUMERALS.items():
        digits[ord(ch)] = ord(digit)

    sound = np.arange(N_CODEPOINTS, dtype=np.uint32)
    syllables: dict[str, int] = {}
    for cp, reading in pinyin_dict.items():
        if not (0x3400 <= cp < 0xA000) or int(fold[cp]) != cp:
            continue
        key = _toneless(reading)
        if key:
            sound[cp] = SOUND_BASE + syllables.setdefault(key, len(syllables))
    hard = np.zeros(N_CODEPOINTS, dtype=np.bool_)
    for cp in range(0x10000):
        if unicodedata.category(chr(cp)) in ("Ps", "Pe", "Pi", "Pf"):
            hard[cp] = True
    for ch in ",;:?!。、":
        hard[ord(ch)] = True
    return Folding(fold, expand, expandable, word, alnum, digits, sound, hard)
