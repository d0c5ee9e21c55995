"""Store: slots, TTL and hard-cap eviction, changelog records and restore."""

from __future__ import annotations

import numpy as np
import pytest

from screener.state.codec import CodecError, decode
from screener.state.intindex import IntIndex
from screener.state.partitions import PartitionStores
from screener.state.store import Store
from screener.state.windows import WindowSpec

EVENTS = WindowSpec("events", 600)
CONVS = WindowSpec("conversations", 600)


def _count(store: Store, keys: list[str], secs: list[int]) -> list[int]:
    t = np.array(secs, np.int64)
    slots = store.slots(keys, t)
    series = store.series[EVENTS]
    return series.update(slots, series.bucket(t), np.ones(len(keys), np.uint32))[0].tolist()


def test_keys_get_their_own_rows() -> None:
    store = Store([EVENTS], capacity=64)
    assert _count(store, ["a", "b", "a"], [0, 1, 2]) == [1, 1, 2]
    assert len(store) == 2


def test_ttl_drops_keys_whose_rings_are_all_stale() -> None:
    store = Store([EVENTS], capacity=64)
    _count(store, ["a", "b"], [0, 0])
    assert store.ttl == 60 * 12
    _count(store, ["b"], [720])
    assert store.expire() == 0  # a was seen exactly one ring (ttl) ago: kept (conservative)
    _count(store, ["b"], [721])
    assert store.expire() == 1
    assert "a" not in store.index and "b" in store.index


def test_hard_cap_evicts_least_recently_seen() -> None:
    store = Store([EVENTS], capacity=32, ttl_seconds=10**9)
    for i in range(32):
        _count(store, [f"u{i}"], [i])
    assert len(store) == 32
    _count(store, ["new"], [100])
    assert len(store) == 32 - 2 + 1  # a sixteenth (2 keys) evicted: the two oldest
    assert "u0" not in store.index and "u1" not in store.index and "u2" in store.index
    assert store.stats.evictions == 2
    assert _count(store, ["u0"], [101]) == [1]  # came back: starts again


def test_keys_new_in_one_batch_at_the_cap_keep_their_own_rows() -> None:
    """A full store binding several new keys in one batch evicts old keys, never a key it
    has just bound for the same batch (that one's slot would then serve two keys)."""
    store = Store([EVENTS], capacity=32, ttl_seconds=10**9)
    for i in range(32):
        _count(store, [f"u{i}"], [i])
    fresh = [f"n{i}" for i in range(5)]
    slots = store.slots(fresh, np.full(5, 100, np.int64))
    assert len(set(slots.tolist())) == 5
    assert all(store.index[key] == slot for key, slot in zip(fresh, slots.tolist(), strict=True))
    assert "u0" not in store.index and "u31" in store.index


def test_expiry_sweeps_by_slot_and_keeps_what_was_seen() -> None:
    """`expire` reads every slot's last-seen time, bound or free: free slots are not keys."""
    store = Store([EVENTS], capacity=64, ttl_seconds=100)
    _count(store, ["a", "b", "c"], [0, 0, 0])
    store.expire()
    _count(store, ["b"], [150])
    assert store.expire() == 2 and list(store.index) == ["b"]
    assert store.expire() == 0  # the freed slots are not swept again
    _count(store, ["d"], [160])
    assert len({store.index["b"], store.index["d"]}) == 2


def test_memory_grows_with_keys_not_with_capacity() -> None:
    small = Store([EVENTS], capacity=1_000_000)
    assert small.memory_bytes() < 200_000


def test_changelog_round_trip_continues_counts() -> None:
    store = Store([EVENTS, CONVS], capacity=64)
    _count(store, ["a", "a", "b"], [0, 30, 60])
    records = store.changes()
    assert sorted(k for k, _ in records) == [b"a", b"b"]
    assert store.changes() == []  # drained
    fresh = Store([EVENTS, CONVS], capacity=64)
    assert fresh.restore(records) == 2
    assert _count(fresh, ["a"], [90]) == [3]
    assert _count(fresh, ["b"], [90]) == [2]


def test_evictions_become_tombstones() -> None:
    store = Store([EVENTS], capacity=64)
    _count(store, ["a", "b"], [0, 0])
    store.changes()
    _count(store, ["b"], [10_000])
    store.expire()
    records = dict(store.changes())
    assert records[b"a"] is None and records[b"b"] is not None
    other = Store([EVENTS], capacity=64)
    other.restore([(b"a", store_record(1)), (b"a", None)])
    assert "a" not in other.index


def test_tombstones_come_out_in_eviction_order() -> None:
    """The same input gives the same changelog bytes whatever PYTHONHASHSEED is."""
    store = Store([EVENTS], capacity=64)
    names = [f"k{i}" for i in range(40)]
    _count(store, names, [0] * len(names))
    store.changes()
    _count(store, ["late"], [10_000])
    assert store.expire() == len(names)
    tombstones = [key for key, value in store.changes() if value is None]
    assert tombstones == [name.encode() for name in names]


def store_record(count: int) -> bytes:
    s = Store([EVENTS], capacity=16)
    _count(s, ["x"] * count, [0] * count)
    return dict(s.changes())[b"x"]  # type: ignore[return-value]


def test_restore_into_another_layout_keeps_what_matches() -> None:
    record = store_record(3)
    other = Store([EVENTS, WindowSpec("media", 3600)], capacity=16)
    other.restore([(b"x", record)])
    assert _count(other, ["x"], [1]) == [4]


@pytest.mark.parametrize(
    "bad", [b"", b"XX" + b"\0" * 20, store_record(1)[:-3], store_record(1) + b"!"]
)
def test_damaged_records_are_refused(bad: bytes) -> None:
    with pytest.raises(CodecError):
        decode(bad)


@pytest.mark.parametrize("key", [b"\xff\xfe not utf-8", b"a-user-id", b"#short"])
def test_a_changelog_key_a_band_store_never_wrote_is_refused_not_a_crash(key: bytes) -> None:
    """Hostile or damaged changelog keys: a clear CodecError (the partition's restore then
    skips that record), never a TypeError from the compiled index."""
    bands = Store([EVENTS], capacity=16, int_keys=True)
    with pytest.raises(CodecError):
        bands.restore([(key, store_record(1))])
    good = (b"#" + (7).to_bytes(8, "big"), store_record(2))
    assert bands.restore([good]) == 1
    assert 7 in bands.index


def test_partition_stores_drop_on_revoke_restore_on_assign() -> None:
    stores = PartitionStores([EVENTS], capacity=1000)
    p = ("chat.events", 0)
    _count(stores.store(p), ["a", "a"], [0, 1])
    log = stores.store(p).changes()
    stores.revoke(p)
    assert stores.size() == 0
    restored = stores.assign(p, log)
    assert _count(restored, ["a"], [2]) == [3]
    assert stores.last_restore_seconds >= 0


def test_bulk_restore_refuses_a_record_of_the_right_size_but_wrong_layout() -> None:
    from screener.state.codec import encode

    s = Store([EVENTS], capacity=16)
    _count(s, ["x"] * 2, [0] * 2)
    record = encode(s, s.index["x"])  # version 1: restored in bulk when of the store's size
    forged = b"XYZ" + record[3:]
    with pytest.raises(CodecError, match="does not match"):
        Store([EVENTS], capacity=16).restore([(b"x", forged)])


def test_changelog_records_encoded_in_bulk_equal_one_by_one() -> None:
    """`Store.changes` encodes every dirty slot at once; the bytes must be `encode`'s."""
    from screener.state.codec import encode, encode_many
    from screener.state.store import Store

    rng = np.random.default_rng(5)
    store = Store([WindowSpec("events", 600), WindowSpec("contacts", 3600)], capacity=64)
    for series in store.series.values():
        series.head[:] = rng.integers(0, 1 << 40, len(series.head))
        series.cells[:] = rng.integers(0, 1 << 31, series.cells.shape).astype(series.cells.dtype)
    store.last[:] = rng.integers(0, 1 << 40, len(store.last))
    slots = [0, 3, 17, 63]
    assert encode_many(store, slots) == [encode(store, s) for s in slots]
    assert encode_many(store, []) == []


def _one_by_one(store: Store, fresh: list[str | int]) -> list[int]:
    """The reference for `_bind_many`: one `_allocate` per key, as keys come."""
    out = []
    for key in fresh:
        slot = store._allocate()
        store.index[key] = slot
        store.keys[slot] = key
        store._gone.pop(key, None)
        out.append(slot)
    return out


@pytest.mark.parametrize("ints", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_new_keys_get_the_slots_one_allocation_each_would_give(
    seed: int, ints: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slots decide changelog order and eviction ties, so the sliced allocation must hand
    out exactly the slots (and leave exactly the free list) of the per-key loop, through
    growth, drops, and the hard cap (where the per-key path with evictions takes over).
    `ints`: uint64 keys (campaign bands) into the compiled `IntIndex`, arrays in; the
    reference is a dict store, one key at a time: the same slots, index and its order."""
    import random

    rng = random.Random(seed)
    capacity = rng.choice((16, 64, 5000))
    stores = [Store([EVENTS], capacity=capacity, int_keys=ints), Store([EVENTS], capacity=capacity)]
    if ints and not isinstance(stores[0].index, IntIndex):
        pytest.skip("compiled loop not built here")
    monkeypatch.setattr(stores[1], "_bind_many", lambda fresh, *_: _one_by_one(stores[1], fresh))
    pool = [rng.getrandbits(64) for _ in range(300)]
    clock = 0
    for _ in range(30):
        picks = [rng.randrange(300) for _ in range(rng.randint(1, 90))]
        keys: list[str | int] = [pool[p] if ints else f"k{p}" for p in picks]
        clock += rng.randint(0, 900)
        secs = np.full(len(keys), clock, np.int64)
        mine = np.array(keys, np.uint64) if ints else keys
        got = [stores[0].slots(mine, secs).tolist(), stores[1].slots(keys, secs).tolist()]
        assert got[0] == got[1]
        assert stores[0].free == stores[1].free
        assert list(stores[0].index.items()) == list(stores[1].index.items())
        assert stores[0].keys == stores[1].keys
        assert stores[0].last.tolist() == stores[1].last.tolist()
        if rng.random() < 0.3:
            for s in stores:
                s.expire()
