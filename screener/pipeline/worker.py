"""One screening worker: a consumer-group member that reads, screens, publishes and commits.

Delivery (DESIGN.md): an input offset is committed only after every review/DLQ/audit record
produced for it is acknowledged (acks=all), so a crash at any point re-reads, never loses.
Batches are screened one at a time under a lock that the rebalance listener also takes; a
batch's acks and commit overlap the next batch's screening (one batch in flight, committed in
order, drained before a revoke or exit), so a partition is never handed over mid-batch.
With `exactly-once`, output and offsets go in one Kafka transaction per batch instead (see
`transactional_id` for the fencing scheme and `Worker._publish_transaction` for what happens
when a transaction fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    NodeNotReadyError,
    ProducerFenced,
    RequestTimedOutError,
    TopicAlreadyExistsError,
)
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

from screener.engine import Engine
from screener.events import Event, ParseError, parse_event
from screener.pipeline.records import Outgoing, audit_item, dlq_item, review_item
from screener.pipeline.refused import fit, refused_item
from screener.pipeline.settings import Settings
from screener.verdict import Verdict, Verdicts

if TYPE_CHECKING:
    from screener.metrics import Metrics

log = logging.getLogger("screener.worker")

Record: TypeAlias = ConsumerRecord  # [bytes, bytes]


@dataclass
class Stats:
    """What a worker has done so far (the demo's live view and the tests read it)."""

    consumed: int = 0
    flagged: int = 0
    dlq: int = 0
    batches: int = 0
    commits: int = 0
    commit_failures: int = 0
    produce_retries: int = 0
    rebalances: int = 0
    aborts: int = 0
    fenced: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    latest: list[Verdict] = field(default_factory=list)
    assigned: set[TopicPartition] = field(default_factory=set)
    ready: bool = False


class Unacknowledged(RuntimeError):
    """Asked to stop while output was not acknowledged (broker down): the batch is not
    committed and will be read again; nothing is lost."""

    def __init__(self, records: int | None = None):
        what = "output records" if records is None else f"{records} output records"
        super().__init__(f"stopped with {what} unacknowledged (broker unreachable); their "
                         "batch was not committed and will be read again")


class TransactionsUnsupported(RuntimeError):
    """Exactly-once was asked for on a broker without transactions (e.g. Tansu)."""


class WorkerFenced(RuntimeError):
    """Another live process keeps taking this worker's transactional id: stop, loudly."""


#: Errors meaning "could not talk to the broker yet", as opposed to "the broker said no".
_UNREACHABLE = (KafkaConnectionError, NodeNotReadyError, RequestTimedOutError, OSError,
                TimeoutError)  # fmt: skip


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
    prefix = settings.transactional_id_prefix or f"{settings.group_id}-screener"
    return f"{prefix}-{worker_index}"


@dataclass(slots=True)
class Screened:
    outgoing: list[Outgoing]
    offsets: dict[TopicPartition, OffsetAndMetadata]
    verdicts: Verdicts
    errors: int
    events: list[Event] = field(default_factory=list)
    owners: list[Record] = field(default_factory=list)
    """the record each event came from (same order as `events`)."""


def screen_records(engine: Engine, records: Sequence[Record], settings: Settings) -> Screened:
    """Pure part of a batch: records → output records and the offsets they complete."""
    events: list[Event] = []
    owners: list[Record] = []
    outgoing: list[Outgoing] = []
    errors = 0
    for record in records:
        parsed = (
            parse_event(record.value)
            if record.value is not None
            else ParseError("empty", "record has no value")
        )
        if isinstance(parsed, ParseError):
            errors += 1
            outgoing.append(_dead(settings, record, f"{parsed.reason}: {parsed.detail}"))
        else:
            events.append(parsed)
            owners.append(record)
    verdicts, owners = _screen_isolating(engine, events, owners, settings, outgoing)
    for i, verdict in verdicts.decided.items():  # only events with findings can be flagged
        if verdict.flagged:
            item = review_item(verdict, owners[i].value or b"", settings.review_topic)
            r = owners[i]  # too large for the broker: its DLQ form, so the partition moves on
            item.source = (r.topic, r.partition, r.offset)
            outgoing.append(fit(item, settings.max_output_bytes, settings.dlq_topic, item.source))
    if settings.verdicts_topic:
        outgoing += [audit_item(verdict, settings.verdicts_topic) for verdict in verdicts]
    # a partition's records come in offset order (as getmany returns them): its last one wins
    last = {(r.topic, r.partition): r.offset for r in records}
    offsets = {TopicPartition(t, p): OffsetAndMetadata(o + 1, "") for (t, p), o in last.items()}
    errors += len(events) - len(verdicts)
    return Screened(outgoing, offsets, verdicts, errors, events, owners)


def _dead(settings: Settings, record: Record, error: str) -> Outgoing:
    headers = [(k, bytes(v)) for k, v in (record.headers or ())]
    return dlq_item(
        settings.dlq_topic, record.key, record.value, error,
        record.topic, record.partition, record.offset, headers,
    )  # fmt: skip


def _screen_isolating(
    engine: Engine, events: list[Event], owners: list[Record], settings: Settings,
    outgoing: list[Outgoing],
) -> tuple[Verdicts, list[Record]]:  # fmt: skip
    """Screen the batch; if the engine fails, screen one by one so one bad record goes to the
    DLQ with the reason and the rest of the partition keeps moving. Returns the verdicts and
    the records they belong to (position by position)."""
    try:
        return engine.screen(events), owners
    except Exception:
        log.exception("engine failed on a batch of %d; isolating the record", len(events))
    ids: list[str] = []
    kept: list[Record] = []
    decided: dict[int, Verdict] = {}
    for event, record in zip(events, owners, strict=True):
        try:
            verdict = engine.screen([event]).decided.get(0)
        except Exception as exc:  # one poisonous record: DLQ, never a stalled partition
            outgoing.append(_dead(settings, record, f"engine_error: {type(exc).__name__}: {exc}"))
            continue
        if verdict is not None:
            decided[len(ids)] = verdict
        ids.append(event.id)
        kept.append(record)
    return Verdicts(ids, engine.pack.version, decided), kept


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: Worker, consumer: AIOKafkaConsumer | None = None):
        self.worker = worker
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # Wait for the batch in flight: it is committed before the partitions move.
        async with self.worker.lock:
            await self.worker.drain()
            self.worker.stats.assigned.difference_update(revoked)
            self.worker.stats.rebalances += 1
            if self.worker.metrics is not None:
                self.worker.metrics.revoked(revoked, self.worker.stats.assigned)
            if self.consumer is not None and self.worker._transactional:
                await self.worker._await_stable_offsets(self.consumer, set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.worker.stats.assigned.update(assigned)
        self.worker.stats.ready = bool(self.worker.stats.assigned)
        if self.worker.metrics is not None:
            self.worker.metrics.assigned(self.worker.stats.assigned)


class Worker:
    """Runs until `stop` is set, then drains the batch in flight, commits and leaves."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        worker_index: int = 0,
        on_batch: Callable[[Screened, float], None] | None = None,
        metrics: Metrics | None = None,
    ):
        self.settings = settings
        self.engine = engine
        self.worker_index = worker_index
        self.stats = Stats()
        self.lock = asyncio.Lock()
        self.on_batch = on_batch
        self.metrics = metrics
        self._transactional = settings.guarantee == "exactly-once"
        # exactly-once: the input offsets each partition's last committed transaction set
        self._txn_offsets: dict[TopicPartition, int] = {}
        self._fencings: list[float] = []
        # at-least-once: the previous batch, while its output is acknowledged and committed
        self._in_flight: asyncio.Future[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        if self.settings.create_topics:
            await _retry(lambda: ensure_topics(self.settings), stop, "create topics")
        # Before joining the group: with transactions, InitProducerId finishes or aborts what a
        # predecessor in this slot left open, so the offsets read on assignment are final.
        self._producer = producer = await self._start_producer(stop)
        consumer = AIOKafkaConsumer(
            *self.settings.input_topics,
            group_id=self.settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset=self.settings.auto_offset_reset,
            max_poll_records=self.settings.batch_max_records,
            fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
            isolation_level="read_committed" if self._transactional else "read_uncommitted",
            **self.settings.kafka_common(),
        )
        consumer.subscribe(self.settings.input_topics, listener=_Listener(self, consumer))
        started = False
        watch: asyncio.Task[None] | None = None
        try:
            if stop.is_set():
                return
            await _retry(consumer.start, stop, "connect consumer")
            started = True
            if self.metrics is not None:  # lag, connection and readiness, once a second
                watch = asyncio.create_task(self.metrics.watch(consumer, lambda: self.stats.ready))
            await self._loop(consumer, producer, stop)
        finally:
            if watch is not None:
                watch.cancel()
            self.stats.ready = False
            if started and self._transactional:  # the next owner must see our last commit
                await _bounded(self._await_stable_offsets(consumer, set(self._txn_offsets)), 10)
            await _bounded(consumer.stop(), self.settings.shutdown_timeout_s)
            await _bounded(self._producer.stop(), self.settings.shutdown_timeout_s)

    def _note_fencing(self, exc: BaseException) -> None:
        """Give up (exit non-zero) when fenced again and again: another process has our id."""
        now = time.monotonic()
        self.stats.fenced += 1
        self._fencings = [t for t in self._fencings if now - t < 60] + [now]
        if len(self._fencings) > 3:
            raise WorkerFenced(
                f"transactional id {transactional_id(self.settings, self.worker_index)!r} was "
                f"fenced {len(self._fencings)} times in 60s: another live worker uses it "
                "(give each replica its own --transactional-id-prefix)"
            ) from exc
        log.warning("transactional producer lost (%r); re-initialising it", exc)

    async def _start_producer(self, stop: asyncio.Event) -> AIOKafkaProducer:
        options: dict[str, Any] = {
            "acks": "all",
            "linger_ms": self.settings.linger_ms,
            "max_batch_size": self.settings.max_batch_bytes,
            "compression_type": None if self.settings.compression == "none"
            else self.settings.compression,
            **self.settings.kafka_common(),
        }  # fmt: skip
        if self._transactional:
            return await start_transactional_producer(
                options, transactional_id(self.settings, self.worker_index),
                self.settings.transaction_timeout_ms, stop,
            )  # fmt: skip
        producer = AIOKafkaProducer(enable_idempotence=True, **options)
        try:
            await asyncio.wait_for(producer.start(), 10)
            return producer
        except (KafkaError, TimeoutError) as exc:
            # Tansu has no idempotent producer: acks=all and commit-after-ack still lose nothing
            log.warning("idempotent producer unavailable (%s); continuing without it", exc)
            await _bounded(producer.stop(), 5)
        producer = AIOKafkaProducer(**options)
        await _retry(producer.start, stop, "connect producer")
        return producer

    async def _loop(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, stop: asyncio.Event
    ) -> None:
        timeout = self.settings.batch_timeout_ms
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
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
                if not batches:
                    continue
                records = [r for tp in sorted(batches) for r in batches[tp]]
                async with self.lock:
                    await self._process(consumer, producer, records, stop)
            async with self.lock:
                await self.drain()  # the last batch's acks and commit, before leaving
        finally:
            stopping.cancel()

    # -- one batch -----------------------------------------------------------------------------

    async def _process(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
        records: list[Record], stop: asyncio.Event,
    ) -> None:  # fmt: skip
        metrics = self.metrics
        if metrics is not None:
            metrics.batch_started(len(records))
        started = time.perf_counter()
        screened = screen_records(self.engine, records, self.settings)
        screen_seconds = time.perf_counter() - started
        if self._transactional:
            committed = await self._publish_transaction(consumer, screened, records, stop)
            acked_at = time.time()
            if metrics is not None:
                metrics.committed(committed)
            if not committed:
                return  # aborted and rewound: the batch is read and screened again
            self._finish(records, screened, screen_seconds, acked_at, started)
        else:
            # Pipelined: this batch's output is acknowledged and its offsets committed while
            # the next batch is fetched and screened. At most one batch is in flight, and it
            # completes before the next is handed over, so commits stay in order; revocation
            # and shutdown drain it first (`drain`).
            await self.drain()
            self._in_flight = asyncio.ensure_future(self._complete(
                consumer, producer, records, screened, screen_seconds, started, stop
            ))  # fmt: skip

    async def _complete(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, records: list[Record],
        screened: Screened, screen_seconds: float, started: float, stop: asyncio.Event,
    ) -> None:  # fmt: skip
        """At-least-once tail of a batch: every output acknowledged, then its offsets committed."""
        await self._publish(producer, screened.outgoing, stop)
        acked_at = time.time()
        try:
            await consumer.commit(screened.offsets)
            self.stats.commits += 1
            committed = True
        except KafkaError as exc:  # rebalanced away: the new owner re-reads (duplicates ok)
            self.stats.commit_failures += 1
            committed = False
            log.warning("commit failed: %s", exc)
        if self.metrics is not None:
            self.metrics.committed(committed)
        self._finish(records, screened, screen_seconds, acked_at, started)

    async def drain(self) -> None:
        """Wait for the batch in flight to be acknowledged and committed (its error, if any,
        is raised here)."""
        pending, self._in_flight = self._in_flight, None
        if pending is not None:
            await pending

    def _finish(
        self, records: list[Record], screened: Screened, screen_seconds: float,
        acked_at: float, started: float,
    ) -> None:  # fmt: skip
        if self.metrics is not None:
            self.metrics.batch(records, screened, screen_seconds, acked_at)
        self._account(screened, records)
        if self.on_batch is not None:
            self.on_batch(screened, time.perf_counter() - started)

    async def _publish(
        self, producer: AIOKafkaProducer, outgoing: list[Outgoing], stop: asyncio.Event
    ) -> None:
        """Send everything and wait for every ack, retrying the unacknowledged with backoff.

        Never gives up while the service runs: a broker outage stalls the batch (and the
        commit), it does not drop it. On shutdown the batch stays uncommitted and is re-read.
        """
        pending = outgoing
        delay = 0.2
        while pending:
            futures = [await _send(producer, o) for o in pending]
            results = await _unless_stopped(asyncio.gather(*futures, return_exceptions=True), stop)
            pending = [self._refused(o, r) if _refused_for_good(o, r, self.settings) else o
                       for o, r in zip(pending, results, strict=True)
                       if isinstance(r, Exception)]  # fmt: skip
            if not pending:
                self.stats.ready = bool(self.stats.assigned)
            else:
                self.stats.ready = False  # /readyz: not while the broker refuses our output
                self.stats.produce_retries += len(pending)
                if self.metrics is not None:
                    self.metrics.produce_failed(pending)
                log.warning("%d records not acknowledged; retrying in %.1fs", len(pending), delay)
                if stop.is_set():
                    raise Unacknowledged(len(pending))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _refused(self, item: Outgoing, error: BaseException) -> Outgoing:
        """The broker refused `item` for good (e.g. over its max.message.bytes): its DLQ form,
        so the batch (and its partition) can complete."""
        assert item.source is not None
        log.warning("%s refused a record for good (%r); sent to %s in cut form", item.topic,
                    error, self.settings.dlq_topic)  # fmt: skip
        return refused_item(item, repr(error), self.settings.dlq_topic, item.source)

    async def _publish_transaction(
        self, consumer: AIOKafkaConsumer, screened: Screened, records: list[Record],
        stop: asyncio.Event,
    ) -> bool:  # fmt: skip
        """One transaction per batch: all its review/DLQ/audit records and its input offsets.

        Returns True once committed. Otherwise nothing of the batch is committed and it is
        re-read: an abortable error aborts the transaction and seeks the batch's partitions back
        to the batch's first offsets (exactly the offsets the previous transaction committed;
        asking the broker instead could return a value older than that commit, since
        aiokafka's OffsetFetch cannot wait for pending transactional offsets). A fatal error
        (fenced, producer dead) replaces the producer under the same transactional id, whose
        InitProducerId settles whatever was in flight, and then seeks to the committed offsets.
        aiokafka does not abort a transaction when one of its records fails, so every delivery
        is awaited before the commit is asked for.
        """
        producer = self._producer
        try:
            await producer.begin_transaction()
            futures = [await _send(producer, o) for o in screened.outgoing]
            offsets = producer.send_offsets_to_transaction(screened.offsets, self.settings.group_id)
            results = await asyncio.gather(offsets, *futures, return_exceptions=True)
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                raise failed
            await producer.commit_transaction()
        except Exception as exc:
            self.stats.aborts += 1
            self.stats.ready = False
            if not isinstance(exc, ProducerFenced) and not _is_fatal(producer):
                try:
                    await producer.abort_transaction()
                except Exception as again:
                    exc = again
                else:
                    log.warning("transaction aborted (%r); re-reading the batch", exc)
                    _seek_first(consumer, records)
                    return False
            self._note_fencing(exc)
            await _bounded(producer.stop(), 5)
            self._producer = await self._start_producer(stop)
            await _seek_committed(consumer, records)
            return False
        for tp, meta in screened.offsets.items():
            self._txn_offsets[tp] = meta.offset
        self.stats.commits += 1
        self.stats.ready = bool(self.stats.assigned)
        return True

    async def _await_stable_offsets(
        self, consumer: AIOKafkaConsumer, partitions: set[TopicPartition]
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

    def _account(self, screened: Screened, records: list[Record]) -> None:
        s = self.stats
        s.consumed += len(records)
        s.batches += 1
        s.dlq += screened.errors
        for verdict in screened.verdicts.decided.values():
            if verdict.flagged:
                s.flagged += 1
                s.by_category[verdict.category or "?"] += 1
                s.latest.append(verdict)
        del s.latest[:-20]


async def _send(producer: AIOKafkaProducer, o: Outgoing) -> asyncio.Future[Any]:
    """`producer.send`, with a failure to enqueue (e.g. no metadata while the broker is down)
    returned as a failed delivery instead of raised, so callers handle both alike."""
    try:
        future: asyncio.Future[Any] = await producer.send(
            o.topic, o.value, key=o.key, headers=o.headers
        )
    except KafkaError as exc:
        future = asyncio.get_running_loop().create_future()
        future.set_exception(exc)
    return future


async def _unless_stopped(gathering: Any, stop: asyncio.Event) -> Any:
    """Await the deliveries, unless asked to stop first: a broker outage can hold them for
    the producer's whole request timeout, longer than the shutdown deadline."""
    if stop.is_set():
        return await gathering
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({gathering, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if gathering not in done:
        gathering.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await gathering
        raise Unacknowledged()
    return gathering.result()


def _refused_for_good(item: Outgoing, result: object, settings: Settings) -> bool:
    """A non-retriable refusal of a review/audit record (not of the DLQ itself: that one is
    retried, as losing it would lose the record)."""
    return (
        isinstance(result, KafkaError)
        and not result.retriable
        and item.source is not None
        and item.topic != settings.dlq_topic
    )


def _is_fatal(producer: AIOKafkaProducer) -> bool:
    txn = getattr(producer, "_txn_manager", None)
    return bool(txn is not None and txn.is_fatal_error())


def _first_offsets(records: list[Record]) -> dict[TopicPartition, int]:
    first: dict[TopicPartition, int] = {}
    for r in records:
        first.setdefault(TopicPartition(r.topic, r.partition), r.offset)
    return first


def _seek_first(consumer: AIOKafkaConsumer, records: list[Record]) -> None:
    assigned = consumer.assignment()
    for tp, offset in _first_offsets(records).items():
        if tp in assigned:  # if not, the next owner starts from the committed offset
            consumer.seek(tp, offset)


async def _seek_committed(consumer: AIOKafkaConsumer, records: list[Record]) -> None:
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


async def start_transactional_producer(
    options: dict[str, Any], tid: str, timeout_ms: int, stop: asyncio.Event
) -> AIOKafkaProducer:
    """Start a transactional producer (InitProducerId), retrying while the broker is
    unreachable. A broker that answers and refuses (Tansu has no transactions) is final."""
    delay = 0.5
    sender_log = logging.getLogger("aiokafka.producer.sender")
    while True:
        producer = AIOKafkaProducer(
            transactional_id=tid, transaction_timeout_ms=timeout_ms, **options
        )
        level = sender_log.level
        sender_log.setLevel(logging.CRITICAL)  # we report a refusal ourselves, in one line
        try:
            await producer.start()
            return producer
        except _UNREACHABLE as exc:
            await _bounded(producer.stop(), 5)
            if stop.is_set():
                raise
            log.warning("transactional producer: broker unreachable (%s); retrying", exc)
        except KafkaError as exc:
            await _bounded(producer.stop(), 5)
            raise TransactionsUnsupported(
                "exactly-once needs a broker with transactions (Apache Kafka); "
                f"{options.get('bootstrap_servers')} refused InitProducerId ({exc!r})"
            ) from exc
        finally:
            sender_log.setLevel(level)
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 10.0)


async def ensure_topics(settings: Settings) -> None:
    """Create the input and output topics if they are missing (idempotent)."""
    admin = AIOKafkaAdminClient(**settings.kafka_common())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = [*settings.input_topics, settings.review_topic, settings.dlq_topic]
        if settings.verdicts_topic:
            names.append(settings.verdicts_topic)
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            topics = [NewTopic(n, settings.topic_partitions, 1) for n in missing]
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(topics)
    finally:
        await admin.close()


async def _retry(
    action: Callable[[], Any], stop: asyncio.Event, what: str, attempts: int | None = None
) -> None:
    """Retry with exponential backoff until it works or the service is asked to stop."""
    delay = 0.5
    tries = 0
    while True:
        try:
            await action()
            return
        except (KafkaError, OSError) as exc:
            tries += 1
            if stop.is_set() or (attempts is not None and tries >= attempts):
                raise
            log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 10.0)


async def _bounded(awaitable: Any, seconds: float) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(awaitable, seconds)
