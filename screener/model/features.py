"""Hashed character n-grams of a batch's compact view: the learned model's only features.

The compact view is the engine's own normalisation (width, case, traditional → simplified,
styled letters, zero-width and separators removed: 加 V 信 → 加v信), so the model sees the
same text the keyword rules see and the evasions they resist do not change its features
either. Each n-gram (orders 1–3 by default) is hashed into `dim` buckets (a power of two) by
multiplicative hashing of its code points; n-grams never span two messages. A message's
feature vector is its bucket counts divided by the square root of its n-gram count, so long
messages do not score higher just for being long.

Everything here is array arithmetic over the whole batch: no Python loop per message or per
character (the engine calls it once per batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from screener.text.folding import SEP
from screener.text.views import BatchText, Codes, Positions

_MIX = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: multiplicative hashing
_STEP = np.uint64(0x100000001B3)  # FNV prime: combines one more code point into an n-gram
_SALT = tuple(np.uint64(0x51ED270B27C8F3A5 * (k + 1) & (2**64 - 1)) for k in range(16))


@dataclass(frozen=True, slots=True)
class NGrams:
    """One order's n-grams of a batch: bucket per n-gram, grouped by message in order."""

    buckets: npt.NDArray[np.int64]
    starts: Positions
    """index into `buckets` where message i's n-grams start (length n + 1)."""


def ngrams(
    codes: Codes, starts: Positions, order: int, bits: int, salt: int | None = None
) -> NGrams:
    """The `order`-grams of joined codes whose messages begin at `starts`.

    `salt` picks the hash family (default: the order's own)."""
    n = len(starts)
    length = len(codes)
    count = max(length - order + 1, 0)
    if count == 0:
        return NGrams(np.zeros(0, dtype=np.int64), np.zeros(n + 1, dtype=np.int64))
    wide = codes.astype(np.uint64)
    h = wide[:count].copy()
    bad = codes[:count] == SEP
    for k in range(1, order):
        h *= _STEP
        h ^= wide[k : k + count]
        bad |= codes[k : k + count] == SEP
    h += _SALT[order if salt is None else salt]
    h *= _MIX
    buckets = (h >> np.uint64(64 - bits)).astype(np.int64)
    good = ~bad
    before = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(good, out=before[1:])
    bounds = np.append(np.minimum(starts, count), count)
    return NGrams(buckets[good], before[bounds])


_ZERO, _NINE = ord("0"), ord("9")


def batch_ngrams(
    batch: BatchText,
    orders: tuple[int, ...],
    bits: int,
    digit_class: bool = False,
    mark_orders: tuple[int, ...] = (),
) -> list[NGrams]:
    """Every order's n-grams of a batch's compact view, then those of its `marks`.

    `digit_class` reads every digit as `0` first: phone numbers, ids and prices then share
    n-grams (`000000`) instead of each teaching the model its own random digits, which on
    the tune data made everyday texts with a number look like adverts.

    `mark_orders` adds n-grams of `marks`: what folding took away. They are hashed with their
    own salts (order + 8), so they never share a bucket by design with the compact n-gram of
    the same order.
    """
    codes = batch.codes("compact")
    if digit_class:
        codes = _digits_as_zero(codes)
    starts = batch.message_starts("compact")
    out = [ngrams(codes, starts, k, bits) for k in orders]
    if mark_orders:
        codes, starts = marks(batch)
        out += [ngrams(codes, starts, k, bits, salt=k + MARK_SALT) for k in mark_orders]
    return out


MARK_SALT = 8
"""mark n-grams of order k use salt k + 8 (compact ones salt k; orders are at most 6)."""
PLAIN = 1
"""the one code `marks` reads every ordinary letter or digit as (U+0001, never itself a mark)."""


def marks(batch: BatchText) -> tuple[Codes, Positions]:
    """The original characters of a batch, each plain letter or digit read as `PLAIN`.

    Folding is what makes 薇❤信, ｑｑ, 白③0 and 加 V 信 read as the words they hide, so the
    compact view the other n-grams come from no longer shows that a message was disguised at
    all. Ordinary text rarely is: on the tune data, n-grams of what folding changed or dropped
    (emoji, circled digits, full-width and styled letters, separators, punctuation), with
    every untouched letter or digit as one `PLAIN` code, raised out-of-fold ChineseHarm recall
    at a lower everyday false-positive rate. Messages are joined by `SEP` (returned starts
    index the joined codes); zero-width characters count as marks too.
    """
    texts = batch.texts
    raw = np.frombuffer("\n".join(texts).encode("utf-32-le"), dtype=np.uint32)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=starts[1:])
    folding = batch.folding
    folded = folding.fold.take(raw)
    plain = (folded == raw) & folding.word.take(folded).astype(np.bool_)
    out = np.where(plain, np.uint32(PLAIN), raw).astype(np.uint32)
    out[starts[1:] - 1] = SEP  # the joiners between messages: no n-gram spans two messages
    return out, starts


def _digits_as_zero(codes: Codes) -> Codes:
    return np.where((codes >= _ZERO) & (codes <= _NINE), _ZERO, codes).astype(codes.dtype)


def scale(parts: list[NGrams], min_ngrams: int = 1) -> npt.NDArray[np.float32]:
    """Per message: 1 / sqrt(max(number of n-grams, min_ngrams)), 0 for a message with none.

    `min_ngrams` is the minimum-evidence guard: a two-character text has only a handful of
    n-grams, and 1/sqrt(count) would blow their few weights up to extreme probabilities; with
    the floor, such a text scores as if the missing n-grams were neutral.
    """
    total = sum((np.diff(p.starts) for p in parts), np.zeros(len(parts[0].starts) - 1, np.int64))
    out = np.zeros(len(total), dtype=np.float32)
    nz = total > 0
    out[nz] = 1.0 / np.sqrt(np.maximum(total[nz], min_ngrams))
    return out


def segment_sums(rows: npt.NDArray[np.float32], starts: Positions) -> npt.NDArray[np.float32]:
    """Sum of `rows` over each segment [starts[i], starts[i + 1]) (empty segments: 0)."""
    n = len(starts) - 1
    out = np.zeros((n, rows.shape[1]), dtype=np.float32)
    if len(rows) == 0 or n == 0:
        return out
    lo = starts[:-1]
    nonempty = starts[1:] > lo
    if nonempty.any():
        # reduceat sums from each index to the next; empty segments have none of their own, so
        # the non-empty ones alone partition the rows (the last one runs to the end)
        out[nonempty] = np.add.reduceat(rows, lo[nonempty], axis=0)
    return out
