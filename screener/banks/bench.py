"""`screener bench bank`: PDQ look-ups per second against a large bank, checked exactly.

Bank: N uniformly random 256-bit hashes. Queries: bank hashes with 0..radius random bits
flipped (each must be found), plus as many random hashes (nearly all must not be). A sample of
both is checked against brute force: same nearest row, same distance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from screener.banks.bank import random_pdq
from screener.banks.mih import MultiIndex, brute_force


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
    index = MultiIndex(bank, radius, chunks)
    build = time.perf_counter() - t0
    rng = np.random.default_rng(2)
    targets = rng.integers(0, bank_size, queries)
    near = perturb(bank[targets], radius)
    noise = random_pdq(queries, seed=3)
    t0 = time.perf_counter()
    best, dist = index.search(near)
    near_rate = queries / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    rbest, rdist = index.search(noise)
    random_rate = queries / (time.perf_counter() - t0)
    pick = rng.choice(queries, min(sample, queries), replace=False)
    bb, bd = brute_force(bank, near[pick], radius)
    rb, rd = brute_force(bank, noise[pick], radius)
    agrees = bool(
        np.array_equal(bd, dist[pick]) and np.array_equal(rd, rdist[pick])
        and np.array_equal(bb, best[pick]) and np.array_equal(rb, rbest[pick])
    )  # fmt: skip
    return BankBench(bank_size, queries, radius, build, near_rate, random_rate,
                     int((best >= 0).sum()), len(pick), agrees)  # fmt: skip
