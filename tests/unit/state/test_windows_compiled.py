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


@pytest.mark.parametrize("kind", ["events", "contacts"])
@pytest.mark.parametrize("seed", range(40))
def test_staged_rows_are_what_writing_stores(
    kind: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`stage` + `commit` == `update(write=True)` (and the numpy paths): values, rows, heads."""
    rng = random.Random(1000 + seed)
    spec = WindowSpec(kind, rng.choice((600, 3600)))
    staged, written, numpy_ = Series(spec, 8), Series(spec, 8), Series(spec, 8)
    for s, b, a, _ in _batches(rng, spec, rng.choice((1, 3, 8))):
        need = None if rng.random() < 0.3 else np.array([rng.random() < 0.3 for _ in s])
        values, rows = staged.stage(s, b, a, need)
        assert rows is not None
        assert np.array_equal(staged.head, written.head)  # staging stores nothing
        assert staged.commit(rows)
        want = written.update(s, b, a)[0]
        with monkeypatch.context() as m:
            m.setattr(windows, "_rings", None)
            reference, none = numpy_.stage(s, b, a, need)  # numpy: the values, no rows
            numpy_.update(s, b, a)
        if need is not None:
            want[~need] = 0  # read only where needed
        assert none is None
        assert values.tolist() == want.tolist() == reference.tolist()
        for other in (written, numpy_):
            assert np.array_equal(staged.head, other.head)
            assert np.array_equal(staged.cells, other.cells)


def test_staged_rows_go_stale_when_the_series_changes_first() -> None:
    spec = WindowSpec("events", 600)
    series = Series(spec, 4)
    s, b, a = np.array([1, 2], np.int64), np.array([5, 5], np.int64), np.ones(2, np.uint32)
    _, first = series.stage(s, b, a)
    _, second = series.stage(s, b, a)
    assert first is not None and second is not None
    assert series.commit(first)
    assert not series.commit(second)  # computed from the rows before `first` was stored
    assert series.cells[1].sum() == 1
    for change in (lambda: series.clear(np.array([3], np.int64)), lambda: series.grow(8),
                   lambda: series.write(s, b, a), series.touch):  # fmt: skip
        _, rows = series.stage(s, b, a)
        assert rows is not None
        change()
        assert not series.commit(rows)
