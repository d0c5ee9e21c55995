"""The compiled PDQ index: same answers as `mih.MultiIndex`, ~20x faster on a 1M bank.

From 65,536 rows up, sixteen 16-bit chunks (radius 31 -> every chunk probed within 1 bit:
17 probes each, 272 per query; ~15 bank rows per probed bucket of a 1M bank); smaller banks get
shorter chunks (cheap to build). Each chunk's table is CSR over entries holding the row id plus
128 bits of the row from the other half of the hash, stored in bucket order, so candidates are
rejected while reading memory sequentially (see `_mih.c`). The 16-bit tables (16 x 256 KB of
offsets) stay in cache. Memory: 20 bytes per row per chunk, i.e. ~320 MB per 1,000,000 hashes
plus the 32 MB bank itself; `bytes` says exactly.

`make_index` returns this index when the extension is built (`pip install` builds it; it is
optional, so an install without a compiler still works) and `MultiIndex` otherwise.
"""

from __future__ import annotations

import numpy as np

from screener.banks.mih import BITS, I64, U64, WORDS, MultiIndex, _masks, _plan, chunk_values

try:
    from screener.banks import _mih  # type: ignore[attr-defined]
except ImportError:  # not built (no compiler at install time): the numpy index serves
    _mih = None

BATCH = 16384
"""queries per call into C: bounds its scratch memory (68 bytes a query), GIL released per call"""


def compiled() -> bool:
    return _mih is not None


class CompiledIndex:
    """An exact radius search over a fixed bank of 256-bit hashes, searched in C."""

    def __init__(self, words: U64, radius: int = 31, chunks: int | None = None):
        if _mih is None:
            raise RuntimeError("the compiled PDQ index (screener.banks._mih) is not built")
        self.words = np.ascontiguousarray(words, np.uint64)
        self.radius = radius
        if chunks is None:
            # 16 bits from 65,536 rows up; a small bank (the shipped one) gets short chunks,
            # whose tiny tables build in well under a millisecond
            bits = min(16, max(8, int(np.log2(max(len(self.words), 2)))))
            chunks = -(-BITS // bits)
        self.chunks: list[tuple[int, int, int, int, I64, np.ndarray, np.ndarray, U64]] = []
        for start, length, t in _plan(chunks, radius):
            values = chunk_values(self.words, start, length)
            # numpy's stable sort of uint16 is a radix sort (O(n), ~10x timsort)
            keys = values.astype(np.uint16) if length <= 16 else values
            ids = np.argsort(keys, kind="stable").astype(np.int32)
            # CSR offsets, all in int32: ~8x cheaper than bincount + a casting cumsum, which
            # cost scan's start-up ~50 ms for the shipped bank's 16 tables of 65,537
            starts = np.zeros((1 << length) + 1, np.int32)
            np.add.at(starts, values + 1, 1)
            starts = np.cumsum(starts, dtype=np.int32)
            # the two words of the other half: they say nothing of this chunk's closeness
            wa, wb = (2, 3) if start + length <= 128 else (0, 1)
            inline = np.ascontiguousarray(self.words[:, wa : wb + 1][ids])
            masks = _masks(length, t)
            self.chunks.append((start, length, wa, wb, masks, starts, ids, inline))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def bytes(self) -> int:
        """Memory held by the index (bank rows included)."""
        parts = [self.words] + [a for c in self.chunks for a in c[4:]]
        return sum(a.nbytes for a in parts)

    def search(self, queries: U64, batch: int = BATCH, stream: bool = True) -> tuple[I64, I64]:
        """(best bank row or -1, its distance or -1) for each query (nearest, lowest row on
        ties), as `MultiIndex.search`. `stream=False` forces the one-query-at-a-time loop
        (tests compare the two)."""
        q = np.ascontiguousarray(queries, np.uint64).reshape(-1, WORDS)
        best = np.full(len(q), -1, np.int64)
        dist = np.full(len(q), -1, np.int64)
        if not len(self.words):
            return best, dist
        assert _mih is not None
        for i in range(0, len(q), batch):
            _mih.search(q[i : i + batch], self.radius, self.words, self.chunks,
                        best[i : i + batch], dist[i : i + batch], stream)  # fmt: skip
        return best, dist


def make_index(words: U64, radius: int = 31) -> CompiledIndex | MultiIndex:
    """The compiled index when built, else the numpy one (same answers)."""
    return CompiledIndex(words, radius) if compiled() else MultiIndex(words, radius)


def backend() -> str:
    return "compiled (C extension)" if compiled() else "numpy (extension not built)"
