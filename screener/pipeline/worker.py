"""One screening worker: a consumer-group member that reads, screens, publishes and commits.

Delivery (DESIGN.md): an input offset is committed only after every review/DLQ/audit record
produced for it is acknowledged (acks=all), so a crash at any point re-reads, never loses.
Batches are processed one at a time under a lock that the rebalance listener also takes, so
a partition is never handed over in the middle of a batch. With `exactly-once`, output and
offsets go in one Kafka transaction instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

from screener.engine import Engine
from screener.events import Event, ParseError, parse_event
from screener.pipeline.records import Outgoing, audit_item, dlq_item, review_item
from screener.pipeline.settings import Settings
from screener.verdict import Verdict

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
    by_category: Counter[str] = field(default_factory=Counter)
    latest: list[Verdict] = field(default_factory=list)
    assigned: set[TopicPartition] = field(default_factory=set)
    ready: bool = False


class TransactionsUnsupported(RuntimeError):
    """Exactly-once was asked for on a broker without transactions (e.g. Tansu)."""


@dataclass(slots=True)
class Screened:
    outgoing: list[Outgoing]
    offsets: dict[TopicPartition, OffsetAndMetadata]
    verdicts: list[Verdict]
    errors: int


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
    verdicts = _screen_isolating(engine, events, owners, settings, outgoing)
    for verdict, record in verdicts:
        if verdict.flagged:
            outgoing.append(review_item(verdict, record.value or b"", settings.review_topic))
        if settings.verdicts_topic:
            outgoing.append(audit_item(verdict, settings.verdicts_topic))
    offsets: dict[TopicPartition, OffsetAndMetadata] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = OffsetAndMetadata(record.offset + 1, "")
    errors += len(events) - len(verdicts)
    return Screened(outgoing, offsets, [v for v, _ in verdicts], errors)


def _dead(settings: Settings, record: Record, error: str) -> Outgoing:
    headers = [(k, bytes(v)) for k, v in (record.headers or ())]
    return dlq_item(
        settings.dlq_topic, record.key, record.value, error,
        record.topic, record.partition, record.offset, headers,
    )  # fmt: skip


def _screen_isolating(
    engine: Engine, events: list[Event], owners: list[Record], settings: Settings,
    outgoing: list[Outgoing],
) -> list[tuple[Verdict, Record]]:  # fmt: skip
    """Screen the batch; if the engine fails, screen one by one so one bad record goes to the
    DLQ with the reason and the rest of the partition keeps moving."""
    try:
        return list(zip(engine.screen(events), owners, strict=True))
    except Exception:
        log.exception("engine failed on a batch of %d; isolating the record", len(events))
    out: list[tuple[Verdict, Record]] = []
    for event, record in zip(events, owners, strict=True):
        try:
            out.append((engine.screen([event])[0], record))
        except Exception as exc:  # one poisonous record: DLQ, never a stalled partition
            outgoing.append(_dead(settings, record, f"engine_error: {type(exc).__name__}: {exc}"))
    return out


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: Worker):
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # Wait for the batch in flight: it is committed before the partitions move.
        async with self.worker.lock:
            self.worker.stats.assigned.difference_update(revoked)
            self.worker.stats.rebalances += 1

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.worker.stats.assigned.update(assigned)
        self.worker.stats.ready = bool(self.worker.stats.assigned)


class Worker:
    """Runs until `stop` is set, then drains the batch in flight, commits and leaves."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        worker_index: int = 0,
        on_batch: Callable[[Screened, float], None] | None = None,
    ):
        self.settings = settings
        self.engine = engine
        self.worker_index = worker_index
        self.stats = Stats()
        self.lock = asyncio.Lock()
        self.on_batch = on_batch
        self._transactional = settings.guarantee == "exactly-once"

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        if self.settings.create_topics:
            await _retry(lambda: ensure_topics(self.settings), stop, "create topics")
        producer = await self._start_producer(stop)
        consumer = AIOKafkaConsumer(
            *self.settings.input_topics,
            group_id=self.settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset=self.settings.auto_offset_reset,
            max_poll_records=self.settings.batch_max_records,
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
            isolation_level="read_committed" if self._transactional else "read_uncommitted",
            **self.settings.kafka_common(),
        )
        consumer.subscribe(self.settings.input_topics, listener=_Listener(self))
        try:
            if stop.is_set():
                return
            await _retry(consumer.start, stop, "connect consumer")
            await self._loop(consumer, producer, stop)
        finally:
            self.stats.ready = False
            await _bounded(consumer.stop(), self.settings.shutdown_timeout_s)
            await _bounded(producer.stop(), self.settings.shutdown_timeout_s)

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
            tid = f"{self.settings.group_id}-screener-{self.worker_index}"
            producer = AIOKafkaProducer(transactional_id=tid, **options)
            try:
                await _retry(producer.start, stop, "start transactional producer", attempts=3)
            except KafkaError as exc:
                await _bounded(producer.stop(), 5)
                raise TransactionsUnsupported(
                    "exactly-once needs a broker with transactions (Apache Kafka); "
                    f"this one refused InitProducerId: {exc}"
                ) from exc
            return producer
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
        finally:
            stopping.cancel()

    # -- one batch -----------------------------------------------------------------------------

    async def _process(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
        records: list[Record], stop: asyncio.Event,
    ) -> None:  # fmt: skip
        started = time.perf_counter()
        screened = screen_records(self.engine, records, self.settings)
        if self._transactional:
            await self._publish_transaction(producer, screened)
        else:
            await self._publish(producer, screened.outgoing, stop)
            try:
                await consumer.commit(screened.offsets)
                self.stats.commits += 1
            except KafkaError as exc:  # rebalanced away: the new owner re-reads (duplicates ok)
                self.stats.commit_failures += 1
                log.warning("commit failed: %s", exc)
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
            futures = [
                await producer.send(o.topic, o.value, key=o.key, headers=o.headers) for o in pending
            ]
            results = await asyncio.gather(*futures, return_exceptions=True)
            pending = [o for o, r in zip(pending, results, strict=True) if isinstance(r, Exception)]
            if pending:
                self.stats.produce_retries += len(pending)
                log.warning("%d records not acknowledged; retrying in %.1fs", len(pending), delay)
                if stop.is_set():
                    raise RuntimeError("shutting down with unacknowledged output; not committing")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _publish_transaction(self, producer: AIOKafkaProducer, screened: Screened) -> None:
        async with producer.transaction():
            for o in screened.outgoing:
                await producer.send(o.topic, o.value, key=o.key, headers=o.headers)
            await producer.send_offsets_to_transaction(screened.offsets, self.settings.group_id)
        self.stats.commits += 1

    def _account(self, screened: Screened, records: list[Record]) -> None:
        s = self.stats
        s.consumed += len(records)
        s.batches += 1
        s.dlq += screened.errors
        for verdict in screened.verdicts:
            if verdict.flagged:
                s.flagged += 1
                s.by_category[verdict.category or "?"] += 1
                s.latest.append(verdict)
        del s.latest[:-20]


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
