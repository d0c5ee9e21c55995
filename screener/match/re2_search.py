"""RE2 searches over UTF-8 bytes, and which messages of a joined batch a match touches.

The `re2` module's generic wrapper costs ~10 µs per call in Python bookkeeping, more than the
search itself on a chat message, so the regex passes (`screener.match.regexes`) call RE2's
own `Match` on bytes through these helpers and convert offsets themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import re2


def _possible(regex: Any, texts: list[str]) -> list[int]:
    """Indexes of the texts that may hold a match: one RE2 pass over them joined by newlines.

    Each text's matches are matches in the joined string too (in multi-line mode `^`, `$`
    and `\\b` see a newline as they see a text's edge), and a search that finds the leftmost
    match covers or reaches every one of them; so every text holding a match is touched by a
    found match (one may run across a newline: every text it touches is kept).
    """
    parts = [t.encode("utf-8") for t in texts]
    data = b"\n".join(parts)
    edges = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) + 1 for p in parts], out=edges[1:])
    low = regex._regexp
    pos, end = 0, len(data)
    spans: list[tuple[int, int, int]] = []
    while pos <= end:
        a, b = low.Match(_UNANCHORED, data, pos, end)[0]
        if a < 0:
            break
        spans.append((0, a, b))
        pos = b if b > a else b + 1  # stepping into a character's middle only loses empties
    if not spans:
        return []
    return [m for m, _ in _spanned(np.asarray(spans, dtype=np.int64), edges[:-1])]


def _spanned(found: np.ndarray, starts: np.ndarray) -> list[tuple[int, int]]:
    """(message, regex) for every message a (regex, start, end) match of RE2 over the whole
    joined batch touches. A match running across a separator (`\\s*` matches it) can hide a
    real one inside any message it covers, so each of them is a candidate; an empty match
    counts for the message it is in."""
    first = np.searchsorted(starts, found[:, 1], side="right") - 1
    last = np.searchsorted(starts, np.maximum(found[:, 2] - 1, found[:, 1]), side="right") - 1
    pairs = set(zip(first.tolist(), found[:, 0].tolist(), strict=True))
    for k, a, b in zip(found[:, 0].tolist(), first.tolist(), last.tolist(), strict=True):
        pairs.update((m, k) for m in range(a + 1, b + 1))
    return sorted(pairs)


_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED


def _find_all(regex: Any, text: str) -> list[tuple[int, int]]:
    """Non-empty, non-overlapping RE2 matches as code-point spans.

    Calls RE2 directly on the UTF-8 bytes: the `re2` module's generic wrapper costs ~10 µs
    per call in Python bookkeeping, more than the search itself on a chat message.
    """
    data = text.encode("utf-8")
    low = regex._regexp
    pos, end = 0, len(data)
    spans: list[tuple[int, int]] = []
    while pos <= end:
        a, b = low.Match(_UNANCHORED, data, pos, end)[0]
        if a < 0:
            break
        if b > a:
            spans.append((a, b))
            if b == end:  # only an empty match is left, and those are not kept: no search
                break
            pos = b
        else:  # empty match: step over one whole character, never into its middle
            pos = b + 1
            while pos < end and data[pos] & 0xC0 == 0x80:
                pos += 1
    if spans and len(data) != len(text):
        # code points counted piece by piece between the ascending offsets (RE2's are at
        # character boundaries), not each offset's whole prefix again (profiled on real chat:
        # ~5% of screening went to this conversion)
        chars: list[int] = []
        done = count = 0
        for x in [x for pair in spans for x in pair]:
            count += len(data[done:x].decode("utf-8", "ignore"))
            done = x
            chars.append(count)
        spans = list(zip(chars[::2], chars[1::2], strict=True))
    return spans
