"""Exactly-once worker: what a failed transaction does (fakes for the Kafka clients).

A committed batch moves the worker on; an aborted one commits nothing and seeks the batch's
partitions back so it is read again; a fenced producer is replaced under the same id.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaError, KafkaTimeoutError, ProducerFenced
from aiokafka.structs import ConsumerRecord, TopicPartition

from screener.engine import Engine
from screener.pipeline.settings import Settings
from screener.pipeline.worker import Worker, WorkerFenced, screen_records, transactional_id

IN = "events"
SETTINGS = Settings(guarantee="exactly-once", group_id="g", input_topics=[IN])


class FakeProducer:
    def __init__(self, *, fail: str | None = None, fatal: bool = False):
        self.fail = fail
        self.calls: list[str] = []
        self.sent: list[str] = []
        self._txn_manager = SimpleNamespace(is_fatal_error=lambda: fatal)

    def _maybe(self, step: str) -> None:
        self.calls.append(step)
        if self.fail == step:
            raise ProducerFenced() if step == "commit_fenced" else KafkaError(step)

    async def begin_transaction(self) -> None:
        self._maybe("begin")

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[None]:
        self.sent.append(topic)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail == "delivery":
            future.set_exception(KafkaTimeoutError())
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


async def _run(worker: Worker, producer: FakeProducer, consumer: FakeConsumer) -> bool:
    worker._producer = producer  # type: ignore[assignment]
    records = _records()
    screened = screen_records(worker.engine, records, worker.settings)
    return await worker._publish_transaction(
        consumer,  # type: ignore[arg-type]
        screened, records, asyncio.Event(),
    )


FIRST = {TopicPartition(IN, 0): 10, TopicPartition(IN, 1): 40}


async def test_a_committed_transaction_carries_the_output_and_the_offsets(engine: Engine) -> None:
    worker, producer, consumer = Worker(SETTINGS, engine), FakeProducer(), FakeConsumer({})
    assert await _run(worker, producer, consumer)
    assert producer.calls == ["begin", "offsets", "commit"]
    assert SETTINGS.review_topic in producer.sent
    assert worker.stats.commits == 1 and worker.stats.aborts == 0
    assert worker._txn_offsets == {TopicPartition(IN, 0): 13, TopicPartition(IN, 1): 42}
    assert consumer.seeks == {}


@pytest.mark.parametrize("fail", ["delivery", "offsets"])
async def test_an_abortable_failure_aborts_commits_nothing_and_rereads_the_batch(
    engine: Engine, fail: str
) -> None:
    worker, producer, consumer = Worker(SETTINGS, engine), FakeProducer(fail=fail), FakeConsumer({})
    assert not await _run(worker, producer, consumer)
    assert "commit" not in producer.calls and producer.calls[-1] == "abort"
    assert worker.stats.commits == 0 and worker.stats.aborts == 1
    assert worker._txn_offsets == {}
    assert consumer.seeks == FIRST  # back to the batch's first records: read and screened again


async def test_a_fenced_producer_is_replaced_and_the_batch_reread_from_committed_offsets(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = Worker(SETTINGS, engine)
    replacement = FakeProducer()

    async def start_producer(stop: asyncio.Event) -> FakeProducer:
        return replacement

    monkeypatch.setattr(worker, "_start_producer", start_producer)
    # what the broker says was committed once the new producer settled the old transaction
    consumer = FakeConsumer({TopicPartition(IN, 0): 10})
    fenced = FakeProducer(fail="commit_fenced")
    assert not await _run(worker, fenced, consumer)
    assert "abort" not in fenced.calls and fenced.calls[-1] == "stop"
    assert worker._producer is replacement  # type: ignore[comparison-overlap]
    assert worker.stats.fenced == 1 and worker.stats.commits == 0
    assert consumer.seeks == {TopicPartition(IN, 0): 10, TopicPartition(IN, 1): 40}


async def test_a_worker_fenced_again_and_again_gives_up(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = Worker(SETTINGS, engine)

    async def start_producer(stop: asyncio.Event) -> FakeProducer:
        return FakeProducer(fail="commit_fenced")

    monkeypatch.setattr(worker, "_start_producer", start_producer)
    for _ in range(3):
        assert not await _run(worker, FakeProducer(fail="commit_fenced"), FakeConsumer({}))
    with pytest.raises(WorkerFenced, match="another live worker"):
        await _run(worker, FakeProducer(fail="commit_fenced"), FakeConsumer({}))


def test_transactional_ids_are_static_per_worker_slot() -> None:
    assert transactional_id(SETTINGS, 0) == "g-screener-0"
    assert transactional_id(SETTINGS, 3) == "g-screener-3"
    other = SETTINGS.model_copy(update={"transactional_id_prefix": "pod-7"})
    assert transactional_id(other, 1) == "pod-7-1"
