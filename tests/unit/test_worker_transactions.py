"""Exactly-once delivery: what a failed transaction does (fakes for the Kafka clients).

A committed batch moves the worker on; an aborted one commits nothing, is rewound, and the
batch's partitions seek back so it is read again; a fenced producer, or one in aiokafka's fatal
state (which refuses the abort), is replaced under the same id.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from screener.engine import Engine
from screener.kafka import ConsumerRecord, KafkaError, ProducerFenced, TopicPartition
from screener.kafka.errors import IllegalStateError
from screener.pipeline.delivery import Health
from screener.pipeline.settings import Settings
from screener.pipeline.transactional import Transactional, WorkerFenced, transactional_id
from screener.pipeline.transform import Batch, screen_records
from screener.pipeline.worker import Stats

IN = "events"
SETTINGS = Settings(guarantee="exactly-once", group_id="g", input_topics=[IN])


class FakeProducer:
    def __init__(self, *, fail: str | None = None, fatal: bool = False):
        self.fail = fail
        self.fatal = fatal  # aiokafka's fatal state: the abort is refused
        self.calls: list[str] = []
        self.sent: list[str] = []

    def _maybe(self, step: str) -> None:
        self.calls.append(step)
        if self.fail == step:
            raise ProducerFenced() if step == "commit_fenced" else KafkaError(step)
        if step == "abort" and self.fatal:
            raise IllegalStateError("invalid state transition")

    async def begin_transaction(self) -> None:
        self._maybe("begin")

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[None]:
        self.sent.append(topic)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail == "delivery":
            future.set_exception(KafkaError("delivery timed out"))
        else:
            future.set_result(None)
        return future

    async def send_offsets_to_transaction(self, offsets: Any, group_id: str) -> None:
        self._maybe("offsets")

    async def commit_transaction(self) -> None:
        self.calls.append("commit")
        if self.fail == "commit_fenced":
            raise ProducerFenced()

    async def abort_transaction(self) -> None:
        self._maybe("abort")

    async def stop(self) -> None:
        self.calls.append("stop")


class FakeConsumer:
    def __init__(self, committed: dict[TopicPartition, int]):
        self.committed_offsets = committed
        self.seeks: dict[TopicPartition, int] = {}

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(IN, p) for p in range(3)}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offsets.get(tp)


def _records() -> list[ConsumerRecord[bytes, bytes]]:
    """Partition 0 at offsets 10-12, partition 1 at 40-41; one event is a violation."""
    out = []
    for partition, offsets in ((0, range(10, 13)), (1, range(40, 42))):
        for offset in offsets:
            text = "约炮加微信 abc123" if offset == 11 else "今天天气不错"
            value = orjson.dumps({"kind": "chat", "id": f"e{offset}", "ts": 0,
                                  "user": {"id": "u"}, "text": text})  # fmt: skip
            out.append(ConsumerRecord(IN, partition, offset, 0, 0, b"u", value, None,
                                      len(value), 1, []))  # fmt: skip
    return out


class Recorder:
    """The worker's side of a delivery: which batches finished, which were rewound."""

    def __init__(self) -> None:
        self.committed: list[bool] = []
        self.rewinds = 0

    def finished(self, batch: Batch, committed: bool, acked_at: float) -> None:
        self.committed.append(committed)

    def rewound(self, batch: Batch) -> None:
        self.rewinds += 1


class Harness:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.stats = Stats()
        self.outcome = Recorder()
        self.delivery = Transactional(SETTINGS, self.stats, Health())


async def _run(h: Harness, producer: FakeProducer, consumer: FakeConsumer) -> bool:
    h.delivery.producer = producer
    records = _records()
    batch = screen_records(h.engine, records, SETTINGS)
    before = len(h.outcome.committed)
    await h.delivery.deliver(
        consumer,  # type: ignore[arg-type]
        batch,
        records,
        asyncio.Event(),
        h.outcome,
    )
    return h.outcome.committed[before:] == [True]


FIRST = {TopicPartition(IN, 0): 10, TopicPartition(IN, 1): 40}


async def test_a_committed_transaction_carries_the_output_and_the_offsets(engine: Engine) -> None:
    h, producer, consumer = Harness(engine), FakeProducer(), FakeConsumer({})
    assert await _run(h, producer, consumer)
    assert producer.calls == ["begin", "offsets", "commit"]
    assert SETTINGS.review_topic in producer.sent
    assert h.stats.aborts == 0 and h.outcome.rewinds == 0
    assert h.delivery._txn_offsets == {TopicPartition(IN, 0): 13, TopicPartition(IN, 1): 42}
    assert consumer.seeks == {}


@pytest.mark.parametrize("fail", ["delivery", "offsets"])
async def test_an_abortable_failure_aborts_commits_nothing_and_rereads_the_batch(
    engine: Engine, fail: str
) -> None:
    h, producer, consumer = Harness(engine), FakeProducer(fail=fail), FakeConsumer({})
    assert not await _run(h, producer, consumer)
    assert "commit" not in producer.calls and producer.calls[-1] == "abort"
    assert h.outcome.committed == [] and h.stats.aborts == 1 and h.outcome.rewinds == 1
    assert h.delivery._txn_offsets == {}
    assert consumer.seeks == FIRST  # back to the batch's first records: read and screened again


@pytest.mark.parametrize("producer", [FakeProducer(fail="commit_fenced"),
                                      FakeProducer(fail="offsets", fatal=True)])  # fmt: skip
async def test_a_lost_producer_is_replaced_and_the_batch_reread_from_committed_offsets(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, producer: FakeProducer
) -> None:
    h = Harness(engine)
    replacement = FakeProducer()

    async def new_producer(stop: asyncio.Event) -> FakeProducer:
        return replacement

    monkeypatch.setattr(h.delivery, "_new_producer", new_producer)
    # what the broker says was committed once the new producer settled the old transaction
    consumer = FakeConsumer({TopicPartition(IN, 0): 10})
    assert not await _run(h, producer, consumer)
    assert producer.calls[-1] == "stop"
    # fenced: no abort is tried; fatal: the abort is tried and refused
    assert ("abort" in producer.calls) == producer.fatal
    assert h.delivery.producer is replacement  # type: ignore[comparison-overlap]
    assert h.delivery.fenced == 1 and h.outcome.committed == []
    assert consumer.seeks == {TopicPartition(IN, 0): 10, TopicPartition(IN, 1): 40}


async def test_a_worker_fenced_again_and_again_gives_up(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(engine)

    async def new_producer(stop: asyncio.Event) -> FakeProducer:
        return FakeProducer(fail="commit_fenced")

    monkeypatch.setattr(h.delivery, "_new_producer", new_producer)
    for _ in range(3):
        assert not await _run(h, FakeProducer(fail="commit_fenced"), FakeConsumer({}))
    with pytest.raises(WorkerFenced, match="another live worker"):
        await _run(h, FakeProducer(fail="commit_fenced"), FakeConsumer({}))


def test_transactional_ids_are_static_per_worker_slot() -> None:
    assert transactional_id(SETTINGS, 0) == "g-screener-0"
    assert transactional_id(SETTINGS, 3) == "g-screener-3"
    other = SETTINGS.model_copy(update={"transactional_id_prefix": "pod-7"})
    assert transactional_id(other, 1) == "pod-7-1"
