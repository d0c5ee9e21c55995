"""Exactly-once delivery: each batch's output and input offsets in one Kafka transaction.

See `transactional_id` for the fencing scheme and `Transactional.deliver` for what happens
when a transaction fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from screener.kafka import (
    Consumer,
    KafkaError,
    Producer,
    TopicPartition,
)
from screener.kafka.clients import (
    bounded,
    changelog_batches,
    start_transactional_producer,
    worker_producer_options,
)
from screener.kafka.errors import producer_lost
from screener.observe import Observer, Partition
from screener.pipeline.delivery import Health, Outcome, kafka_offsets, send_all
from screener.pipeline.fetched import InputRecord
from screener.pipeline.settings import Settings
from screener.pipeline.transform import Batch

log = logging.getLogger("screener.worker")

FENCINGS_ALLOWED = 3
"""fencings within `FENCING_WINDOW_S` after which the worker gives up (exits non-zero)."""
FENCING_WINDOW_S = 60.0


class WorkerFenced(RuntimeError):
    """Another live process keeps taking this worker's transactional id: stop, loudly."""


def transactional_id(settings: Settings, worker_index: int) -> str:
    """`{group}-screener-{worker_index}`: one static transactional id per worker *slot*.

    Why per slot, not per input partition or random per process:

    - A restarted slot fences its zombie predecessor. The supervisor restarts a dead worker
      under the same index (and a restarted `screener run` starts at index 0 again), so the
      new incarnation's InitProducerId carries the same id: the coordinator bumps the epoch,
      aborts (or finishes) the predecessor's open transaction, and rejects anything the old
      process still sends with ProducerFenced. The worker initialises this producer *before*
      joining the group, so it never reads committed offsets while the predecessor's last
      transaction is undecided. A random id per process could not fence anything: a killed
      worker's open transaction would linger until `transaction_timeout_ms` and its output
      stays invisible to `read_committed` readers until then.
    - A partition moving between live slots (rebalance) is covered by the group protocol:
      revocation waits for the batch in flight (its transaction commits or aborts before the
      partition is released) and then for the committed offsets to become readable
      (aiokafka's OffsetFetch has no `require_stable`, KIP-447), so the next owner starts
      exactly after the last committed batch.
    - Ids per input partition (the pre-KIP-447 scheme) would need one producer and one
      transaction per partition per batch: N× the coordinator round trips for the same data.

    What it does not cover: a worker that stalls longer than the session timeout in the middle
    of a batch, is expelled, and then wakes up and commits. Its partitions went to another
    slot, and aiokafka's TxnOffsetCommit (v0) carries no group generation for the broker to
    reject (KIP-447). `transaction_timeout_ms` bounds how long such a transaction can stay
    open. Replicas on several machines need distinct `transactional_id_prefix` values (e.g.
    the StatefulSet pod name), or they fence each other: after repeated fencing the worker
    exits non-zero rather than flap.
    """
    return f"{transactional_id_prefix(settings)}-{worker_index}"


def transactional_id_prefix(settings: Settings) -> str:
    """The prefix in use: `--transactional-id-prefix`, by default `{group_id}-screener`."""
    return settings.transactional_id_prefix or f"{settings.group_id}-screener"


class Transactional:
    """One transaction per batch; not pipelined (the next batch waits for the commit)."""

    read_committed = True

    def __init__(
        self, settings: Settings, observer: Observer, health: Health, worker_index: int = 0
    ):
        self.settings = settings
        self.observer = observer
        self.health = health
        self.transactional_id = transactional_id(settings, worker_index)
        self._batches = changelog_batches(settings, transactional=True)
        self.producer: Producer | None = None
        self.fenced = 0
        self._fencings: list[float] = []
        # the input offsets each partition's last committed transaction set
        self._txn_offsets: dict[TopicPartition, int] = {}

    async def start(self, stop: asyncio.Event) -> None:
        self.producer = await self._new_producer(stop)

    async def _new_producer(self, stop: asyncio.Event) -> Producer:
        return await start_transactional_producer(
            worker_producer_options(self.settings), self.transactional_id,
            self.settings.transaction_timeout_ms, stop,
        )  # fmt: skip

    async def deliver(
        self, consumer: Consumer, batch: Batch, records: Sequence[InputRecord],
        stop: asyncio.Event, outcome: Outcome,
    ) -> None:  # fmt: skip
        """Commit the batch's records and offsets in one transaction, or rewind it.

        When it fails nothing of the batch is committed and it is re-read: an abortable error
        aborts the transaction and seeks the batch's partitions back to the batch's first
        offsets (exactly the offsets the previous transaction committed; asking the broker
        instead could return a value older than that commit, since aiokafka's OffsetFetch
        cannot wait for pending transactional offsets). A lost producer (fenced, or in
        aiokafka's fatal state, which refuses the abort) is replaced under the same
        transactional id, whose InitProducerId settles whatever was in flight, and then the
        batch's partitions seek to the committed offsets. aiokafka does not abort a
        transaction when one of its records fails, so every delivery is awaited before the
        commit is asked for.
        """
        producer = self.producer
        assert producer is not None
        try:
            await producer.begin_transaction()
            sent = await send_all(producer, batch.outgoing, self._batches, batch.changelog)
            futures = [future for future, _ in sent]
            offsets = producer.send_offsets_to_transaction(
                kafka_offsets(batch.offsets), self.settings.group_id
            )
            results = await asyncio.gather(offsets, *futures, return_exceptions=True)
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                raise failed
            await producer.commit_transaction()
        except Exception as exc:
            self.health.output_ok = False
            self.observer.batch_aborted()
            outcome.rewound(batch)
            if not producer_lost(exc):
                try:
                    await producer.abort_transaction()
                except Exception as again:
                    exc = again
                else:
                    log.warning("transaction aborted (%r); re-reading the batch", exc)
                    _seek_first(consumer, records)
                    return
            self._note_fencing(exc)
            await bounded(producer.stop(), 5)
            self.producer = await self._new_producer(stop)
            await _seek_committed(consumer, records)
            return
        acked_at = time.time()
        for (topic, partition), offset in batch.offsets.items():
            self._txn_offsets[TopicPartition(topic, partition)] = offset
        self.health.output_ok = True
        outcome.finished(batch, True, acked_at)

    def _note_fencing(self, exc: BaseException) -> None:
        """Give up (exit non-zero) when fenced again and again: another process has our id."""
        now = time.monotonic()
        self.fenced += 1
        self._fencings = [t for t in self._fencings if now - t < FENCING_WINDOW_S] + [now]
        if len(self._fencings) > FENCINGS_ALLOWED:
            raise WorkerFenced(
                f"transactional id {self.transactional_id!r} was fenced "
                f"{len(self._fencings)} times in {FENCING_WINDOW_S:.0f}s: another live worker "
                "uses it (give each replica its own --transactional-id-prefix)"
            ) from exc
        log.warning("transactional producer lost (%r); re-initialising it", exc)

    async def drain(self) -> None:
        pass  # nothing in flight: a batch's transaction ends inside `deliver`

    async def revoking(self, consumer: Consumer, partitions: set[Partition]) -> None:
        await self._await_stable_offsets(consumer, {TopicPartition(*tp) for tp in partitions})

    async def leaving(self, consumer: Consumer) -> None:
        # the next owner must see our last commit
        await bounded(self._await_stable_offsets(consumer, set(self._txn_offsets)), 10)

    async def close(self, timeout_s: float) -> None:
        if self.producer is not None:
            await bounded(self.producer.stop(), timeout_s)

    async def _await_stable_offsets(
        self, consumer: Consumer, partitions: set[TopicPartition]
    ) -> None:
        """Before giving partitions up: wait until our last transactional commit for each is
        readable, so the next owner (whose offset fetch cannot wait for it) starts after it."""
        deadline = time.monotonic() + 10
        for tp in partitions:
            want = self._txn_offsets.pop(tp, None)
            while want is not None and time.monotonic() < deadline:
                with contextlib.suppress(KafkaError):
                    if (await consumer.committed(tp) or -1) >= want:
                        break
                await asyncio.sleep(0.02)  # poll interval, bounded by the deadline
            else:
                if want is not None:
                    log.warning("offset %d of %s not yet readable; handing it over", want, tp)


def _first_offsets(records: Sequence[InputRecord]) -> dict[TopicPartition, int]:
    first: dict[TopicPartition, int] = {}
    for r in records:
        first.setdefault(TopicPartition(r.topic, r.partition), r.offset)
    return first


def _seek_first(consumer: Consumer, records: Sequence[InputRecord]) -> None:
    assigned = consumer.assignment()
    for tp, offset in _first_offsets(records).items():
        if tp in assigned:  # if not, the next owner starts from the committed offset
            consumer.seek(tp, offset)


async def _seek_committed(consumer: Consumer, records: Sequence[InputRecord]) -> None:
    """Seek the batch's partitions to their committed offsets. Called once a new producer has
    settled the last transaction, so these are final; a failure to read them is retried, not
    guessed around (guessing could re-read a batch whose commit did land)."""
    assigned = consumer.assignment()
    for tp, first in _first_offsets(records).items():
        if tp not in assigned:
            continue
        for attempt in range(5):
            try:
                committed = await consumer.committed(tp)
                break
            except KafkaError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        consumer.seek(tp, first if committed is None else committed)
