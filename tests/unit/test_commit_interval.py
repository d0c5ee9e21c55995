"""Commit interval (at-least-once): every batch's output goes out at once, but offsets (and the
state's changelog) are committed only by a batch that closes the interval, covering every
batch since the last commit, once all their output is acknowledged."""

from __future__ import annotations

import asyncio
from collections import Counter
from itertools import pairwise
from typing import Any

import pytest
from aiokafka.record.default_records import DefaultRecordBatch

from screener.observe import BatchReport, NullObserver
from screener.pipeline.commits import ALL, CommitInterval
from screener.pipeline.delivery import COMMITS_IN_FLIGHT, AtLeastOnce, Health, Unacknowledged
from screener.pipeline.records import Outgoing, Placed
from screener.pipeline.settings import Settings
from screener.pipeline.transform import Batch

EVENTS: list[str] = []


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


P0, P1, P2 = ("in", 0), ("in", 1), ("in", 2)


def test_the_interval_is_bounded_by_time_and_by_count() -> None:
    clock = Clock()
    every = CommitInterval(1000, every=50, clock=clock)
    assert every.closing(20, [P0]) == frozenset() and every.closing(20, [P0]) == frozenset()
    assert every.closing(10, [P0]) is ALL  # 50 records since the last commit
    every.closed(ALL)
    assert every.idle(force=False) == frozenset() and every.closing(5, [P0]) == frozenset()
    clock.now += 0.999
    assert every.closing(5, [P0]) == frozenset() and every.idle(force=False) == frozenset()
    clock.now += 0.002
    assert every.idle(force=False) == {P0} and every.closing(1, [P0]) == {P0}
    assert every.idle(force=True) is ALL  # before a revoke or a stop
    assert CommitInterval(0).closing(1, [P0]) is ALL  # 0: every batch commits


def test_partitions_close_apart_each_once_an_interval_on_a_fixed_schedule() -> None:
    """The phases stay spread: six partitions read by every batch close in six different
    batches of each interval, and a stall does not bunch them up for good."""
    clock = Clock()
    schedule = CommitInterval(1000, clock=clock)
    parts = [("in", p) for p in range(6)]
    closes: list[tuple[float, frozenset[tuple[str, int]]]] = []

    def batches(n: int) -> None:  # a batch every 10 ms reading every partition
        for _ in range(n):
            closing = schedule.closing(60, parts)
            assert closing is not ALL
            if closing:
                schedule.closed(closing)
                closes.append((clock.now, closing))
            clock.now += 0.01

    batches(150)
    assert all(len(c) == 1 for _, c in closes)  # never two partitions in one batch
    assert len({c for _, c in closes[:6]}) == 6
    clock.now += 0.5  # a stall: the partitions due meanwhile close in the next batch
    batches(1)
    stalled = len(closes)
    batches(200)
    assert all(len(c) == 1 for _, c in closes[stalled:])  # and then apart again
    for p in parts:  # each closes about once an interval: never twice within half of one
        times = [t for t, c in closes if p in c]
        assert len(times) >= 3 and min(b - a for a, b in pairwise(times)) > 0.5


def test_many_partitions_share_eight_phases_and_unstaggered_close_together() -> None:
    clock = Clock()
    schedule = CommitInterval(1000, clock=clock)
    parts = [("in", p) for p in range(20)]
    closes = []
    for _ in range(110):  # 1.1 s: each phase once
        closing = schedule.closing(1, parts)
        if closing:
            assert closing is not ALL
            schedule.closed(closing)
            closes.append(closing)
        clock.now += 0.01
    assert len(closes) == 8 and sorted(len(c) for c in closes) == [2, 2, 2, 2, 3, 3, 3, 3]
    together = CommitInterval(1000, clock=clock, stagger=False)
    answers = []
    for _ in range(250):
        closing = together.closing(1, parts)
        if closing is ALL or closing:
            together.closed(closing)
            answers.append(closing)
        clock.now += 0.01
    assert answers == [ALL, ALL]  # once a second, every partition


class Producer:
    def __init__(self, ack_s: float):
        self.ack_s = ack_s

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[Any]:
        EVENTS.append(f"sent {value.decode()}")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(self.ack_s, future.set_result, None)
        return future


class Consumer:
    def __init__(self) -> None:
        self.commits: list[dict[tuple[str, int], int]] = []

    async def commit(self, offsets: dict[Any, Any]) -> None:
        await asyncio.sleep(0.01)
        self.commits.append({(tp.topic, tp.partition): o.offset for tp, o in offsets.items()})
        EVENTS.append("commit")


class Outcome:
    def __init__(self) -> None:
        self.finished_batches: list[tuple[int, bool]] = []

    def finished(self, batch: Batch, committed: bool, acked_at: float) -> None:
        self.finished_batches.append((batch.report.records, committed))

    def rewound(self, batch: Batch) -> None:
        raise AssertionError("at-least-once never rewinds")


def _batch(k: int, partition: int, offset: int, commit: bool) -> Batch:
    out = [Outgoing("review", b"k", str(k).encode(), [])]
    return Batch(out, {("in", partition): offset}, BatchReport(k, Counter()), commit=commit)


async def test_offsets_of_the_batches_since_the_last_commit_are_committed_together() -> None:
    EVENTS.clear()
    delivery = AtLeastOnce(Settings(), NullObserver(), Health())
    delivery.producer = Producer(ack_s=0.01)  # type: ignore[assignment]
    consumer, outcome, stop = Consumer(), Outcome(), asyncio.Event()
    plan = [(1, 0, 10, False), (2, 1, 7, False), (3, 0, 20, True), (4, 1, 9, False)]
    for k, partition, offset, commit in plan:
        batch = _batch(k, partition, offset, commit)
        await delivery.deliver(consumer, batch, [], stop, outcome)  # type: ignore[arg-type]
        await asyncio.sleep(0.03)  # screening the next batch meanwhile
    # each batch's review item went out when it was handed over, not at the commit
    assert EVENTS[:3] == ["sent 1", "sent 2", "sent 3"]
    # one commit for batches 1-3: the latest offset of each partition they read
    assert consumer.commits == [{("in", 0): 20, ("in", 1): 7}]
    assert outcome.finished_batches == [(1, True), (2, True), (3, True)]
    # batch 4 is acknowledged but not committed until a batch closes the interval again
    await delivery.drain()
    assert consumer.commits == [{("in", 0): 20, ("in", 1): 7}]
    assert "sent 4" in EVENTS
    flush = Batch([], {}, BatchReport(0, Counter()), commit=True)  # the worker's idle flush
    await delivery.deliver(consumer, flush, [], stop, outcome)  # type: ignore[arg-type]
    await delivery.drain()
    assert consumer.commits[-1] == {("in", 1): 9}
    assert outcome.finished_batches[-1] == (4, True)  # the empty flush batch is not reported


async def test_a_batch_closing_some_partitions_commits_their_offsets_alone() -> None:
    """Staggered closes: the others' offsets wait for their own close (their state's
    changelog has not been written), and a close with nothing to commit commits nothing
    (aiokafka would commit every consumed position if given no offsets)."""
    EVENTS.clear()
    delivery = AtLeastOnce(Settings(), NullObserver(), Health())
    delivery.producer = Producer(ack_s=0.0)  # type: ignore[assignment]
    consumer, outcome, stop = Consumer(), Outcome(), asyncio.Event()
    a = Batch([], {P0: 10, P1: 7}, BatchReport(1, Counter()), commit=False)
    b = Batch([], {P0: 20, P1: 9}, BatchReport(2, Counter()), closes=frozenset({P1}))
    for batch in (a, b):
        await delivery.deliver(consumer, batch, [], stop, outcome)  # type: ignore[arg-type]
    await delivery.drain()
    assert consumer.commits == [{P1: 9}]
    nothing = Batch([], {}, BatchReport(0, Counter()), closes=frozenset({P2}))
    await delivery.deliver(consumer, nothing, [], stop, outcome)  # type: ignore[arg-type]
    await delivery.drain()
    assert consumer.commits == [{P1: 9}]
    closing = Batch([], {}, BatchReport(0, Counter()), closes=frozenset({P0}))
    await delivery.deliver(consumer, closing, [], stop, outcome)  # type: ignore[arg-type]
    await delivery.drain()
    assert consumer.commits == [{P1: 9}, {P0: 20}]


class HeldConsumer(Consumer):
    """Commits wait for `release`."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def commit(self, offsets: dict[Any, Any]) -> None:
        await self.release.wait()
        await super().commit(offsets)


async def test_closing_batches_do_not_wait_for_the_commits_before_them_up_to_a_bound() -> None:
    """Staggered closes come several an interval: a closing batch is handed over while
    earlier commits are unfinished (the worker screens on), the commits land in order, and
    past `COMMITS_IN_FLIGHT` unfinished ones the worker waits."""
    delivery = AtLeastOnce(Settings(), NullObserver(), Health())
    delivery.producer = Producer(ack_s=0.0)  # type: ignore[assignment]
    consumer, outcome, stop = HeldConsumer(), Outcome(), asyncio.Event()
    for k in range(COMMITS_IN_FLIGHT):  # every one handed over at once, none committed
        batch = Batch(
            [], {("in", k): 10 + k}, BatchReport(1, Counter()), closes=frozenset({("in", k)})
        )
        await asyncio.wait_for(delivery.deliver(consumer, batch, [], stop, outcome), 5)  # type: ignore[arg-type]
    one_more = Batch([], {("in", 99): 5}, BatchReport(1, Counter()), closes=frozenset({("in", 99)}))
    waiting = asyncio.ensure_future(delivery.deliver(consumer, one_more, [], stop, outcome))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert not waiting.done() and consumer.commits == []
    consumer.release.set()
    await asyncio.wait_for(waiting, 5)
    await delivery.drain()
    assert consumer.commits == [{("in", k): 10 + k} for k in range(COMMITS_IN_FLIGHT)] + [
        {("in", 99): 5}
    ]


async def test_an_unacknowledged_batch_keeps_the_interval_uncommitted() -> None:
    EVENTS.clear()
    delivery = AtLeastOnce(Settings(shutdown_timeout_s=0.2), NullObserver(), Health())
    delivery.producer = Producer(ack_s=3600)  # type: ignore[assignment]
    consumer, outcome, stop = Consumer(), Outcome(), asyncio.Event()
    for k, commit in ((1, False), (2, True)):
        await delivery.deliver(consumer, _batch(k, 0, k, commit), [], stop, outcome)  # type: ignore[arg-type]
    stop.set()
    with pytest.raises(Unacknowledged):
        await asyncio.wait_for(delivery.drain(), 10)
    assert consumer.commits == [] and outcome.finished_batches == []


class HeldChangelog:
    """A changelog producer whose record batches are acknowledged only when `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.records: list[tuple[bytes, bytes | None]] = []

    async def send_batch(self, builder: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        # the delivery builds its own record batches (the changelog's codec): read them back
        self.records += [(r.key, r.value) for r in DefaultRecordBatch(bytes(builder._build()))]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def ack() -> None:
            await self.release.wait()
            future.set_result(None)

        asyncio.get_running_loop().create_task(ack())
        return future


async def test_the_changelog_goes_through_its_own_producer_and_the_commit_waits_for_both() -> None:
    """The review output is not queued behind a large changelog flush (aiokafka sends one
    request per broker at a time, per producer), yet nothing is committed before the
    changelog flushed with it is acknowledged."""
    EVENTS.clear()
    delivery = AtLeastOnce(Settings(), NullObserver(), Health(), changelog_producer=True)
    changelog = HeldChangelog()
    delivery.producer = Producer(ack_s=0.0)  # type: ignore[assignment]
    delivery.changelog = changelog  # type: ignore[assignment]
    consumer, outcome, stop = Consumer(), Outcome(), asyncio.Event()
    batch = _batch(1, 0, 10, commit=True)
    batch.changelog = [Placed("in-state", 0, [(b"u1", b"s1"), (b"u2", b"s2")])]
    await delivery.deliver(consumer, batch, [], stop, outcome)  # type: ignore[arg-type]
    nxt = _batch(2, 0, 20, commit=False)
    await delivery.deliver(consumer, nxt, [], stop, outcome)  # type: ignore[arg-type]
    for _ in range(50):  # the review items are acknowledged meanwhile
        await asyncio.sleep(0.01)
    assert EVENTS == ["sent 1", "sent 2"] and changelog.records == [(b"u1", b"s1"), (b"u2", b"s2")]
    assert consumer.commits == []  # the changelog is not acknowledged: nothing committed
    changelog.release.set()
    await delivery.drain()
    assert consumer.commits == [{("in", 0): 10}] and outcome.finished_batches == [(1, True)]


def test_a_stateful_at_least_once_worker_has_a_changelog_producer_when_told_to() -> None:
    from screener.pipeline.worker import Worker

    def separate(settings: Settings, state: object | None) -> bool:
        worker = Worker(settings, object(), state=state)  # type: ignore[arg-type]
        assert isinstance(worker.delivery, AtLeastOnce)
        return worker.delivery._separate

    assert not separate(Settings(), object())  # the default: one producer
    assert separate(Settings(changelog_producer=True), object())
    # no behaviour state: no changelog, one producer
    assert not separate(Settings(changelog_producer=True), None)


async def test_a_batch_is_released_once_acknowledged_not_held_until_the_commit() -> None:
    """The interval's commit keeps a batch's offsets and report only: its records, events,
    verdicts and output (GC-tracked, ~3 objects a record) are freed once acknowledged,
    or every young collection walks the whole interval's batches (100+ ms pauses)."""
    import gc
    import weakref

    EVENTS.clear()
    delivery = AtLeastOnce(Settings(), NullObserver(), Health())
    delivery.producer = Producer(ack_s=0.0)  # type: ignore[assignment]
    consumer, outcome, stop = Consumer(), Outcome(), asyncio.Event()

    class Held(list[Outgoing]):  # a list that takes a weak reference
        pass

    batch = _batch(1, 0, 10, commit=False)
    batch.outgoing = Held(batch.outgoing)
    output = weakref.ref(batch.outgoing)
    await delivery.deliver(consumer, batch, [], stop, outcome)  # type: ignore[arg-type]
    del batch
    for _ in range(100):  # acknowledged at once; the interval stays open
        await asyncio.sleep(0.005)
        gc.collect()
        if output() is None:
            break
    assert output() is None and consumer.commits == []
    closing = _batch(2, 0, 20, commit=True)
    await delivery.deliver(consumer, closing, [], stop, outcome)  # type: ignore[arg-type]
    await delivery.drain()
    assert consumer.commits == [{("in", 0): 20}]
    assert outcome.finished_batches == [(1, True), (2, True)]  # reports kept for the commit
