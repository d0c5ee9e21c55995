"""The compiled uint64 index (`screener.state.intindex`, `_rings.c` ix_*) against a dict: the
same answers and the same insertion order after random puts, re-puts, deletes and growth,
with keys crowded into few table cells (long probe runs, wrap-around, backward shifts)."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from screener.state import intindex
from screener.state.intindex import IntIndex

if not intindex.available():
    assert os.environ.get("CI", "").lower() not in ("1", "true"), "screener.state._rings not built"
    pytest.skip("compiled loop not built here", allow_module_level=True)


def _check(index: IntIndex, ref: dict[int, int], probes: list[int]) -> None:
    assert len(index) == len(ref)
    assert list(index.items()) == list(ref.items())
    assert index.values() == list(ref.values())
    assert index.slots().tolist() == list(ref.values())
    got = index.get_many(np.array(probes, np.uint64)).tolist()
    assert got == [ref.get(k, -1) for k in probes]


@pytest.mark.parametrize("seed", range(12))
def test_random_operations_match_a_dict(seed: int) -> None:
    rng = random.Random(seed)
    # few distinct keys per run in small pools: many collisions, deletes of present keys;
    # the top bits set (band keys carry their band number there)
    pool = [rng.getrandbits(64) for _ in range(rng.choice([40, 300, 3000]))]
    pool += [0, 1, (1 << 64) - 1, 1 << 63]
    index, ref = IntIndex(size=rng.choice([1, 8, 64])), {}
    for _ in range(60):
        op = rng.random()
        keys = rng.sample(pool, rng.randrange(1, min(len(pool), 200)))
        if op < 0.5:
            slots = [rng.randrange(10**6) for _ in keys]
            index.put_many(np.array(keys, np.uint64), np.array(slots, np.int64))
            ref.update(zip(keys, slots, strict=True))
        elif op < 0.8:
            removed = index.delete_many(np.array(keys, np.uint64))
            assert removed == sum(k in ref for k in keys)
            for k in keys:
                ref.pop(k, None)
        else:
            k, s = rng.choice(pool), rng.randrange(10**6)
            index[k] = s
            ref[k] = s
            if rng.random() < 0.5:
                del index[k]
                del ref[k]
        _check(index, ref, rng.sample(pool, min(len(pool), 100)))


def test_the_dict_protocol() -> None:
    index = IntIndex()
    index[5] = 3
    assert index[5] == 3 and 5 in index and 6 not in index and "u1" not in index
    assert index.get(6) is None and index.get(5) == 3 and list(index) == [5]
    with pytest.raises(KeyError):
        index[6]
    with pytest.raises(KeyError):
        del index[6]
    with pytest.raises(TypeError):
        index["u1"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        index[-1] = 1
    with pytest.raises(ValueError):
        index.put_many(np.array([7], np.uint64), np.array([-1], np.int64))  # -1 marks empty
    big = IntIndex(size=1)
    keys = np.arange(100_000, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    big.put_many(keys, np.arange(100_000))
    assert len(big) == 100_000 and big.nbytes() <= 24 * 2 * 2 * 100_000
    assert big.get_many(keys).tolist() == list(range(100_000))


def test_dict_get_many_is_get_or_minus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The users' store looks str keys up in C (`_rings.dict_get`): the same int64 slots as
    `dict.get(k, -1)`, any hashable key; an unhashable one is a TypeError, as in Python.
    An extension built before `dict_get` existed takes the Python path (same answers)."""
    rng = random.Random(5)
    index: dict[object, int] = {f"u{i}": rng.randrange(1 << 40) for i in range(3000)}
    index[7] = 3
    index[("t", 1)] = 0
    keys: list[object] = [f"u{rng.randrange(6000)}" for _ in range(5000)] + [7, ("t", 1), 8, ""]
    want = [index.get(k, -1) for k in keys]
    if intindex._dict_get is None:
        assert os.environ.get("CI", "").lower() not in ("1", "true"), "_rings not built"
    got = intindex.dict_get_many(index, keys)
    assert got.dtype == np.int64 and got.tolist() == want
    assert intindex.dict_get_many(index, []).tolist() == []
    with pytest.raises(TypeError):
        intindex.dict_get_many(index, [["unhashable"]])
    monkeypatch.setattr(intindex, "_dict_get", None)  # a stale extension
    assert intindex.dict_get_many(index, keys).tolist() == want
