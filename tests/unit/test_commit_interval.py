"""Commit interval (at-least-once): every batch's output goes out at once, but offsets (and the
state's changelog) are committed only by a batch that closes the interval, covering every
batch since the last commit, once all their output is acknowledged."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from aiokafka.record.default_records import DefaultRecordBatch

from screener.observe import BatchReport, NullObserver
from screener.pipeline.commits import CommitInterval
from screener.pipeline.delivery import AtLeastOnce, Health, Unacknowledged
from screener.pipeline.records import Outgoing, Placed
from screener.pipeline.settings import Settings
from screener.pipeline.transform import Batch

EVENTS: list[str] = []


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_interval_is_bounded_by_time_and_by_count() -> None:
    clock = Clock()
    every = CommitInterval(1000, every=50, clock=clock)
    assert not every.due(20) and not every.due(20) and every.pending()
    assert every.due(10)  # 50 records since the last commit
    every.committed()
    assert not every.pending() and not every.due(5)
    clock.now += 0.999
    assert not every.due(5) and not every.elapsed()
    clock.now += 0.002
    assert every.elapsed() and every.due(1)
    assert CommitInterval(0).due(1)  # 0: every batch commits


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
