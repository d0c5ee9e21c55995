"""Windowed counters against hand-computed windows and a brute-force reference."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from screener.state.windows import (
    GRACE,
    RING,
    Series,
    WindowSpec,
    bits_of,
    bits_of_each,
    value_bits,
)


def _ones(n: int) -> np.ndarray:
    return np.ones(n, np.uint32)


def _run(series: Series, slots: list[int], secs: list[int]) -> list[int]:
    s = np.array(slots, np.int64)
    b = series.bucket(np.array(secs, np.int64))
    return series.update(s, b, _ones(len(s)))[0].tolist()


def test_ten_minute_window_edges_by_hand() -> None:
    # 10m window = 10 buckets of 60 s: an event at t counts buckets floor(t/60)-9 .. floor(t/60)
    w = Series(WindowSpec("events", 600), 4)
    assert _run(w, [0, 0, 0], [0, 59, 60]) == [1, 2, 3]
    # t=599 is bucket 9: buckets 0..9, all three still in
    assert _run(w, [0], [599]) == [4]
    # t=600 is bucket 10: bucket 0 (t=0, t=59) leaves the window; 60 and 599 stay, plus itself
    assert _run(w, [0], [600]) == [3]
    # another key is independent
    assert _run(w, [1], [600]) == [1]


def test_late_within_grace_is_counted_older_is_dropped() -> None:
    w = Series(WindowSpec("events", 600), 2)
    assert _run(w, [0], [20 * 60]) == [1]  # bucket 20
    # bucket 19 (1 min late, inside grace): counted; its own window 10..19 holds only itself
    assert _run(w, [0], [19 * 60]) == [1]
    # bucket 20+... the newest now sees both
    assert _run(w, [0], [20 * 60 + 1]) == [3]
    # bucket 8 is older than 20 - RING + 1 = 9: late, not counted, reads what remains (nothing)
    s, b = np.array([0]), w.bucket(np.array([8 * 60]))
    values, late = w.update(s, b, _ones(1))
    assert (values.tolist(), late) == ([0], 1)
    assert _run(w, [0], [20 * 60 + 2]) == [4]


def test_out_of_order_in_one_batch_matches_one_by_one() -> None:
    spec = WindowSpec("events", 600)
    batch, single = Series(spec, 2), Series(spec, 2)
    slots, secs = [0, 0, 0, 0, 1], [600, 300, 900, 120, 60]
    together = _run(batch, slots, secs)
    apart = [_run(single, [s], [t])[0] for s, t in zip(slots, secs, strict=True)]
    # buckets 10, 5, 15, 2: 5 sees only itself (10 is after it), 15 sees 10 and itself (5 is
    # out of (5, 15]), 2 is older than 15 - 12 + 1 = 4: late, and its window holds nothing left
    assert together == apart == [1, 1, 2, 0, 1]
    assert np.array_equal(batch.cells, single.cells)
    assert np.array_equal(batch.head, single.head)


def _reference(events: list[tuple[int, int, int]]) -> list[int]:
    """Brute force over the documented semantics: no rings, just lists of events."""
    kept: dict[int, list[tuple[int, int]]] = {}
    head: dict[int, int] = {}
    out = []
    for slot, bucket, amount in events:
        h = max(head.get(slot, bucket), bucket)
        head[slot] = h
        if bucket > h - RING:
            kept.setdefault(slot, []).append((bucket, amount))
        out.append(
            sum(a for b, a in kept.get(slot, []) if bucket - 10 < b <= bucket and b > h - RING)
        )
    return out


@pytest.mark.parametrize("seed", range(30))
def test_random_batches_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    series = Series(WindowSpec("media", 3600), 5)
    all_events: list[tuple[int, int, int]] = []
    got: list[int] = []
    clock = 0
    for _ in range(rng.randint(1, 12)):
        n = rng.randint(1, 40)
        evs = []
        for _ in range(n):
            clock += rng.randint(0, 400)
            late = rng.random() < 0.2
            t = max(0, clock - (rng.randint(0, 8000) if late else 0))
            evs.append((rng.randrange(5), series.bucket(np.int64(t)).item(), rng.randint(0, 3)))
        s = np.array([e[0] for e in evs], np.int64)
        b = np.array([e[1] for e in evs], np.int64)
        a = np.array([e[2] for e in evs], np.uint32)
        got.extend(series.update(s, b, a)[0].tolist())
        all_events.extend(evs)
    assert got == _reference(all_events)


def test_distinct_values_by_hand() -> None:
    w = Series(WindowSpec("conversations", 600), 2)

    def bits(values: list[str]) -> np.ndarray:
        out = np.zeros((len(values), 2), np.uint64)
        for i, v in enumerate(values):
            word, bit = value_bits(v)
            out[i, word] |= np.uint64(1) << np.uint64(bit)
        return out

    convs = ["g1", "g2", "g1", "g3", "g2"]
    secs = np.array([0, 10, 20, 30, 40], np.int64)
    values = w.update(np.zeros(5, np.int64), w.bucket(secs), bits(convs))[0]
    assert values.tolist() == [1, 2, 2, 3, 3]
    # 11 minutes later only what arrived since is in the window
    later = w.update(np.zeros(1, np.int64), w.bucket(np.array([700])), bits(["g9"]))[0]
    assert later.tolist() == [1]


def test_distinct_estimate_is_close_at_rule_thresholds() -> None:
    w = Series(WindowSpec("conversations", 600), 1)
    values = [f"group-{i}" for i in range(60)]
    out = np.zeros((60, 2), np.uint64)
    for i, v in enumerate(values):
        word, bit = value_bits(v)
        out[i, word] |= np.uint64(1) << np.uint64(bit)
    got = w.update(np.zeros(60, np.int64), np.zeros(60, np.int64), out)[0]
    assert abs(int(got[-1]) - 60) <= 8  # 128-bit linear counting: a few percent at 50-60
    assert got[0] == 1


def test_grace_constant_is_what_the_docs_say() -> None:
    assert GRACE == 2 and RING == 12


def test_bits_of_each_is_bits_of_one_value_lists() -> None:
    rng = random.Random(7)
    values: list[str | None] = [None, "", "\ud800", "群1", "group-1", "group-2"]
    values += [rng.choice([None, f"g{rng.randrange(50)}"]) for _ in range(300)]
    want = bits_of([[v] if v is not None else [] for v in values])
    assert np.array_equal(bits_of_each(values), want)
    assert not bits_of_each([None, None]).any()


def test_compiled_bits_of_each_equals_the_numpy_path() -> None:
    """The C loop (`_rings.crc_bits`) sets the very bits the zlib/numpy path sets: ASCII,
    non-ASCII, empty, lone surrogates (surrogatepass), None; and refuses a non-str."""
    from screener.state import bits

    if bits._rings is None:
        assert os.environ.get("CI", "").lower() not in ("1", "true"), "_rings not built"
        pytest.skip("compiled loop not built here")
    rng = random.Random(11)
    alphabet = "ab1-_群组日本\U0001f600\ud800\udfff"
    values: list[str | None] = [None, "", "\ud800", "群1", "g" * 500]
    values += [
        None if rng.random() < 0.1 else "".join(rng.choices(alphabet, k=rng.randrange(12)))
        for _ in range(2000)
    ]
    want = bits._bits_of_each_numpy(values, np.zeros((len(values), bits.WORDS), np.uint64))
    assert np.array_equal(bits_of_each(values), want)
    assert np.array_equal(bits_of_each(tuple(values)), want)  # any sequence
    assert bits_of_each(values).any(axis=1).sum() == sum(v is not None for v in values)
    with pytest.raises(TypeError):
        bits_of_each([1])  # type: ignore[list-item]


def test_distinct_estimate_table_is_the_formula_for_every_count() -> None:
    """`estimate_distinct` looks the estimate up by the count of set bits: for each possible
    count (0..128) and for random bitmaps it is what -m ln(zeros/m), rounded, gives."""
    import math

    from screener.state import bits

    m = 64 * bits.WORDS
    for ones in range(m + 1):
        row = np.zeros((1, bits.WORDS), np.uint64)
        for k in range(ones):  # the lowest `ones` bits set
            row[0, k // 64] |= np.uint64(1) << np.uint64(k % 64)
        want = round(-m * math.log(max(m - ones, 0.5) / m))
        assert int(bits.estimate_distinct(row)[0]) == want, ones
    rng = np.random.default_rng(3)
    for words in (1, bits.WORDS, 3):  # other sizes take the formula itself
        b = rng.integers(0, 2**63, (3000, words), dtype=np.uint64)
        b &= rng.integers(0, 2**63, (3000, words), dtype=np.uint64) << np.uint64(rng.integers(3))
        ones = np.bitwise_count(b).sum(axis=-1).astype(np.float64)
        assert np.array_equal(bits.estimate_distinct(b), bits.linear_counting(ones, 64 * words))
        assert bits.estimate_distinct(b[:0]).shape == (0,)


def test_grown_keeps_rows_and_zeroes_the_new_ones() -> None:
    """`grown` (numpy's in-place resize) keeps every old row, zeroes the new ones, for rings
    of counts and of bitmaps and for the stores' 1-d arrays, from tiny to a few MB."""
    from screener.state.growth import grown

    rng = np.random.default_rng(8)
    for shape, dtype in (((RING,), np.uint32), ((RING, 2), np.uint64), ((), np.int64),
                         ((), np.bool_)):  # fmt: skip
        rows = 3
        a = rng.integers(0, 2, (rows, *shape)).astype(dtype)
        while rows < 200_000:
            before = a.copy()
            a = grown(a, rows * 4)
            assert a.shape == (rows * 4, *shape) and a.dtype == dtype
            assert np.array_equal(a[:rows], before) and not a[rows:].any()
            a[rows:] = rng.integers(0, 2, a[rows:].shape).astype(dtype)
            rows *= 4
    series = Series(WindowSpec("events", 600), 2)
    series.update(np.array([0, 1, 1]), series.bucket(np.array([5, 6, 7])), _ones(3))
    series.grow(1000)
    assert series.head[2:].tolist() == [series.head[-1]] * 998 and series.head[2] < 0
    assert series.update(np.array([1, 999]), series.bucket(np.array([8, 8])), _ones(2))[
        0
    ].tolist() == [3, 1]
