"""Distinct-value sketches: which bit of a 128-bit bucket bitmap a value sets, and the estimate.

Split from `windows` (the rings) because the bitmaps are computed from events before any ring
is touched, and both modules stay small.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

try:  # the compiled CRC loop (`_rings.c` crc_bits); without it numpy below, the same bits
    from screener.state import _rings  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - exercised where no C compiler was available
    _rings = None
if not hasattr(_rings, "crc_bits"):  # an extension built before it had the loop
    _rings = None

WORDS = 2
"""64-bit words per bucket for distinct-value sketches (128-bit linear counting)"""
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


def estimate_distinct(bits: U64) -> npt.NDArray[np.int64]:
    """Linear counting over (n, WORDS) bitmaps: -m ln(zeros/m), rounded (exact while small).

    A bitmap of m bits has only m + 1 possible counts of set bits, so for the sketches' own
    size the estimate is a look-up in a table the formula filled once (profiled: the log and
    rounding per row were ~0.1 ms of a 1,000-message batch's three sketches)."""
    m = 64 * bits.shape[-1]
    ones = np.bitwise_count(bits).sum(axis=-1)
    if m == _M:
        out: npt.NDArray[np.int64] = _ESTIMATES[ones]
        return out
    return linear_counting(ones.astype(np.float64), m)


def linear_counting(ones: npt.NDArray[np.float64], m: int) -> npt.NDArray[np.int64]:
    """The estimate for bitmaps of m bits with `ones` bits set (what the table holds)."""
    zeros = np.maximum(m - ones, 0.5)  # a full sketch saturates at m ln(2m)
    out: npt.NDArray[np.int64] = np.rint(-m * np.log(zeros / m)).astype(np.int64)
    return out


_M = 64 * WORDS
_ESTIMATES = linear_counting(np.arange(_M + 1, dtype=np.float64), _M)
_ESTIMATES.flags.writeable = False  # a constant of the formula


def value_bits(value: str) -> tuple[int, int]:
    """Which word and bit a distinct value sets. CRC-32: stable in every process (unlike
    `hash`), so bits restored from a changelog mean what they meant, and cheap per event."""
    h = _mix(zlib.crc32(value.encode("utf-8", "surrogatepass")))
    return (h >> 6) % WORDS, h & 63


def _mix(crc: int) -> int:
    """CRC-32 is linear: similar values (group-1, group-2, …) get structured bits, which
    linear counting misreads; a multiplicative mix spreads them as a random hash would."""
    return ((crc * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 32


def bits_of(values: list[list[str]]) -> U64:
    """(n, WORDS) bitmaps: row i has the bits of values[i] (one CRC each, set vectorised)."""
    out = np.zeros((len(values), WORDS), np.uint64)
    rows = [i for i, vs in enumerate(values) for _ in vs]
    if not rows:
        return out
    crc = zlib.crc32
    h = np.fromiter(
        (crc(v.encode("utf-8", "surrogatepass")) for vs in values for v in vs), np.uint64, len(rows)
    )
    with np.errstate(over="ignore"):  # the same mix as `value_bits`, vectorised
        h = (h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
    word = ((h >> np.uint64(6)) % np.uint64(WORDS)).astype(np.int64)
    np.bitwise_or.at(out, (np.array(rows), word), np.uint64(1) << (h & np.uint64(63)))
    return out


def bits_of_each(values: Sequence[str | None]) -> U64:
    """`bits_of([[v] if v is not None else [] for v in values])` without building a list
    per event (profiled: those lists, one per event and series, were most of the cost of
    the conversation and sender bitmaps). Compiled: one C pass, ~20x less (`_rings.c`)."""
    out = np.zeros((len(values), WORDS), np.uint64)
    if _rings is not None:
        _rings.crc_bits(values if type(values) is list else list(values), out)
        return out
    return _bits_of_each_numpy(values, out)


def _bits_of_each_numpy(values: Sequence[str | None], out: U64) -> U64:
    """`bits_of_each` without the compiled loop (the reference its tests compare with)."""
    rows = [i for i, v in enumerate(values) if v is not None]
    if not rows:
        return out
    crc = zlib.crc32
    h = np.fromiter(
        (crc(values[i].encode("utf-8", "surrogatepass")) for i in rows),  # type: ignore[union-attr]
        np.uint64,
        len(rows),
    )
    with np.errstate(over="ignore"):  # the same mix as `value_bits`, vectorised
        h = (h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
    word = ((h >> np.uint64(6)) % np.uint64(WORDS)).astype(np.int64)
    out[np.array(rows), word] = np.uint64(1) << (h & np.uint64(63))  # one value a row: no OR
    return out


def range_or(bits: U64, lo: I64, hi: I64) -> U64:
    """OR of bits[lo[j] : hi[j] + 1] for every j, with a sparse table (O(n log n), vectorised)."""
    n = len(bits)
    table = [bits]
    step = 1
    while step * 2 <= n:
        prev = table[-1]
        nxt = prev.copy()
        nxt[: n - step] |= prev[step:]
        table.append(nxt)
        step *= 2
    length = hi - lo + 1
    level = np.floor(np.log2(np.maximum(length, 1))).astype(np.int64)
    out = np.zeros_like(bits)
    for k in np.unique(level).tolist():
        sel = level == k
        t = table[k]
        out[sel] = t[lo[sel]] | t[hi[sel] - (1 << k) + 1]
    return out


def log_bound(m: int = 64 * WORDS) -> float:
    """The largest distinct count a sketch can report (for docs and tests)."""
    return -m * math.log(0.5 / m)
