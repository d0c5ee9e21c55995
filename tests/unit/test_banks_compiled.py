"""The compiled PDQ index answers exactly as the numpy index and brute force do."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from screener.banks import fast
from screener.banks.bank import random_pdq
from screener.banks.bench import perturb
from screener.banks.mih import MultiIndex, brute_force, hamming

if not fast.compiled():
    # CI builds the extension (`pip install -e .`); there its absence is a failure, not a skip
    assert os.environ.get("CI", "").lower() not in ("1", "true"), "screener.banks._mih not built"
    pytest.skip("compiled PDQ index not built here", allow_module_level=True)


def _flip(rows: np.ndarray, bits: int, seed: int) -> np.ndarray:
    """Each row with exactly `bits` distinct bits flipped."""
    rng = np.random.default_rng(seed)
    out = rows.copy()
    for i in range(len(out)):
        for b in rng.choice(256, bits, replace=False):
            out[i, b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return out


@pytest.mark.parametrize("chunks", [None, 16])  # auto (12-bit here) and the 1M layout
@pytest.mark.parametrize("stream", [False, True])
def test_compiled_agrees_with_numpy_and_brute_force_at_30_31_32(
    stream: bool, chunks: int | None
) -> None:
    bank = random_pdq(4000, seed=11)
    # enough queries that the streaming path runs (it needs 17 probes x q >= 2^15)
    parts = [_flip(bank[:700], d, seed=d) for d in (30, 31, 32)]
    parts += [perturb(bank[700:1400], 31, seed=4), random_pdq(700, seed=12)]
    queries = np.concatenate(parts)
    assert hamming(parts[0], bank[:700]).tolist() == [30] * 700
    got = fast.CompiledIndex(bank, 31, chunks).search(queries, stream=stream)
    ref = MultiIndex(bank, 31).search(queries)
    want = brute_force(bank, queries, 31)
    for a, b in ((got, want), (ref, want)):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    best, dist = got
    assert (best[:700] == np.arange(700)).all() and (dist[:700] == 30).all()
    assert (best[700:1400] == np.arange(700)).all() and (dist[700:1400] == 31).all()
    assert (best[1400:2100] == -1).all() and (dist[1400:2100] == -1).all()  # 32: no match
    assert (best[2100:2800] == np.arange(700, 1400)).all()


@pytest.mark.parametrize("chunks", [None, 16, 32])
@pytest.mark.parametrize("stream", [False, True])
def test_nearest_and_lowest_row_on_ties(stream: bool, chunks: int | None) -> None:
    bank = random_pdq(3000, seed=3)
    bank[10] = bank[20]  # an exact duplicate: the lower row wins
    bank[30] = _flip(bank[40:41], 2, seed=1)[0]  # row 30 is 2 bits from row 40
    q = np.repeat(bank[[20, 40]], 1200, axis=0)  # 2,400 queries: streaming when asked
    best, dist = fast.CompiledIndex(bank, 31, chunks).search(q, stream=stream)
    assert set(best[:1200].tolist()) == {10} and set(dist[:1200].tolist()) == {0}
    assert set(best[1200:].tolist()) == {40} and set(dist[1200:].tolist()) == {0}


def test_other_radii_and_empty_inputs() -> None:
    bank = random_pdq(2000, seed=8)
    q = np.concatenate([perturb(bank[:300], 12, seed=2), random_pdq(100, seed=9)])
    for radius, chunks in itertools.product((0, 12, 40), (None, 16)):
        got = fast.CompiledIndex(bank, radius, chunks).search(q)
        want = brute_force(bank, q, radius)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    empty = fast.CompiledIndex(bank[:0], 31).search(q)
    assert (empty[0] == -1).all()
    assert len(fast.CompiledIndex(bank, 31).search(q[:0])[0]) == 0


def test_make_index_uses_the_extension() -> None:
    assert isinstance(fast.make_index(random_pdq(10, seed=1)), fast.CompiledIndex)
    assert fast.backend().startswith("compiled")
