"""Delivery strategies: how a transformed batch is produced and its offsets committed.

A strategy owns the producer and the commit protocol; the worker's loop hands it each batch
and does not branch on which one it is. Two exist:

- `AtLeastOnce`: an input offset is committed only after every output record of its batch is
  acknowledged (acks=all), so a crash at any point re-reads, never loses. Output goes out
  batch by batch; offsets are committed once per commit interval (`pipeline.commits`), the
  commits overlapping the next batches' screening (in order, at most `COMMITS_IN_FLIGHT`,
  drained before a revoke or exit).
- `Transactional` (`pipeline.transactional`): output and offsets in one Kafka transaction
  per batch.

Both produce a batch's `changelog` records with its output, before the commit (inside the
transaction for exactly-once), so state stored in a changelog topic moves with the offsets.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from screener.kafka import (
    Consumer,
    KafkaError,
    OffsetAndMetadata,
    Producer,
    RecordBatches,
    TopicPartition,
    send,
    send_batches,
)
from screener.kafka.clients import (
    bounded,
    changelog_batches,
    start_producer,
    worker_producer_options,
)
from screener.observe import Observer, Partition
from screener.pipeline.commits import SLOTS
from screener.pipeline.fetched import InputRecord
from screener.pipeline.records import Outgoing, Placed
from screener.pipeline.refused import refused_item
from screener.pipeline.settings import Settings
from screener.pipeline.transform import Batch

log = logging.getLogger("screener.worker")


class Unacknowledged(RuntimeError):
    """Asked to stop while output was not acknowledged (broker down): the batch is not
    committed and will be read again; nothing is lost."""

    def __init__(self, records: int | None = None):
        what = "output records" if records is None else f"{records} output records"
        super().__init__(f"stopped with {what} unacknowledged (broker unreachable); their "
                         "batch was not committed and will be read again")  # fmt: skip


@dataclass
class Health:
    """What readiness is made of: partitions owned, and output being acknowledged."""

    assigned: set[Partition] = field(default_factory=set)
    output_ok: bool = True

    @property
    def ready(self) -> bool:
        return bool(self.assigned) and self.output_ok


class Outcome(Protocol):
    """Told how each batch ended (the worker: reports to observers, rewinds its processor)."""

    def finished(self, batch: Batch, committed: bool, acked_at: float) -> None: ...
    def rewound(self, batch: Batch) -> None: ...


class Delivery(Protocol):
    read_committed: bool
    """whether the consumer must read with isolation `read_committed`."""

    async def start(self, stop: asyncio.Event) -> None:
        """Start the producer (before the consumer joins the group)."""
        ...

    async def deliver(
        self, consumer: Consumer, batch: Batch, records: Sequence[InputRecord],
        stop: asyncio.Event, outcome: Outcome,
    ) -> None:  # fmt: skip
        """Produce and commit one batch (or schedule it: see `drain`)."""
        ...

    async def drain(self) -> None:
        """Wait until every batch handed over is finished (its error, if any, is raised)."""
        ...

    async def revoking(self, consumer: Consumer, partitions: set[Partition]) -> None:
        """Partitions are about to move to another member (after `drain`)."""
        ...

    async def leaving(self, consumer: Consumer) -> None:
        """The consumer is about to stop: hand over cleanly."""
        ...

    async def close(self, timeout_s: float) -> None:
        """Stop the producer (after the consumer stopped)."""
        ...


def kafka_offsets(offsets: dict[Partition, int]) -> dict[TopicPartition, OffsetAndMetadata]:
    return {TopicPartition(t, p): OffsetAndMetadata(o, "") for (t, p), o in offsets.items()}


def unacknowledged(outgoing: Sequence[Outgoing], placed: Sequence[Placed] = ()) -> Counter[str]:
    counts = Counter(o.topic for o in outgoing)
    for p in placed:
        counts[p.topic] += len(p.records)
    return counts


def _kept(batch: Batch) -> Batch:
    """What the interval's commit needs of a handed-over batch: its offsets and its report.

    Why not the batch itself: a screened batch holds its input records, events, verdicts and
    output, ~3 GC-tracked objects a record, and the batches of a 1 s interval stayed alive
    until its commit (~100,000 objects at 35,000 records/s). Every young collection walked
    them all and freed none: 15-130 ms pauses, traced in `bench pipeline`'s paced phase,
    the record -> review p99. Its delivery holds the whole batch until it is acknowledged."""
    return Batch([], batch.offsets, batch.report, commit=batch.commit)


async def produce_all(
    producer: Producer, outgoing: Sequence[Outgoing], stop: asyncio.Event, observer: Observer,
    health: Health, dlq_topic: str, drain_s: float, batches: RecordBatches,
    placed: Sequence[Placed] = (), placed_by: Producer | None = None,
) -> None:  # fmt: skip
    """Send everything (`placed`: records for set partitions, i.e. changelogs; through
    `placed_by` if given, in record batches built as `batches` says) and wait for every ack,
    retrying the unacknowledged with backoff.

    Never gives up while the service runs: a broker outage stalls the batch (and the commit),
    it does not drop it. On shutdown the batch stays uncommitted and is re-read.
    """
    pending, pending_placed = list(outgoing), list(placed)
    delay = 0.2
    while pending or pending_placed:
        sent = await send_all(producer, pending, batches, pending_placed, placed_by)
        gathering = asyncio.gather(*(future for future, _ in sent), return_exceptions=True)
        results = await _unless_stopped(gathering, stop, drain_s)
        pending, pending_placed = [], []
        for (_, items), r in zip(sent, results, strict=True):
            if not isinstance(r, Exception):
                continue
            if isinstance(items, Placed):  # a record batch: its records are sent again
                pending_placed.append(items)
            else:
                o = items
                pending.append(
                    _refused(o, r, dlq_topic) if _refused_for_good(o, r, dlq_topic) else o
                )
        if not pending and not pending_placed:
            health.output_ok = True
        else:
            health.output_ok = False  # /readyz: not while the broker refuses our output
            observer.produce_failed(unacknowledged(pending, pending_placed))
            count = len(pending) + sum(len(p.records) for p in pending_placed)
            log.warning("%d records not acknowledged; retrying in %.1fs", count, delay)
            if stop.is_set():
                raise Unacknowledged(count)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def send_all(
    producer: Producer, outgoing: Sequence[Outgoing], batches: RecordBatches,
    placed: Sequence[Placed] = (), placed_by: Producer | None = None,
) -> list[tuple[asyncio.Future[Any], Outgoing | Placed]]:  # fmt: skip
    """Send `outgoing` one by one (review, DLQ, audit: keyed, the partitioner picks), then
    `placed` as record batches per partition (`kafka.send_batches`; through `placed_by` if
    given, else `producer`; built as `batches` says): each delivery future with what it
    stands for (a record, or the records of one record batch). The review records go first:
    what a reader of the review topic waits for is not queued behind the state's records."""
    out: list[tuple[asyncio.Future[Any], Outgoing | Placed]] = [
        (await send(producer, o.topic, o.value, o.key, o.headers, o.partition), o) for o in outgoing
    ]
    sender = placed_by or producer
    for p in placed:
        done = 0
        for future, count in await send_batches(sender, p.topic, p.partition, p.records, batches):
            out.append((future, Placed(p.topic, p.partition, p.records[done : done + count])))
            done += count
    return out


def _refused(item: Outgoing, error: BaseException, dlq_topic: str) -> Outgoing:
    """The broker refused `item` for good (e.g. over its max.message.bytes): its DLQ form,
    so the batch (and its partition) can complete."""
    assert item.source is not None
    log.warning("%s refused a record for good (%r); sent to %s in cut form", item.topic,
                error, dlq_topic)  # fmt: skip
    return refused_item(item, repr(error), dlq_topic, item.source)


async def _unless_stopped(gathering: Any, stop: asyncio.Event, drain_s: float) -> Any:
    """Await the deliveries; once asked to stop, give them `drain_s` more. A healthy broker
    acknowledges in milliseconds, so a stop drains and commits the batch; a broker outage can
    hold them for the producer's whole request timeout, longer than the shutdown deadline."""
    if not stop.is_set():
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({gathering, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
    if not gathering.done():
        await asyncio.wait({gathering}, timeout=drain_s)
    if not gathering.done():
        gathering.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await gathering
        raise Unacknowledged()
    return gathering.result()


def _refused_for_good(item: Outgoing, result: object, dlq_topic: str) -> bool:
    """A non-retriable refusal of a review/audit record (not of the DLQ itself: that one is
    retried, as losing it would lose the record)."""
    return (
        isinstance(result, KafkaError)
        and not result.retriable
        and item.source is not None
        and item.topic != dlq_topic
    )


def _read_failure(task: asyncio.Future[Any]) -> None:
    """A batch's output task fails only with Unacknowledged at a stop; the commit (or drain)
    awaiting its group raises the first such failure, and the later tasks' failures must not
    be logged as 'never retrieved' (a traceback for a clean stop)."""
    if not task.cancelled():
        task.exception()


COMMITS_IN_FLIGHT = SLOTS
"""Commits a worker may have unfinished (in order): as many as the commit interval has
phases (`pipeline.commits`), so staggered closes do not wait for each other while the broker
keeps up, and a worker whose commits lag a whole interval waits."""


class AtLeastOnce:
    """Commit after ack, once per commit interval (per partition), commits pipelined in order.

    `changelog_producer`: the behaviour state's changelog goes through a producer of its own.
    Why: aiokafka sends one produce request per broker at a time (per producer), and the
    changelog a 1 s commit interval flushes is large (measured: ~6,500 records, ~3.5 MB
    uncompressed at 4,000 events/s, 250–970 ms to be acknowledged on a loaded host); on one
    producer every review item produced meanwhile waited behind it, which made the p99 of
    record → review (the late records spent ~950 ms there, the median record ~150 ms). On a
    connection of its own it no longer holds the review output; the commit still waits for
    both. An option, off by default: on a quiet host one producer measured the lower p99."""

    read_committed = False

    def __init__(
        self, settings: Settings, observer: Observer, health: Health,
        changelog_producer: bool = False,
    ):  # fmt: skip
        self.settings = settings
        self.observer = observer
        self.health = health
        self.producer: Producer | None = None
        self.changelog: Producer | None = None
        self._separate = changelog_producer
        self._batches = changelog_batches(settings, transactional=False)
        self._in_flight: collections.deque[asyncio.Future[None]] = collections.deque()
        """commits not finished, oldest first; each waits for the one before it"""
        self._open: list[tuple[Batch, asyncio.Future[float]]] = []
        """batches handed over since the last commit, each with its output's delivery (which
        returns when it was acknowledged)"""
        self._offsets: dict[Partition, int] = {}
        """the next offset per partition those batches read up to"""

    async def start(self, stop: asyncio.Event) -> None:
        options = worker_producer_options(self.settings)
        self.producer = await start_producer(options, stop)
        if self._separate:
            self.changelog = await start_producer(options, stop)

    async def deliver(
        self, consumer: Consumer, batch: Batch, records: Sequence[InputRecord],
        stop: asyncio.Event, outcome: Outcome,
    ) -> None:  # fmt: skip
        # A batch's output goes out at once. A batch that closes the commit interval
        # (`batch.commit`: every batch with `commit_interval_ms` 0) commits its offsets and those
        # of the batches before it once all their output is acknowledged, while the next batches
        # are fetched and screened. Each commit waits for the one before it, so commits stay in
        # order; at most `COMMITS_IN_FLIGHT` are unfinished (then the worker waits: a broker
        # that stopped acknowledging stops the reading); revocation and shutdown drain them
        # (the worker first hands over a closing batch: `Processor.flush`).
        if batch.commit:
            while self._in_flight and self._in_flight[0].done():
                self._in_flight.popleft().result()  # (a failure is raised here)
            if len(self._in_flight) >= COMMITS_IN_FLIGHT:
                await self._in_flight.popleft()
        produced = asyncio.ensure_future(self._produce(batch, stop))
        produced.add_done_callback(_read_failure)
        self._open.append((_kept(batch), produced))
        self._offsets.update(batch.offsets)  # a partition's later batch reads further
        if batch.commit:  # the partitions it closes (`batch.closes`; None: all) commit
            group, self._open = self._open, []
            if batch.closes is None:
                offsets, self._offsets = self._offsets, {}
            else:
                offsets = {p: self._offsets.pop(p) for p in batch.closes if p in self._offsets}
            before = self._in_flight[-1] if self._in_flight else None
            commit = self._commit(consumer, group, offsets, outcome, before)
            task = asyncio.ensure_future(commit)
            task.add_done_callback(_read_failure)  # raised by the deliver or drain awaiting it
            self._in_flight.append(task)

    async def _produce(self, batch: Batch, stop: asyncio.Event) -> float:
        assert self.producer is not None
        await produce_all(
            self.producer,
            batch.outgoing,
            stop,
            self.observer,
            self.health,
            self.settings.dlq_topic,
            drain_s=self.settings.shutdown_timeout_s / 2,
            placed=batch.changelog,
            placed_by=self.changelog,
            batches=self._batches,
        )
        return time.time()

    async def _commit(
        self, consumer: Consumer, group: list[tuple[Batch, asyncio.Future[float]]],
        offsets: dict[Partition, int], outcome: Outcome, before: asyncio.Future[None] | None,
    ) -> None:  # fmt: skip
        if before is not None:
            await before  # commits in order (its failure is this one's: none after it commits)
        acked = [await produced for _, produced in group]  # the first failure: none committed
        try:
            if offsets:  # (aiokafka commits every consumed position when given none)
                await consumer.commit(kafka_offsets(offsets))
            committed = True
        except KafkaError as exc:  # rebalanced away: the new owner re-reads (duplicates ok)
            committed = False
            log.warning("commit failed: %s", exc)
        for (batch, _), acked_at in zip(group, acked, strict=True):
            if batch.report.records:  # not the empty batch a flush closes an interval with
                outcome.finished(batch, committed, acked_at)

    async def drain(self) -> None:
        """Wait for the commits in flight (the first failure, if any, is raised), and for the
        output of batches after them (which stay uncommitted, read again after a restart,
        unless a closing batch follows)."""
        while self._in_flight:
            await self._in_flight.popleft()
        for _, produced in self._open:
            await produced

    async def revoking(self, consumer: Consumer, partitions: set[Partition]) -> None:
        pass

    async def leaving(self, consumer: Consumer) -> None:
        pass

    async def close(self, timeout_s: float) -> None:
        producers = [p.stop() for p in (self.producer, self.changelog) if p is not None]
        await asyncio.gather(*(bounded(stop, timeout_s) for stop in producers))
