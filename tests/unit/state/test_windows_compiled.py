"""The compiled window loop (`screener/state/_rings.c`) against the numpy paths: the same
values, late counts and stored rings on random batches (out of order, late, empty rows,
several keys, counts and distinct bitmaps, reads without writes)."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from screener.state import windows
from screener.state.windows import WORDS, Series, WindowSpec

if windows._rings is None:
    # CI builds the extension (`pip install -e .`); there its absence is a failure, not a skip
    assert os.environ.get("CI", "").lower() not in ("1", "true"), "screener.state._rings not built"
    pytest.skip("compiled window loop not built here", allow_module_level=True)


def _batches(rng: random.Random, spec: WindowSpec, slots: int) -> list[tuple[np.ndarray, ...]]:
    out = []
    clock = rng.randint(-5000, 5000)  # negative buckets too: Python's floor modulo
    for _ in range(rng.randint(1, 10)):
        n = rng.randint(1, 60)
        s, b, a = [], [], []
        for _ in range(n):
            clock += rng.choice((0, 1, 30, 200, spec.width * 3))
            late = rng.random()
            t = clock - (rng.randint(0, spec.width * 30) if late < 0.25 else 0)
            s.append(rng.randrange(slots))
            b.append(t // spec.width)
            if spec.distinct:
                a.append([rng.getrandbits(64) & rng.getrandbits(64) for _ in range(WORDS)])
            else:
                a.append(rng.randint(0, 3))
        dtype = np.uint64 if spec.distinct else np.uint32
        out.append((np.array(s, np.int64), np.array(b, np.int64), np.array(a, dtype),
                    np.array([rng.random() < 0.7], bool)))  # fmt: skip
    return out


@pytest.mark.parametrize("kind", ["events", "contacts"])
@pytest.mark.parametrize("seed", range(40))
def test_compiled_loop_matches_numpy(kind: str, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    spec = WindowSpec(kind, rng.choice((600, 3600)))
    compiled, numpy_ = Series(spec, 8), Series(spec, 8)
    for s, b, a, write in _batches(rng, spec, rng.choice((1, 3, 8))):
        got = compiled.update(s, b, a, write=bool(write[0]))
        with monkeypatch.context() as m:
            m.setattr(windows, "_rings", None)
            want = numpy_.update(s, b, a, write=bool(write[0]))
        assert got[0].tolist() == want[0].tolist()
        assert got[1] == want[1]
        assert np.array_equal(compiled.head, numpy_.head)
        assert np.array_equal(compiled.cells, numpy_.cells)
    # `write` (no values asked) stores what `update` stores
    s, b, a, _ = _batches(rng, spec, 8)[0]
    compiled.write(s, b, a)
    with monkeypatch.context() as m:
        m.setattr(windows, "_rings", None)
        numpy_.write(s, b, a)
    assert np.array_equal(compiled.head, numpy_.head)
    assert np.array_equal(compiled.cells, numpy_.cells)


def test_compiled_loop_refuses_a_slot_outside_the_rows() -> None:
    series = Series(WindowSpec("events", 600), 4)
    with pytest.raises(IndexError):
        series.update(np.array([4], np.int64), np.array([0], np.int64), np.ones(1, np.uint32))
