"""The brokers behave like Kafka as far as the service relies on it.

Every wait is a poll bounded by a deadline (``asyncio.timeout``), never a sleep.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

import pytest

from screener.brokers import ApacheKafka, BrokerProcess, EmbeddedBroker
from screener.brokers.kafka import KAFKA_VERSION, pom_path
from screener.kafka import (
    Consumer,
    ConsumerRecord,
    KafkaError,
    TopicPartition,
    make_consumer,
    make_producer,
)

CreateTopic = Callable[..., Awaitable[str]]  # the topic_factory fixture (conftest.py)
N_RECORDS = 2_000
N_KEYS = 37
DEADLINE = 90.0


def _expected(n: int, tag: str = "") -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """(key, value, headers) triples; values carry a per-key sequence number."""
    seq: dict[int, int] = defaultdict(int)
    out = []
    for i in range(n):
        k = i % N_KEYS
        s = seq[k]
        seq[k] += 1
        headers = [("seq", str(s).encode()), ("origin", b"it"), ("idx", str(i).encode())]
        out.append((f"key-{k}".encode(), f"{tag}key-{k}:{s}".encode(), headers))
    return out


async def _produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes, bytes, list[tuple[str, bytes]]]],
    **config: object,
) -> None:
    producer = make_producer({"bootstrap_servers": bootstrap}, linger_ms=5, **config)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _consumer(bootstrap: str, topic: str, group: str) -> Consumer:
    return make_consumer(
        {"bootstrap_servers": bootstrap},
        topic,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def _consume(consumer: Consumer, n: int) -> list[ConsumerRecord[bytes, bytes]]:
    """Fetch until ``n`` records arrived, committing after every batch (manual commit)."""
    got: list[ConsumerRecord[bytes, bytes]] = []
    while len(got) < n:
        batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            got.extend(records)
        if batches:
            await consumer.commit()
    return got


def _check_roundtrip(
    got: Sequence[ConsumerRecord[bytes, bytes]],
    sent: Sequence[tuple[bytes, bytes, list[tuple[str, bytes]]]],
) -> None:
    assert len(got) == len(sent)
    want = {v: (k, h) for k, v, h in sent}
    seen: dict[bytes, list[int]] = defaultdict(list)
    partition_of: dict[bytes, set[int]] = defaultdict(set)
    for rec in got:
        assert rec.key is not None and rec.value is not None
        key, headers = want.pop(rec.value)  # KeyError = unexpected or duplicate record
        assert rec.key == key
        assert [(n, bytes(b)) for n, b in rec.headers] == headers
        seen[rec.key].append(int(rec.value.rsplit(b":", 1)[1]))
        partition_of[rec.key].add(rec.partition)
    assert not want, f"{len(want)} records never arrived"
    for key, seqs in seen.items():
        assert seqs == list(range(len(seqs))), f"order broken for {key!r}"
        assert len(partition_of[key]) == 1, f"{key!r} spread over partitions"


async def test_keyed_roundtrip_with_headers_and_manual_commit(
    broker: BrokerProcess, topic_factory: CreateTopic
) -> None:
    bootstrap = broker.bootstrap_servers
    async with asyncio.timeout(DEADLINE):
        topic = await topic_factory(bootstrap, 3)
        sent = _expected(N_RECORDS)
        await _produce(bootstrap, topic, sent, acks="all")
        consumer = _consumer(bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}")
        await consumer.start()
        try:
            got = await _consume(consumer, N_RECORDS)
            tps = [TopicPartition(topic, p) for p in range(3)]
            highwater = {tp: consumer.highwater(tp) for tp in tps}
            committed = {tp: await consumer.committed(tp) for tp in tps}
        finally:
            await consumer.stop()
    _check_roundtrip(got, sent)
    assert len({r.partition for r in got}) == 3
    assert committed == highwater
    assert sum(highwater.values()) == N_RECORDS


async def test_end_offsets(broker: BrokerProcess, topic_factory: CreateTopic) -> None:
    """ListOffsets(latest) after one 100-record batch: Kafka says 100, Tansu says 1.

    Tansu 0.6.0 answers with the last batch's base offset + 1, so lag computed from
    ``end_offsets()`` is wrong there; the fetch high-watermark (``highwater()``) is right.
    """
    bootstrap = broker.bootstrap_servers
    async with asyncio.timeout(DEADLINE):
        topic = await topic_factory(bootstrap, 1)
        producer = make_producer({"bootstrap_servers": bootstrap})
        await producer.start()
        try:
            batch = producer.create_batch()
            for i in range(100):
                assert batch.append(key=b"k", value=b"v%d" % i, timestamp=None) is not None
            await (await producer.send_batch(batch, topic, partition=0))
        finally:
            await producer.stop()
        consumer = make_consumer({"bootstrap_servers": bootstrap}, auto_offset_reset="earliest")
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            got: list[ConsumerRecord[bytes, bytes]] = []
            while len(got) < 100:
                got.extend((await consumer.getmany(tp, timeout_ms=500)).get(tp, []))
            end = (await consumer.end_offsets([tp]))[tp]
            assert consumer.highwater(tp) == 100
        finally:
            await consumer.stop()
    assert [r.offset for r in got] == list(range(100))
    assert end == (1 if isinstance(broker, EmbeddedBroker) else 100)


async def test_kafka_idempotent_producer(
    apache_kafka: ApacheKafka, topic_factory: CreateTopic
) -> None:
    bootstrap = apache_kafka.bootstrap_servers
    async with asyncio.timeout(DEADLINE):
        topic = await topic_factory(bootstrap, 3)
        sent = _expected(500)
        await _produce(bootstrap, topic, sent, enable_idempotence=True)
        consumer = _consumer(bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}")
        await consumer.start()
        try:
            got = await _consume(consumer, len(sent))
        finally:
            await consumer.stop()
    _check_roundtrip(got, sent)


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
async def test_kafka_restart_keeps_committed_offsets(
    apache_kafka: ApacheKafka, topic_factory: CreateTopic, hard: bool
) -> None:
    bootstrap = apache_kafka.bootstrap_servers
    group = f"g-{uuid.uuid4().hex[:8]}"
    async with asyncio.timeout(DEADLINE):
        topic = await topic_factory(bootstrap, 3)
        tps = [TopicPartition(topic, p) for p in range(3)]
        before = _expected(300, "before-")
        await _produce(bootstrap, topic, before, acks="all")
        consumer = _consumer(bootstrap, topic, group)
        await consumer.start()
        try:
            _check_roundtrip(await _consume(consumer, len(before)), before)
            committed = {tp: await consumer.committed(tp) for tp in tps}
        finally:
            await consumer.stop()

    await asyncio.to_thread(apache_kafka.restart, hard=hard)
    assert apache_kafka.bootstrap_servers == bootstrap

    async with asyncio.timeout(DEADLINE):
        after = _expected(30, "after-")
        await _produce(bootstrap, topic, after, acks="all")
        consumer = _consumer(bootstrap, topic, group)
        await consumer.start()
        try:
            assert {tp: await consumer.committed(tp) for tp in tps} == committed
            # Lost offsets would replay "before-" records first (earliest reset).
            _check_roundtrip(await _consume(consumer, len(after)), after)
        finally:
            await consumer.stop()


async def test_tansu_rejects_idempotent_producer(tansu: EmbeddedBroker) -> None:
    """Tansu has no InitProducerId. If this starts failing, Tansu gained it."""
    options = {"bootstrap_servers": tansu.bootstrap_servers}
    producer = make_producer(options, enable_idempotence=True)
    try:
        async with asyncio.timeout(30):
            with pytest.raises(KafkaError):
                await producer.start()
    finally:
        await producer.stop()


def test_pom_matches_kafka_version() -> None:
    pom = pom_path().read_text()
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert match is not None and match.group(1) == KAFKA_VERSION
