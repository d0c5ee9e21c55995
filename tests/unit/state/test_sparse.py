"""The changelog's version 2 records (`state.sparse`: only the cells that hold something)
restore exactly what version 1 (every cell) restores, in bulk or one by one, and a damaged
one is refused as version 1's are."""

from __future__ import annotations

import numpy as np
import pytest

from screener.state import sparse
from screener.state.codec import CodecError, decode, encode
from screener.state.store import Store
from screener.state.windows import WindowSpec

SPECS = [WindowSpec("events", 600), WindowSpec("contacts", 3600), WindowSpec("flagged", 3600)]


def _random_store(seed: int, density: float) -> Store:
    rng = np.random.default_rng(seed)
    store = Store(SPECS, capacity=64)
    for i in range(40):
        store._slot_for(f"user-{i}")
    for series in store.series.values():
        series.head[:] = rng.integers(0, 1 << 40, len(series.head))
        values = rng.integers(1, 1 << 31, series.cells.shape).astype(series.cells.dtype)
        keep = rng.random(series.cells.shape) < density  # mostly zero, as a changelog's rows
        series.cells[:] = np.where(keep, values, 0)
    store.last[:] = rng.integers(0, 1 << 40, len(store.last))
    return store


@pytest.mark.parametrize("density", [0.0, 0.05, 0.5, 1.0])
def test_version_2_decodes_to_what_version_1_holds(density: float) -> None:
    store = _random_store(3, density)
    slots = [0, 3, 17, 39]
    packed = sparse.encode_many(store, slots)
    for slot, value in zip(slots, packed, strict=True):
        assert value[:3] == sparse.MAGIC2
        last, rows = decode(value)
        last1, rows1 = decode(encode(store, slot))
        assert last == last1 and rows.keys() == rows1.keys()
        for spec, (head, cells) in rows.items():
            assert head == rows1[spec][0]
            assert np.array_equal(cells, rows1[spec][1])
    if density < 0.1:  # the point: a sparse row is a fraction of version 1's
        assert sum(map(len, packed)) < 0.5 * sum(len(encode(store, s)) for s in slots)
    assert sparse.encode_many(store, []) == []


def _restored(records: list[tuple[bytes, bytes | None]]) -> Store:
    out = Store(SPECS, capacity=64)
    assert out.restore(records) == len(records)
    return out


def _same(a: Store, b: Store) -> None:
    assert sorted(a.index) == sorted(b.index)
    for key in a.index:
        i, j = a.index[key], b.index[key]
        assert a.last[i] == b.last[j]
        for spec in SPECS:
            assert a.series[spec].head[i] == b.series[spec].head[j]
            assert np.array_equal(a.series[spec].cells[i], b.series[spec].cells[j])


def test_a_store_restores_from_either_version_and_from_a_mix() -> None:
    store = _random_store(4, 0.1)
    slots = [store.index[f"user-{i}"] for i in range(40)]
    keys = [f"user-{i}".encode() for i in range(40)]
    v1 = list(zip(keys, [encode(store, s) for s in slots], strict=True))
    v2 = list(zip(keys, sparse.encode_many(store, slots), strict=True))
    want = _restored(v1)
    _same(_restored(v2), want)  # in bulk
    _same(_restored(v1[::2] + v2[1::2]), want)  # a changelog written before and after
    # a record of another layout among them: the batch is decoded one by one, no error
    other = Store([SPECS[0]], capacity=64)
    odd = sparse.encode_many(other, [other._slot_for("user-0")])[0]
    got = _restored([(keys[0], odd), *v2[1:]])
    for key in keys[1:]:
        i, j = got.index[key.decode()], want.index[key.decode()]
        for spec in SPECS:
            assert np.array_equal(got.series[spec].cells[i], want.series[spec].cells[j])
    first = got.index["user-0"]  # what the odd record lacks starts empty
    assert not got.series[SPECS[1]].cells[first].any()


@pytest.mark.parametrize("cut", ["truncated", "trailing", "mask"])
def test_a_damaged_version_2_record_is_refused(cut: str) -> None:
    value = sparse.encode_many(_random_store(5, 0.3), [1])[0]
    if cut == "truncated":
        value = value[:-3]
    elif cut == "trailing":
        value += b"!"
    else:  # a ring position past the ring
        value = value[: 12 + 13] + b"\xff\xff" + value[12 + 15 :]
    with pytest.raises(CodecError):
        decode(value)
    good = sparse.encode_many(_random_store(5, 0.3), [2])[0]
    with pytest.raises(CodecError):  # in a bulk restore too: found one by one, named
        Store(SPECS, capacity=64).restore([(b"a", good), (b"b", value)])


@pytest.mark.parametrize("version", [1, 2])
def test_a_store_writes_the_changelog_version_it_is_given(version: int) -> None:
    """`--state-changelog-format 1` keeps writing what workers before version 2 read."""
    from screener.state.codec import MAGIC

    store = Store(SPECS, capacity=64, changelog_format=version)
    slots = store.slots(["a", "b"], np.array([100, 101], np.int64))
    store.series[SPECS[0]].write(slots, store.series[SPECS[0]].bucket(np.array([100, 101])),
                                 np.ones(2, np.uint32))  # fmt: skip
    records = store.changes()
    assert {v[:3] for _, v in records if v is not None} == {
        MAGIC if version == 1 else sparse.MAGIC2
    }
    back = _restored(records)
    assert back.series[SPECS[0]].cells[back.index["a"]].sum() == 1


@pytest.mark.parametrize("density", [0.0, 0.05, 0.5, 1.0])
def test_compiled_encoding_gives_the_numpy_bytes(density: float) -> None:
    """`_rings.sparse_encode` (what the service runs) against the numpy encoder, for every
    slot, in an order with repeats; a slot outside the store is refused, not read."""
    from screener.state import windows

    if windows._rings is None:
        import os

        assert os.environ.get("CI", "").lower() not in ("1", "true"), "_rings not built"
        pytest.skip("compiled loops not built here")
    store = _random_store(7, density)
    slots = [39, 0, 5, 5, 63, 17]
    assert sparse.encode_many(store, slots) == sparse.encode_numpy(store, slots)
    assert sparse.encode_many(store, []) == []
    keys = [b"k%d" % i for i in range(len(slots))]
    pairs = list(zip(keys, sparse.encode_numpy(store, slots), strict=True))
    assert sparse.encode_pairs(store, slots, keys) == pairs
    with pytest.raises(IndexError):
        sparse.encode_many(store, [64])
    with pytest.raises(ValueError):
        sparse.encode_pairs(store, slots, keys[:-1])
