"""A batch's summed n-gram weight rows, in one compiled pass when `_ngrams` is built.

`LinearModel.logits` needs, per message, the sum of its n-grams' weight rows and how many
n-grams it has. The numpy way (`numpy_sums`, the reference) lists every n-gram's bucket per
order, gathers one weight row per n-gram and sums them per message with `np.add.reduceat`;
profiled on `screener bench engine --model`, the gather, the sums and the hash temporaries were
about three quarters of the model's time, and they evict the cache the rest of the engine
needs. `compiled_sums` hashes each n-gram and adds its row straight into the message's
accumulator (`_ngrams.c`), with the same buckets and the same float32 bits (see its header for
why the summation order matches); `compiled_marks` is `features.marks` with its per-character
passes in C. Which one `weight_sums` uses is decided once, at import.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import numpy.typing as npt

from screener.model.features import (
    _SALT,
    MARK_SALT,
    PLAIN,
    batch_ngrams,
    segment_sums,
)
from screener.text.folding import SEP
from screener.text.views import BatchText, Codes, Positions

try:
    from screener.model import _ngrams  # type: ignore[attr-defined]
except ImportError:  # not built (no compiler at install time): the numpy path serves
    _ngrams = None

BMP_SYMBOLS = np.frombuffer(
    bytes(unicodedata.category(chr(c)).startswith("S") for c in range(0x10000 if _ngrams else 0)),
    np.bool_,
)
"""which BMP characters `marks` reads as symbols (categories S*): asked once at import (~8 ms)
instead of sorting each batch's punctuation and spaces to ask per distinct character."""
Matrix = npt.NDArray[np.float32]
Counts = npt.NDArray[np.int64]
COMPILED = _ngrams is not None
"""whether `weight_sums` runs the compiled pass (fixed at import)."""


def numpy_sums(
    batch: BatchText,
    table: Matrix,
    orders: tuple[int, ...],
    bits: int,
    digit_class: bool = False,
    mark_orders: tuple[int, ...] = (),
) -> tuple[Matrix, Counts]:
    """(messages × width) sums of `table` rows over each message's n-grams, and their counts."""
    parts = batch_ngrams(batch, orders, bits, digit_class, mark_orders, sparse=True)
    n = len(parts[0].starts) - 1
    total = np.zeros((n, table.shape[1]), dtype=np.float32)
    for part in parts:
        # one gather of weight rows per n-gram, then one sum per message segment
        total += segment_sums(np.take(table, part.buckets, axis=0), part.starts)
        if part.plain_counts is not None:  # the n-grams `sparse_ngrams` only counted
            total += part.plain_counts[:, None] * table[part.plain_bucket]
    counts = np.zeros(n, np.int64)
    for part in parts:
        counts += np.diff(part.starts)
        if part.plain_counts is not None:
            counts += part.plain_counts
    return total, counts


def compiled_sums(
    batch: BatchText,
    table: Matrix,
    orders: tuple[int, ...],
    bits: int,
    digit_class: bool = False,
    mark_orders: tuple[int, ...] = (),
) -> tuple[Matrix, Counts]:
    """`numpy_sums`, the same values, in one C pass per order (no per-n-gram arrays)."""
    if _ngrams is None:
        raise RuntimeError("the compiled n-gram pass (screener.model._ngrams) is not built")
    codes = np.ascontiguousarray(batch.codes("compact"), np.uint32)
    starts = np.ascontiguousarray(batch.message_starts("compact"), np.int64)
    n = len(starts)
    total = np.zeros((n, table.shape[1]), dtype=np.float32)
    counts = np.zeros(n, np.int64)
    for k in orders:  # digit_class: the kernel reads each digit as `0` (`_digits_as_zero`)
        _ngrams.dense(codes, starts, k, int(_SALT[k]), bits, table, total, counts, digit_class)
    if mark_orders:
        mcodes, mstarts = compiled_marks(batch)
        for k in mark_orders:
            salt = int(_SALT[k + MARK_SALT])
            _ngrams.sparse(mcodes, mstarts, k, salt, bits, table, total, counts, PLAIN)
    return total, counts


def compiled_marks(batch: BatchText) -> tuple[Codes, Positions]:
    """`features.marks`, the same codes and starts, its per-character passes in C."""
    assert _ngrams is not None
    texts = batch.texts
    raw = np.frombuffer("\n".join(texts).encode("utf-32-le"), dtype=np.uint32)
    if batch.src:  # some message expanded (⑩ → 10): the batch's starts are of the expansion
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        starts = np.zeros(len(texts), dtype=np.int64)
        np.cumsum(lengths[:-1] + 1, out=starts[1:])
    else:  # the same joined original as the batch's: its starts, without a pass over texts
        starts = batch.a_start[:-1]
    folding = batch.folding
    out = np.empty(len(raw), np.uint32)
    other = np.empty(len(raw), np.int64)
    other = other[: _ngrams.marks(raw, folding.fold, folding.word, BMP_SYMBOLS, PLAIN, out, other)]
    if len(other):  # astral ones (emoji): as `marks`, the category once per distinct character
        distinct, where = np.unique(raw[other], return_inverse=True)
        symbol = np.fromiter(
            (unicodedata.category(chr(c)).startswith("S") for c in distinct.tolist()),
            dtype=np.bool_, count=len(distinct),
        )  # fmt: skip
        keep = other[symbol[where.reshape(-1)]]
        out[keep] = raw[keep]
    out[starts[1:] - 1] = SEP  # the joiners between messages: no n-gram spans two messages
    return out, starts


weight_sums = compiled_sums if COMPILED else numpy_sums
"""`compiled_sums` when the extension is built, else `numpy_sums` (chosen once, at import)."""
