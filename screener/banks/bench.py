"""`screener bench bank`: PDQ look-ups per second against a large bank, checked exactly.

Bank: N uniformly random 256-bit hashes. Queries: bank hashes with 0..radius random bits
flipped (each must be found), plus as many random hashes (nearly all must not be). A sample of
both is checked against brute force: same nearest row, same distance. Rates are wall-clock on
one thread: the whole query set in one call (the streaming path of the compiled index), and in
batches of `SMALL_BATCH` (what one screening batch's images look like: the per-query path).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from screener.banks.bank import random_pdq
from screener.banks.fast import CompiledIndex, backend, make_index
from screener.banks.mih import MultiIndex, brute_force

SMALL_BATCH = 64
T = TypeVar("T")


@dataclass(frozen=True)
class BankBench:
    bank: int
    queries: int
    radius: int
    build_seconds: float
    near_per_second: float
    random_per_second: float
    found: int
    sample: int
    sample_agrees: bool
    backend: str
    index_mb: float
    small_batch_per_second: float
    near_per_cpu_second: float
    random_per_cpu_second: float


def perturb(words: np.ndarray, radius: int, seed: int = 1) -> np.ndarray:
    """Each row with a uniform 0..radius of its bits flipped (distinct positions)."""
    rng = np.random.default_rng(seed)
    n = len(words)
    flips = rng.integers(0, radius + 1, n)
    keys = rng.random((n, 256)).argsort(axis=1)  # a random order of bit positions per row
    take = np.arange(256)[None, :] < flips[:, None]
    rows, cols = np.nonzero(take)
    bits = keys[rows, cols]
    out = words.copy()
    masks = np.uint64(1) << (np.uint64(63) - (bits % 64).astype(np.uint64))
    np.bitwise_xor.at(out, (rows, bits // 64), masks)
    return out


def run(bank_size: int = 1_000_000, queries: int = 10_000, radius: int = 31,
        sample: int = 100, chunks: int | None = None) -> BankBench:  # fmt: skip
    bank = random_pdq(bank_size, seed=0)
    t0 = time.perf_counter()
    index = MultiIndex(bank, radius, chunks) if chunks else make_index(bank, radius)
    build = time.perf_counter() - t0
    if isinstance(index, CompiledIndex):
        name, size = backend(), index.bytes
    else:
        name = "numpy" if chunks else backend()
        size = index.words.nbytes + sum(c.starts.nbytes + c.ids.nbytes for c in index.chunks)
    rng = np.random.default_rng(2)
    targets = rng.integers(0, bank_size, queries)
    near = perturb(bank[targets], radius)
    noise = random_pdq(queries, seed=3)
    (best, dist), near_rate, near_cpu = _rate(lambda: index.search(near), queries)
    (rbest, rdist), random_rate, random_cpu = _rate(lambda: index.search(noise), queries)
    small_rate = _rate(lambda: [index.search(noise[i : i + SMALL_BATCH])
                                for i in range(0, queries, SMALL_BATCH)], queries)[1]  # fmt: skip
    pick = rng.choice(queries, min(sample, queries), replace=False)
    bb, bd = brute_force(bank, near[pick], radius)
    rb, rd = brute_force(bank, noise[pick], radius)
    agrees = bool(
        np.array_equal(bd, dist[pick]) and np.array_equal(rd, rdist[pick])
        and np.array_equal(bb, best[pick]) and np.array_equal(rb, rbest[pick])
    )  # fmt: skip
    return BankBench(bank_size, queries, radius, build, near_rate, random_rate,
                     int((best >= 0).sum()), len(pick), agrees, name, size / 1e6,
                     small_rate, near_cpu, random_cpu)  # fmt: skip


def _rate(work: Callable[[], T], count: int) -> tuple[T, float, float]:
    """work's result, and count per wall second and per CPU second of this process (on a
    shared machine the second is the steadier figure for "one core")."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return out, count / max(wall, 1e-9), count / max(cpu, 1e-9)
