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

import unicodedata
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
    plain_bucket: int = -1
    plain_counts: npt.NDArray[np.int64] | None = None
    """per message, how many more n-grams fall in `plain_bucket` without being listed
    (`sparse_ngrams`: most mark n-grams are all `PLAIN`)."""


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
    bounds = np.append(np.minimum(starts, count), count)
    return NGrams(buckets[~bad], _kept_before(bad, bounds))


def _kept_before(dropped: npt.NDArray[np.bool_], bounds: Positions) -> Positions:
    """How many positions before each bound are not `dropped`.

    Why not a cumulative sum of the kept mask: `np.cumsum` of a bool array into int64 cost
    ~0.1 ms a 1,000-message batch per order (a quarter of the model's feature time); the
    dropped positions are few (the n-grams that would span a separator), so counting them
    below each bound with a binary search is the same integers for a fraction of that.
    """
    return bounds - np.searchsorted(np.flatnonzero(dropped), bounds)


_ZERO, _NINE = ord("0"), ord("9")


def batch_ngrams(
    batch: BatchText,
    orders: tuple[int, ...],
    bits: int,
    digit_class: bool = False,
    mark_orders: tuple[int, ...] = (),
    *,
    sparse: bool = False,
) -> list[NGrams]:
    """Every order's n-grams of a batch's compact view, then those of its `marks`.

    `digit_class` reads every digit as `0` first: phone numbers, ids and prices then share
    n-grams (`000000`) instead of each teaching the model its own random digits, which on
    the tune data made everyday texts with a number look like adverts.

    `mark_orders` adds n-grams of `marks`: what folding took away. They are hashed with their
    own salts (order + 8), so they never share a bucket by design with the compact n-gram of
    the same order. `sparse` (inference) counts all-`PLAIN` mark n-grams instead of listing
    them (`sparse_ngrams`); training lists every n-gram.
    """
    codes = batch.codes("compact")
    if digit_class:
        codes = _digits_as_zero(codes)
    starts = batch.message_starts("compact")
    out = [ngrams(codes, starts, k, bits) for k in orders]
    if mark_orders:
        codes, starts = marks(batch)
        grams = sparse_ngrams if sparse else ngrams
        out += [grams(codes, starts, k, bits, salt=k + MARK_SALT) for k in mark_orders]
    return out


def sparse_ngrams(codes: Codes, starts: Positions, order: int, bits: int, salt: int) -> NGrams:
    """`ngrams` of marks, listing only n-grams with a mark; the all-`PLAIN` ones are counted.

    ~92% of the mark n-grams of ordinary traffic are all `PLAIN` (84 per message, 6 not, in
    the benchmark corpus), and they all land in one bucket: hashing and gathering them one by
    one cost about 2.5 µs per message, a third of the model. The sum of weights is the same.
    """
    n = len(starts)
    count = max(len(codes) - order + 1, 0)
    bucket = _plain_bucket(order, bits, salt)
    if count == 0:
        empty = np.zeros(0, dtype=np.int64)
        return NGrams(empty, np.zeros(n + 1, np.int64), bucket, np.zeros(n, np.int64))
    odd = codes != PLAIN
    hot = odd[:count].copy()
    bad = codes[:count] == SEP
    for k in range(1, order):
        hot |= odd[k : k + count]
        bad |= codes[k : k + count] == SEP
    hot &= ~bad
    pick = np.flatnonzero(hot)
    h = codes[pick].astype(np.uint64)
    for k in range(1, order):
        h *= _STEP
        h ^= codes[pick + k].astype(np.uint64)
    h += _SALT[salt]
    h *= _MIX
    buckets = (h >> np.uint64(64 - bits)).astype(np.int64)
    bounds = np.append(np.minimum(starts, count), count)
    at = np.searchsorted(pick, bounds)  # listed n-grams before each bound (`_kept_before`)
    valid = _kept_before(bad, bounds)
    return NGrams(buckets, at, bucket, np.diff(valid) - np.diff(at))


def _plain_bucket(order: int, bits: int, salt: int) -> int:
    """The bucket of the all-`PLAIN` n-gram: `ngrams`' hash in Python integers (wrapping at
    2^64 as uint64 does), since building arrays for one n-gram cost more than the rest of a
    small batch's mark n-grams."""
    mask = 2**64 - 1
    h = PLAIN
    for _ in range(1, order):
        h = ((h * int(_STEP)) & mask) ^ PLAIN
    h = (((h + int(_SALT[salt])) & mask) * int(_MIX)) & mask
    return h >> (64 - bits)


MARK_SALT = 8
"""mark n-grams of order k use salt k + 8 (compact ones salt k; orders are at most 6)."""
PLAIN = 1
"""the one code `marks` reads every undisguised character as (U+0001, never itself a mark)."""


def marks(batch: BatchText) -> tuple[Codes, Positions]:
    """The original characters of a batch, each undisguised one read as `PLAIN`.

    Folding is what makes 薇❤信, ｑｑ, 白③0 and 約炮 read as the words they hide, so the compact
    view the other n-grams come from no longer shows that a message was disguised at all.
    Ordinary text rarely is. So a character keeps its own code here when folding changed or
    dropped it (full-width, circled, styled or traditional forms, zero-width characters) or
    when it is a symbol (emoji, ❤, ⬆); letters, digits, punctuation and spaces that folding
    leaves alone are all `PLAIN`. Punctuation stays plain on purpose: it is the style of a
    genre (ChineseHarm's benign rows are assistant prose), not a disguise. On the tune data
    (five-fold), n-grams of these marks raised out-of-fold ChineseHarm F1 from 0.880 to 0.911
    at the same everyday limits. Messages are joined by `SEP` (returned starts index the
    joined codes).
    """
    texts = batch.texts
    raw = np.frombuffer("\n".join(texts).encode("utf-32-le"), dtype=np.uint32)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=starts[1:])
    folding = batch.folding
    folded = folding.fold.take(raw)
    plain = folded == raw
    # Letters and digits are never symbols: only the other unchanged characters (punctuation,
    # spaces, emoji: a few per message) need their Unicode category, looked up once for each
    # distinct one (sorting the whole batch for np.unique cost more than the model's gather)
    other = np.flatnonzero(plain & ~folding.word.take(folded).astype(np.bool_))
    if len(other):
        distinct, where = np.unique(raw[other], return_inverse=True)
        symbol = np.fromiter(
            (unicodedata.category(chr(c)).startswith("S") for c in distinct.tolist()),
            dtype=np.bool_, count=len(distinct),
        )  # fmt: skip
        plain[other[symbol[where.reshape(-1)]]] = False
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
    total = np.zeros(len(parts[0].starts) - 1, np.int64)
    for p in parts:
        total += np.diff(p.starts)
        if p.plain_counts is not None:
            total += p.plain_counts
    return scale_counts(total, min_ngrams)


def scale_counts(total: npt.NDArray[np.int64], min_ngrams: int = 1) -> npt.NDArray[np.float32]:
    """`scale` from each message's number of n-grams."""
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
