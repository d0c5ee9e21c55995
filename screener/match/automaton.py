"""Multi-pattern literal matching over a whole batch view, on the fastest engine available.

Measured with `screener bench matchers` (50,000 terms, same compact batch text, one core):
Hyperscan 1.47M msgs/s, ahocorasick_rs 0.47M, pyahocorasick 0.25M. Hyperscan ships wheels
for x86-64 Linux only, so ahocorasick_rs is the portable fallback; both report every
(overlapping) occurrence as (pattern, start, end) in code points of the view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Found = npt.NDArray[np.int64]
"""(k, 3) array of pattern index, start, end (code points of the haystack)."""

_NONE: Found = np.zeros((0, 3), dtype=np.int64)


class Automaton(Protocol):
    engine: str

    def scan(self, haystack: str, codes: npt.NDArray[np.uint32]) -> Found: ...


class AhoCorasickAutomaton:
    engine = "ahocorasick_rs"

    def __init__(self, patterns: Sequence[str]):
        import ahocorasick_rs

        self._ac = ahocorasick_rs.AhoCorasick(list(patterns))

    def scan(self, haystack: str, codes: npt.NDArray[np.uint32]) -> Found:
        found = self._ac.find_matches_as_indexes(haystack, overlapping=True)
        return np.asarray(found, dtype=np.int64).reshape(-1, 3) if found else _NONE


class HyperscanAutomaton:
    """Literal patterns in one Hyperscan database, scanned over a dense two-byte alphabet.

    Every character that occurs in some pattern gets a number, written as two bytes (low byte
    32–255, high byte 1–255); any other character becomes one "other" code that no pattern
    contains. Scanning a view is then one numpy `take` from its code points, and a hit's byte
    end over two is its end in characters: no UTF-8 encoding, no per-hit offset decoding, and
    matches never span two messages (the separator is "other"). Measured on the 51k-term
    benchmark lexicon: the scan step costs ~30% less than over UTF-8. Low and high bytes do not
    overlap below 6,944 distinct characters; past that, misaligned hits are dropped.
    """

    engine = "hyperscan"

    def __init__(self, patterns: Sequence[str]):
        import hyperscan

        alphabet = sorted({c for p in patterns for c in p})
        if len(alphabet) >= _LOW_SPAN * 255:
            raise ValueError(f"{len(alphabet)} distinct characters: too many for two bytes")
        ids = np.arange(len(alphabet) + 1, dtype=np.uint32)  # 0 is "other"
        units = ((_LOW_FIRST + ids % _LOW_SPAN) | ((1 + ids // _LOW_SPAN) << 8)).astype("<u2")
        self._table = np.full(0x110000, units[0], dtype="<u2")
        self._table[[ord(c) for c in alphabet]] = units[1:]
        encoded = [self._table.take([ord(c) for c in p]).tobytes() for p in patterns]
        self._chars = np.asarray([len(p) for p in patterns], dtype=np.int64)
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._db.compile(
            expressions=encoded,
            ids=list(range(len(encoded))),
            elements=len(encoded),
            flags=[0] * len(encoded),
            literal=True,
        )
        self._scratch = hyperscan.Scratch(self._db)

    def scan(self, haystack: str, codes: npt.NDArray[np.uint32]) -> Found:
        ends: list[tuple[int, int]] = []
        data = self._table.take(codes).tobytes()
        self._db.scan(data, match_event_handler=_collect, scratch=self._scratch, context=ends)
        if not ends:
            return _NONE
        found = np.asarray(ends, dtype=np.int64)
        found = found[(found[:, 1] & 1) == 0]
        pattern, end = found[:, 0], found[:, 1] >> 1
        return np.stack([pattern, end - self._chars[pattern], end], axis=1)


_LOW_FIRST, _LOW_SPAN = 32, 224
"""Low bytes 32–255, high bytes from 1: no NUL byte (the binding passes C strings)."""


def _collect(pattern: int, start: int, end: int, flags: int, ends: object) -> None:
    ends.append((pattern, end))  # type: ignore[attr-defined]


def message_of_bytes(data: bytes, offsets: Sequence[int]) -> list[int]:
    """Index of the newline-separated message each byte offset falls in."""
    nl = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
    return np.searchsorted(nl, np.asarray(offsets, dtype=np.int64), side="right").tolist()  # type: ignore[no-any-return]


def build_automaton(patterns: Sequence[str]) -> Automaton:
    """Hyperscan where it is installed (x86-64 Linux), else ahocorasick_rs."""
    try:
        return HyperscanAutomaton(patterns)
    except (ImportError, ValueError):  # no wheel here, or an alphabet past two bytes
        return AhoCorasickAutomaton(patterns)
