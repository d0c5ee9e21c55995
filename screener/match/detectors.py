"""Built-in contact detectors: CN mobile numbers, QQ numbers, WeChat ids, URLs, e-mails.

They run over the batch's `digits` view (folded, with Chinese numerals as digits), so
１８８ ８８８８ ８８８８, 幺捌捌-捌捌捌捌-捌捌捌捌, ①⑧⑧… and 1⃣8⃣8⃣… all read as digits. Patterns are
ours, every repetition bounded, so Python's `re` runs them in linear time; rule-file regexes
(untrusted) go to RE2/Hyperscan instead.

Most messages contain no contact at all, so the expensive patterns only run inside messages
that a vectorised pre-check admits (enough digits, an `@`); the others start with a literal
character, which lets `re` skip ahead quickly over the whole batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from screener.text.folding import Folding
from screener.text.views import BatchText

_GAP = r"[^\w\n]{0,3}"
"""Up to three separators (spaces, dashes, dots, emoji) between the characters of a contact."""
_TLDS = "com|cn|net|org|cc|me|top|xyz|vip|io|co|info|tk|app|link|ly|gl|site|club|shop|live|tv|hk"

PHONE = re.compile(rf"(?<!\d)(?:\+?86{_GAP})?(1{_GAP}[3-9](?:{_GAP}\d){{9}})(?!{_GAP}\d)")
QQ = re.compile(
    rf"(?<![a-z])(?:qq|扣扣|企鹅|q)(?![a-z])(?:号码|号)?{_GAP}([1-9](?:{_GAP}\d){{5,10}})(?!{_GAP}\d)"
)
WECHAT_ID = re.compile(
    rf"(?:[微薇威维徽]{_GAP}信(?:{_GAP}号)?|[微薇]|wechat|(?:jia\s?)?wei\s?xin|wx|vx|v{_GAP}信|v)"
    rf"{_GAP}(?<![a-z0-9_-])([a-z][a-z0-9_-]{{5,19}})(?![a-z0-9_-])"
)
URL_SCHEMES = (re.compile(r"https?://[!-~]{1,200}"), re.compile(r"www\.[!-~]{1,200}"))
"""Two patterns, each starting with a literal that `re` can skip to: 4× faster over a batch
than one alternation, which `re` tries at every position."""
URL_TLD = re.compile(rf"\.(?:{_TLDS})(?![a-z0-9-])(?:/[!-~]{{0,200}})?")
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
EMAIL = re.compile(
    r"(?<![a-z0-9._%+-])[a-z0-9._%+-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){0,4}"
    r"\.[a-z]{2,12}(?![a-z0-9-])"
)
_NON_DIGIT = re.compile(r"\D")
NAMES = frozenset({"phone", "qq", "wechat_id", "url", "email"})


@dataclass(slots=True)
class Detection:
    detector: str
    message: int
    w_start: int
    w_end: int
    value: str
    """canonical value: digits only for numbers, the id/URL/address as folded."""


def _per_message(values: npt.NDArray[Any], starts: np.ndarray, op: np.ufunc) -> np.ndarray:
    """`op` (add: counts, bitwise_or: flags seen) over each message's positions, in one pass.

    A trailing zero makes the segment of an empty last message read zero (reduceat gives a
    segment of length 0 the value at its start)."""
    padded = np.zeros(len(values) + 1, dtype=values.dtype)
    padded[:-1] = values
    return op.reduceat(padded, starts)


def detect(batch: BatchText, names: frozenset[str]) -> Iterator[Detection]:
    """Run the named detectors over the whole batch at once."""
    haystack = batch.view("digits")
    starts = batch.message_starts("folded")
    bounds = np.append(starts, len(haystack) + 1)
    codes = batch.codes("digits")
    digits = _per_message(((codes >= 0x30) & (codes <= 0x39)).astype(np.int32), starts, np.add)
    candidates = {"phone": digits >= 11, "qq": digits >= 6}
    if "wechat_id" in names:
        candidates["wechat_id"] = _wechat_candidates(batch, codes, starts)
    for name, pattern in (("phone", PHONE), ("qq", QQ), ("wechat_id", WECHAT_ID)):
        if name not in names:
            continue
        for message in np.flatnonzero(candidates[name]).tolist():
            lo, hi = int(bounds[message]), int(bounds[message + 1]) - 1
            for m in pattern.finditer(haystack, lo, hi):
                if name == "wechat_id":
                    if not _wechat_ok(haystack, m):
                        continue
                    value = m.group(1)
                else:
                    value = _NON_DIGIT.sub("", m.group(1))
                yield Detection(name, message, m.start(1), m.end(1), value)
    if "email" in names and "@" in haystack:
        yield from _emails(haystack, codes, bounds)
    if "url" in names:
        yield from _urls(haystack, starts)


_CJK_KEY, _LATIN_KEY, _ID_MARK, _ID_CHAR, _ID_RUN, _ALNUM, _MARKED_RUN = 1, 2, 4, 8, 16, 32, 64
_ID_MIN = 6
"""A WeChat id has at least six characters of [a-z0-9_-] in a row."""


@lru_cache(maxsize=4)
def _classes(folding: Folding) -> np.ndarray:
    """Code point → bit set of the character classes the WeChat pre-check looks for."""
    table = np.where(folding.alnum, np.uint8(_ALNUM), np.uint8(0))
    for ch in "微薇威维徽":
        table[ord(ch)] |= _CJK_KEY
    for ch in "vwj":
        table[ord(ch)] |= _LATIN_KEY
    for ch in "0123456789_-":
        table[ord(ch)] |= _ID_MARK
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789_-":
        table[ord(ch)] |= _ID_CHAR
    return table


def _wechat_candidates(
    batch: BatchText, codes: np.ndarray, starts: np.ndarray
) -> npt.NDArray[np.bool_]:
    """Messages that can hold a WeChat id: a Chinese keyword (微, 薇, 威信…) and a run of six or
    more id characters, or a word starting with v/w/j (v, vx, wx, wechat, jia wei xin) and
    such a run holding a digit, _ or - (`_wechat_ok` asks the same of the match).

    English chat is full of words starting with w or v, and Chinese numerals read as digits
    in this view, so the run must carry the mark itself. Each position gets a bit set of what
    it is; one OR per message then says what each message has.
    """
    flags = _classes(batch.folding).take(codes)
    if len(codes) > 1:  # a v/w/j inside a word starts no keyword: _ALNUM >> 4 is _LATIN_KEY
        flags[1:] &= ~((flags[:-1] & _ALNUM) >> 4)
    # `!= 0` first: nonzero() of a bool array is ~3x faster than of the uint8 bits
    ids = np.flatnonzero((flags & _ID_CHAR) != 0)
    if len(ids):  # runs of consecutive id characters: their length, and whether one is a mark
        first = np.flatnonzero(np.diff(ids, prepend=-2) != 1)
        length = np.diff(first, append=len(ids))
        long = length >= _ID_MIN
        # only the long runs are asked for a mark (most runs are short words): one OR each
        begin, stop = first[long], first[long] + length[long]
        marks = np.zeros(len(ids) + 1, np.bool_)
        marks[:-1] = (flags[ids] & _ID_MARK) != 0
        marked = np.logical_or.reduceat(marks, np.stack([begin, stop], 1).ravel())[::2]
        last = ids[stop - 1]
        flags[last] |= _ID_RUN
        flags[last[marked]] |= _MARKED_RUN
    seen = _per_message(flags, starts, np.bitwise_or)
    cjk = (seen & _CJK_KEY != 0) & (seen & _ID_RUN != 0)
    latin = (seen & _LATIN_KEY != 0) & (seen & _MARKED_RUN != 0)
    return cjk | latin  # type: ignore[no-any-return]


def _wechat_ok(haystack: str, m: re.Match[str]) -> bool:
    """Latin keywords (v, wx, vx, wechat) must start a word, and the id they introduce must
    look like one (a digit, _ or -): "review this" or "we have plans" are not WeChat ids."""
    if haystack[m.start()] in "微薇威维徽":
        return True
    if m.start() > 0 and haystack[m.start() - 1].isascii() and haystack[m.start() - 1].isalnum():
        return False
    return any(c.isdigit() or c in "_-" for c in m.group(1))


def _emails(haystack: str, codes: np.ndarray, bounds: np.ndarray) -> Iterator[Detection]:
    """E-mail addresses, searched only in the messages holding an `@` (`bounds`: message
    starts, then the end + 1). `re` tries EMAIL at every position it is given: over a whole
    batch of chat with one `@` in it that was ~0.7 ms of 1,000 messages, ~0.7 µs each
    (`@` mentions are common in chat). No match crosses a message: none of its classes holds
    the separator, so the search per message finds the same addresses, in the same order."""
    ats = np.flatnonzero(codes == 0x40)
    messages = np.unique(np.searchsorted(bounds, ats, side="right") - 1).tolist()
    for message in messages:
        lo, hi = int(bounds[message]), int(bounds[message + 1]) - 1
        for m in EMAIL.finditer(haystack, lo, hi):
            yield Detection("email", message, m.start(), m.end(), m.group())


def _urls(haystack: str, starts: np.ndarray) -> Iterator[Detection]:
    """Scheme/www URLs, and bare domains found by their TLD and extended leftwards."""
    spans: list[tuple[int, int]] = []
    reach = -1
    for start, end in sorted(m.span() for p in URL_SCHEMES for m in p.finditer(haystack)):
        if start >= reach:  # leftmost first, as one alternation would: http://www.x is one URL
            spans.append((start, end))
            reach = end
    covered = {i for s, e in spans for i in range(s, e)}
    for m in URL_TLD.finditer(haystack):
        if m.start() in covered:
            continue
        start = m.start()
        while start > 0 and haystack[start - 1] in _DOMAIN_CHARS:
            start -= 1
        while start < m.start() and haystack[start] in ".-":
            start += 1
        if start == m.start() or (start > 0 and haystack[start - 1] == "@"):
            continue
        spans.append((start, m.end()))
    if not spans:
        return
    spans.sort()
    messages = np.searchsorted(starts, [s for s, _ in spans], side="right") - 1
    for (s, e), message in zip(spans, messages.tolist(), strict=True):
        yield Detection("url", message, s, e, haystack[s:e])
