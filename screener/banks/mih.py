"""Multi-index hashing for 256-bit hashes (PDQ) within a Hamming radius, exactly.

Split the 256 bits into m chunks. If two hashes differ in at most r bits, then for any chunk
thresholds t_1..t_m with sum(t_i) >= r - m + 1 some chunk differs in at most t_i bits (the
general pigeonhole principle: were every chunk i at least t_i + 1 apart, the total would be
at least sum(t_i) + m > r). So a query probes, in each chunk's table, every value within t_i
bits of its own chunk, and only the bank hashes found there are compared in full.

Chunks of about log2(bank size) bits keep each table slot near one entry. Tables are
direct-addressed (CSR: `starts[value] .. starts[value + 1]` into ids sorted by that chunk),
so a probe is two array reads; all of a query batch's probes run as numpy gathers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BITS = 256
WORDS = 4
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
MAX_CHUNK_BITS = 24
"""table size 2^bits int32 per chunk: 64 MB at 24 bits; above that refuse"""


def hex_to_words(hashes: list[str] | tuple[str, ...]) -> U64:
    """(n, 4) big-endian 64-bit words of 64-hex-digit hashes (bit 0 = the first hex digit)."""
    raw = bytes.fromhex("".join(hashes))
    return np.frombuffer(raw, ">u8").astype(np.uint64).reshape(-1, WORDS)


def hamming(a: U64, b: U64) -> npt.NDArray[np.int64]:
    out: npt.NDArray[np.int64] = np.bitwise_count(a ^ b).sum(axis=-1, dtype=np.int64)
    return out


@dataclass(frozen=True)
class _Chunk:
    start: int  # first bit
    length: int
    threshold: int
    starts: npt.NDArray[np.int32]  # CSR offsets, 2^length + 1
    ids: npt.NDArray[np.int32]  # bank rows sorted by this chunk's value
    probes: npt.NDArray[np.int64]  # XOR masks within `threshold` bits


def _plan(m: int, radius: int) -> list[tuple[int, int, int]]:
    """(start, length, threshold) per chunk: lengths as equal as can be, thresholds summing to
    radius - m + 1, the larger ones on the longer chunks."""
    base, extra = divmod(BITS, m)
    lengths = [base + (i < extra) for i in range(m)]
    need = max(0, radius - m + 1)
    tb, te = divmod(need, m)
    thresholds = [tb + (i < te) for i in range(m)]
    out, pos = [], 0
    for length, t in zip(lengths, thresholds, strict=True):
        out.append((pos, length, t))
        pos += length
    return out


def _masks(length: int, threshold: int) -> npt.NDArray[np.int64]:
    masks = [0]
    for k in range(1, threshold + 1):
        for bits in itertools.combinations(range(length), k):
            masks.append(sum(1 << b for b in bits))
    return np.array(masks, np.int64)


def chunk_values(words: U64, start: int, length: int) -> I64:
    """Integer value of bits start .. start+length-1 (bit 0 = the top bit of word 0)."""
    word, off = divmod(start, 64)
    if off + length <= 64:
        v = words[:, word] >> np.uint64(64 - off - length)
    else:  # spans two words: the low bits of one, the high bits of the next
        low = off + length - 64
        v = (words[:, word] << np.uint64(low)) | (words[:, word + 1] >> np.uint64(64 - low))
    return (v & np.uint64((1 << length) - 1)).astype(np.int64)


class MultiIndex:
    """An exact radius search over a fixed bank of 256-bit hashes."""

    def __init__(self, words: U64, radius: int = 31, chunks: int | None = None):
        n = len(words)
        self.words = np.ascontiguousarray(words, np.uint64)
        self.radius = radius
        if chunks is None:
            # chunks of ~log2(n) bits: about one bank entry per table slot (measured best)
            bits_per_chunk = min(21, max(8, int(np.log2(max(n, 2)))))
            chunks = int(np.ceil(BITS / bits_per_chunk))
        plan = _plan(chunks, radius)
        if max(length for _, length, _ in plan) > MAX_CHUNK_BITS:
            raise ValueError(f"{chunks} chunks are too long for direct tables; use more")
        # one array per word: a candidate's distance is four gathers of contiguous columns
        self.columns = [np.ascontiguousarray(self.words[:, w]) for w in range(WORDS)]
        self.chunks: list[_Chunk] = []
        for start, length, t in plan:
            values = chunk_values(self.words, start, length)
            ids = np.argsort(values, kind="stable").astype(np.int32)
            counts = np.bincount(values, minlength=1 << length)
            starts = np.zeros((1 << length) + 1, np.int32)
            np.cumsum(counts, out=starts[1:])
            self.chunks.append(_Chunk(start, length, t, starts, ids, _masks(length, t)))

    def __len__(self) -> int:
        return len(self.words)

    def search(self, queries: U64, batch: int = 1024) -> tuple[I64, I64]:
        """(best bank row or -1, its distance or -1) for each query (nearest, lowest row on
        ties). Queries go in slices of `batch`, so a slice's candidates stay in cache."""
        if len(queries) <= batch:
            return self._search(queries)
        parts = [self._search(queries[i : i + batch]) for i in range(0, len(queries), batch)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _search(self, queries: U64) -> tuple[I64, I64]:
        q = len(queries)
        best = np.full(q, -1, np.int64)
        dist = np.full(q, BITS + 1, np.int64)
        if q == 0 or not len(self.words):
            return best, np.full(q, -1, np.int64)
        qcols = [np.ascontiguousarray(queries[:, w]) for w in range(WORDS)]
        for c in self.chunks:
            values = chunk_values(queries, c.start, c.length)
            keys = (values[:, None] ^ c.probes[None, :]).ravel()
            lo = c.starts[keys].astype(np.int64)
            n = c.starts[keys + 1] - lo
            total = int(n.sum())
            if total == 0:
                continue
            owner = np.repeat(np.arange(len(keys), dtype=np.int64) // len(c.probes), n)
            # positions lo .. lo+n-1 for every probe, without a Python loop
            offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
            cand = c.ids[np.repeat(lo, n) + offsets]
            # Two words first: a random candidate is ~64 bits away on them, a match at most r,
            # so nearly all are dropped before the other two gathers (random reads dominate).
            d = np.bitwise_count(self.columns[0][cand] ^ qcols[0][owner]).astype(np.int64)
            d += np.bitwise_count(self.columns[1][cand] ^ qcols[1][owner])
            ok = d <= self.radius
            if not ok.any():
                continue
            owner, cand, d = owner[ok], cand[ok], d[ok]
            for w in range(2, WORDS):
                d += np.bitwise_count(self.columns[w][cand] ^ qcols[w][owner])
            ok = d <= self.radius
            owner, cand, d = owner[ok], cand[ok], d[ok]
            better = d < dist[owner]
            # several candidates of one query: keep the nearest (lowest row on ties)
            order = np.lexsort((cand[better], d[better], owner[better]))
            o, cc, dd = owner[better][order], cand[better][order], d[better][order]
            first = np.ones(len(o), bool)
            first[1:] = o[1:] != o[:-1]
            sel_o, sel_c, sel_d = o[first], cc[first], dd[first]
            upd = (sel_d < dist[sel_o]) | ((sel_d == dist[sel_o]) & (sel_c < best[sel_o]))
            dist[sel_o[upd]], best[sel_o[upd]] = sel_d[upd], sel_c[upd]
        dist[best < 0] = -1
        return best, dist


def brute_force(words: U64, queries: U64, radius: int) -> tuple[I64, I64]:
    """The reference: every query against every bank hash (for tests and the benchmark)."""
    best = np.full(len(queries), -1, np.int64)
    dist = np.full(len(queries), -1, np.int64)
    for i, qw in enumerate(queries):
        d = hamming(words, qw[None, :])
        j = int(np.argmin(d))
        if d[j] <= radius:
            best[i], dist[i] = j, int(d[j])
    return best, dist
