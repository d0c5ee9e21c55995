"""One screening worker: a consumer-group member that reads, transforms, delivers, commits.

Three parts, each in its own module: the pure batch transform (`pipeline.transform`: records
→ output records, offsets, a report), the delivery strategy (`pipeline.delivery`:
at-least-once, or `pipeline.transactional`: exactly-once) and, here, the loop and the
rebalance listener that tie them together. Batches are transformed and handed to delivery one
at a time under a lock that the rebalance listener also takes, so a partition is never handed
over mid-batch. What happened is told to observers (`screener.observe`): the metrics, and
`Stats` for the demo's live view and the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from screener.kafka import (
    BrokerUnreachable,
    KafkaError,
    RebalanceListener,
    TopicPartition,
    retry,
    wait_for_broker,
)
from screener.kafka.clients import Consumer, bounded, connection_options, worker_consumer
from screener.kafka.topics import ensure_topics
from screener.observe import BatchReport, NullObserver, Observer, Observers, Partition
from screener.pipeline.delivery import AtLeastOnce, Delivery, Health
from screener.pipeline.fetched import InputRecord, fetched, partitions
from screener.pipeline.settings import Settings
from screener.pipeline.stateful import StatefulScreening
from screener.pipeline.transactional import Transactional
from screener.pipeline.transform import Batch, Processor
from screener.verdict import Verdict

log = logging.getLogger("screener.worker")

LAG_INTERVAL_S = 1.0
"""how often lag and readiness are polled and told to observers (also while a batch is stuck)."""


@dataclass
class Stats(NullObserver):
    """What a worker has done so far, derived from the same reports the metrics get."""

    consumed: int = 0
    flagged: int = 0
    dlq: int = 0
    batches: int = 0
    commits: int = 0
    commit_failures: int = 0
    produce_retries: int = 0
    rebalances: int = 0
    aborts: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    latest: list[Verdict] = field(default_factory=list)

    def batch_finished(self, report: BatchReport) -> None:
        self.consumed += report.records
        self.batches += 1
        self.dlq += report.dlq_reasons.total()
        if report.committed:
            self.commits += 1
        else:
            self.commit_failures += 1
        for (category, _), count in report.flagged.items():
            self.flagged += count
            self.by_category[category or "?"] += count
        self.latest += report.latest_flagged
        del self.latest[:-20]

    def batch_aborted(self) -> None:
        self.aborts += 1

    def produce_failed(self, unacknowledged: Mapping[str, int]) -> None:
        self.produce_retries += sum(unacknowledged.values())

    def revoked(self, revoked: Set[Partition], still_assigned: Set[Partition]) -> None:
        self.rebalances += 1


class _Listener(RebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: Worker, consumer: Consumer):
        self.worker = worker
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # Wait for the batch in flight: it is committed before the partitions move.
        w = self.worker
        w.rebalancing = True  # records fetched from here on belong to the old assignment
        async with w.lock:
            w.generation += 1
            await w.flush(self.consumer, force=True)  # the state's changes go with the commit
            await w.delivery.drain()
            gone = {(tp.topic, tp.partition) for tp in revoked}
            w.health.assigned.difference_update(gone)
            w.observer.revoked(gone, set(w.health.assigned))
            await w.delivery.revoking(self.consumer, gone)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        w = self.worker
        async with w.lock:
            w.generation += 1
            w.rebalancing = False
            if w.state is not None:  # kept: partitions that stay; restored: before their batch
                w.state.state.retain((tp.topic, tp.partition) for tp in assigned)
        w.health.assigned.update((tp.topic, tp.partition) for tp in assigned)
        w.health.output_ok = True
        w.observer.assigned(set(w.health.assigned))


class Worker:
    """Runs until `stop` is set, then drains the batch in flight, commits and leaves.

    `processor` may be replaced between batches (e.g. a new engine after a rules reload).
    `state`, the behaviour state the processor screens with (`pipeline.stateful`), is
    restored here from its changelog before a partition's first batch.
    """

    def __init__(
        self,
        settings: Settings,
        processor: Processor,
        *,
        worker_index: int = 0,
        observer: Observer | None = None,
        state: StatefulScreening | None = None,
    ):
        self.settings = settings
        self.processor = processor
        self.state = state
        self.generation = 0
        """bumped by every revoke and assign: a batch fetched across one is read again."""
        self.rebalancing = False
        self.worker_index = worker_index
        self.stats = Stats()
        self.observer: Observer = Observers(self.stats, observer) if observer else self.stats
        self.health = Health()
        self.lock = asyncio.Lock()
        self.stop = asyncio.Event()
        """set by `run`'s caller: the stop the batches in delivery watch"""
        self.delivery: Delivery = (
            Transactional(settings, self.observer, self.health, worker_index)
            if settings.guarantee == "exactly-once"
            else AtLeastOnce(
                settings,
                self.observer,
                self.health,
                changelog_producer=settings.changelog_producer and state is not None,
            )
        )

    @property
    def ready(self) -> bool:
        return self.health.ready

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Raises `BrokerUnreachable` if no broker answers within `connect_timeout_s`."""
        settings = self.settings
        self.stop = stop
        try:
            await wait_for_broker(
                connection_options(settings), stop=stop, timeout_s=settings.connect_timeout_s,
                on_attempt=lambda n, exc: self.observer.connecting(n, f"{type(exc).__name__}"),
            )  # fmt: skip
        except BrokerUnreachable:
            if stop.is_set():
                return  # asked to stop while waiting: a clean exit
            raise
        if settings.create_topics:
            names = [*settings.input_topics, settings.review_topic, settings.dlq_topic]
            if settings.verdicts_topic:
                names.append(settings.verdicts_topic)
            options = connection_options(settings)
            await retry(
                lambda: ensure_topics(options, names, settings.topic_partitions),
                "create topics", retry_on=(KafkaError, OSError), stop=stop,
            )  # fmt: skip
        if self.state is not None:
            state, options = self.state, connection_options(settings)
            await retry(
                lambda: state.prepare_topics(options), "create state changelog topics",
                retry_on=(KafkaError, OSError), stop=stop,
            )  # fmt: skip
        # Before joining the group: with transactions, InitProducerId finishes or aborts what a
        # predecessor in this slot left open, so the offsets read on assignment are final.
        await self.delivery.start(stop)
        consumer = worker_consumer(settings, read_committed=self.delivery.read_committed)
        consumer.subscribe(settings.input_topics, listener=_Listener(self, consumer))
        started = False
        watch: asyncio.Task[None] | None = None
        try:
            if stop.is_set():
                return
            await retry(
                consumer.start, "connect consumer", retry_on=(KafkaError, OSError), stop=stop
            )
            started = True
            watch = asyncio.create_task(self._watch(consumer))
            await self._loop(consumer, stop)
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            self.health.output_ok = False
            if started:
                await self.delivery.leaving(consumer)
            await _stop_consumer(consumer, settings.shutdown_timeout_s)
            await self.delivery.close(settings.shutdown_timeout_s)

    async def _watch(self, consumer: Consumer) -> None:
        """While the consumer runs: connected, and every second the lag per partition and the
        worker's readiness (partitions and output flowing), also while a batch is stuck."""
        observer = self.observer
        observer.connected(True)
        try:
            while True:
                observer.tick()
                observer.ready(self.health.ready)
                observer.lag(await consumer_lag(consumer))
                await asyncio.sleep(LAG_INTERVAL_S)
        finally:
            observer.tick()
            observer.ready(False)
            observer.connected(False)

    async def _loop(self, consumer: Consumer, stop: asyncio.Event) -> None:
        timeout = self.settings.batch_timeout_ms
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                generation = self.generation
                fetch = asyncio.ensure_future(
                    consumer.getmany(
                        timeout_ms=timeout, max_records=self.settings.batch_max_records
                    )
                )
                done, _ = await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if fetch not in done:
                    fetch.cancel()
                    with contextlib.suppress(asyncio.CancelledError, KafkaError):
                        await fetch
                    break
                batches = fetch.result()
                if not batches:  # idle: what the last batches did is committed once due
                    async with self.lock:
                        if generation == self.generation and not self.rebalancing:
                            await self.flush(consumer, force=False)
                    continue
                records = fetched(batches)
                async with self.lock:
                    if generation != self.generation or self.rebalancing:
                        _refetch(consumer, records)  # fetched across a rebalance
                        continue
                    await self._process(consumer, records, stop)
            async with self.lock:
                await self.flush(consumer, force=True)
                await self.delivery.drain()  # the last batch's acks and commit, before leaving
        finally:
            stopping.cancel()

    async def _process(
        self, consumer: Consumer, records: list[InputRecord], stop: asyncio.Event
    ) -> None:
        self.observer.batch_started(len(records))
        if self.state is not None:
            await self._restore(consumer, records)
        loop = asyncio.get_running_loop()
        started = loop.time()
        batch = self.processor.process(records)
        batch.report.screen_seconds = loop.time() - started
        await self.delivery.deliver(consumer, batch, records, stop, self)

    async def flush(self, consumer: Consumer, force: bool) -> None:
        """Close the commit interval if batches since the last commit wait for it (with the
        lock held: between batches)."""
        batch = self.processor.flush(force)
        if batch is not None:
            await self.delivery.deliver(consumer, batch, [], self.stop, self)

    async def _restore(self, consumer: Consumer, records: list[InputRecord]) -> None:
        """Restore the state of the batch's partitions that have none yet (newly assigned, or
        invalidated by an aborted transaction), before any of their records is screened.

        With them, every other assigned partition that has none: one restore however many
        partitions it reads, where one per batch as each partition's records first arrived
        cost a wait per partition (measured: six in a row, ~270 ms each, 1.6 s of a 4.5 s
        `bench pipeline` backlog on a fresh assignment)."""
        assert self.state is not None
        states = self.state.state
        seen = partitions(records)
        if states.missing(seen):
            assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
            missing = states.missing(seen | assigned)
            options = connection_options(self.settings)
            read_committed = self.delivery.read_committed
            count, seconds = await self.state.restore(options, missing, read_committed)
            self.observer.state_restored(len(missing), count, seconds)

    # -- outcomes (called by the delivery strategy) --------------------------------------------

    def finished(self, batch: Batch, committed: bool, acked_at: float) -> None:
        report = batch.report
        report.acked_at = acked_at
        report.committed = committed
        self.observer.batch_finished(report)

    def rewound(self, batch: Batch) -> None:
        self.processor.rewound(batch)


def _refetch(consumer: Consumer, records: list[InputRecord]) -> None:
    """Drop a batch fetched across a rebalance and read it again: seek each partition still
    assigned back to the batch's first offset. (Records fetched under the old assignment
    would otherwise be screened twice — once now, once from the committed offset the new
    assignment starts at — and their state counted twice; those fetched under the new one
    would be skipped.) Partitions that moved are read by their new owner from the commit."""
    assigned = consumer.assignment()
    first: dict[TopicPartition, int] = {}
    for r in records:
        first.setdefault(TopicPartition(r.topic, r.partition), r.offset)
    for tp, offset in first.items():
        if tp in assigned:
            consumer.seek(tp, offset)


async def consumer_lag(consumer: Consumer) -> dict[Partition, int]:
    """Records behind per assigned partition: high-water − position, where both are known.

    `consumer.highwater()` comes from the last fetch response (on Tansu `end_offsets()` is
    wrong; the fetch response's high-water is right).
    """
    lag: dict[Partition, int] = {}
    for tp in list(consumer.assignment()):
        try:
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            position = await asyncio.wait_for(consumer.position(tp), 1.0)
        except Exception:  # revoked meanwhile, or no position yet: try next time
            continue
        lag[tp.topic, tp.partition] = max(0, highwater - position)
    return lag


async def _stop_consumer(consumer: Consumer, timeout_s: float) -> None:
    """Stop the consumer within `timeout_s`. During a broker outage aiokafka's fetcher, when
    closed, awaits a fetch task it has just cancelled (one sleeping in its retry backoff), and
    that `CancelledError` comes out of `consumer.stop()` although nobody cancelled this task:
    it would end a clean shutdown in a traceback. Only that one is absorbed; a cancellation
    of this task (the shutdown deadline) still propagates."""
    try:
        await bounded(consumer.stop(), timeout_s)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.warning("consumer stopped with a fetch cancelled mid-retry (broker unreachable)")
