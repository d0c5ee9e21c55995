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

import numpy as np

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
_LATIN_KEYWORD = re.compile(r"[a-z]")
URL_SCHEME = re.compile(r"(?:https?://|www\.)[!-~]{1,200}")
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


def detect(batch: BatchText, names: frozenset[str]) -> Iterator[Detection]:
    """Run the named detectors over the whole batch at once."""
    haystack = batch.view("digits")
    starts = batch.message_starts("folded")
    bounds = np.append(starts, len(haystack) + 1)
    codes = batch.codes("digits")
    digits = np.zeros(len(starts), dtype=np.int64)
    if names & {"phone", "qq"}:
        running = np.zeros(len(codes) + 1, dtype=np.int64)
        np.cumsum((codes >= 0x30) & (codes <= 0x39), out=running[1:])
        ends = np.minimum(bounds[1:], len(codes))
        digits = running[ends] - running[starts]
    for name, pattern, need in (("phone", PHONE, 11), ("qq", QQ, 6)):
        if name in names:
            for message in np.flatnonzero(digits >= need).tolist():
                lo, hi = int(bounds[message]), int(bounds[message + 1]) - 1
                for m in pattern.finditer(haystack, lo, hi):
                    value = _NON_DIGIT.sub("", m.group(1))
                    yield Detection(name, message, m.start(1), m.end(1), value)
    if "email" in names and "@" in haystack:
        yield from _batch_search("email", EMAIL, haystack, starts, group=0)
    if "wechat_id" in names:
        yield from _batch_search("wechat_id", WECHAT_ID, haystack, starts, group=1)
    if "url" in names:
        yield from _urls(haystack, starts)


def _batch_search(
    name: str, pattern: re.Pattern[str], haystack: str, starts: np.ndarray, group: int
) -> Iterator[Detection]:
    found = [m for m in pattern.finditer(haystack) if _keyword_ok(name, haystack, m)]
    if not found:
        return
    messages = np.searchsorted(starts, [m.start(group) for m in found], side="right") - 1
    for m, message in zip(found, messages.tolist(), strict=True):
        yield Detection(name, message, m.start(group), m.end(group), m.group(group))


def _keyword_ok(name: str, haystack: str, m: re.Match[str]) -> bool:
    """A Latin keyword (wx, vx, v, wechat) must not be the tail of a longer word (review)."""
    if name != "wechat_id" or m.start() == 0:
        return True
    return not (_LATIN_KEYWORD.match(haystack[m.start()]) and haystack[m.start() - 1].isalnum()
                and haystack[m.start() - 1].isascii())  # fmt: skip


def _urls(haystack: str, starts: np.ndarray) -> Iterator[Detection]:
    """Scheme/www URLs, and bare domains found by their TLD and extended leftwards."""
    spans: list[tuple[int, int]] = [m.span() for m in URL_SCHEME.finditer(haystack)]
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
